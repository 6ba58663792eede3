"""AsyncClient: the coordsvc SDK on asyncio, with kazoo's method names.

The client is a thin layer of ops over three parts: the ``Session`` (the
stream, xids, reconnects), the ``WatchRegistry`` (which callbacks an event
wakes) and the ``Dispatcher`` (the one task that runs them). Ordering
guarantee: when a call returns, the callbacks of every watch event the server
sent before that call's reply have finished, so a callback always runs before
the caller can see data reflecting the change (inside a callback the wait is
skipped, as it could never end).

A call in flight when its connection dies is not failed: the session sends
it again on its next connection with the same xid, and the servers answer a
write they already applied with its first result, so no user code is needed
to get a write applied exactly once across a reconnect or a leader change.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from coordsvc.client import codec
from coordsvc.client.args import (
    check_create_flags,
    check_path,
    check_value,
    check_version,
    check_watch,
)
from coordsvc.client.connection import Connection
from coordsvc.client.errors import NodeExistsError, NoNodeError, NotEmptyError
from coordsvc.client.hosts import HostRing
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.rewatch import rearm_ops
from coordsvc.client.session import ReplyHook, Session
from coordsvc.client.states import KazooState, SessionState, StateTracker
from coordsvc.client.tls import StrPath, load_client_tls
from coordsvc.client.transaction import Transaction
from coordsvc.client.watch_stream import WatchStream
from coordsvc.client.watches import (
    CallbackRunner,
    Dispatcher,
    WatchedEvent,
    WatchKind,
    WatchRegistry,
    event_from_pb,
    run_callback,
)

from coordsvc.tree.znode import Stat
from coordsvc.v1 import coordination_pb2 as pb

__all__ = ["AsyncClient", "WatchHandle"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Watcher = Callable[[WatchedEvent], Any]


@dataclass(frozen=True, slots=True)
class WatchHandle:
    """A persistent watch registered by ``add_watch``; pass it to ``remove_watch``."""

    path: str
    recursive: bool
    fn: Watcher


def _parent(path: str) -> str:
    i = path.rfind("/")
    return "/" if i <= 0 else path[:i]


def _join(parent: str, name: str) -> str:
    return parent + name if parent == "/" else f"{parent}/{name}"


class AsyncClient:
    """A coordsvc session and the znode operations on it (see module doc).

    ``session_timeout`` and ``connect_timeout`` are seconds; ``retry`` is the
    policy for reads and ``retry()`` (default: retry until the session
    timeout); ``rng``, ``clock`` and ``sleep`` are injectable for tests;
    ``client_id`` resumes an existing session (its ``client_id`` property).
    ``use_ssl`` connects over TLS, trusting the CA in the PEM file ``ca``
    (None: the system roots) and, for mutual TLS, presenting ``certfile``
    with ``keyfile``; the files are read here, and giving any of them without
    ``use_ssl=True`` is a ValueError.
    """

    def __init__(
        self,
        hosts: str | Sequence[str] = "127.0.0.1:2181",
        session_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float | None = None,
        rng: random.Random | None = None,
        *,
        client_id: tuple[int, bytes] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        callback_runner: CallbackRunner | None = None,
        use_ssl: bool = False,
        ca: StrPath | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
    ) -> None:
        if session_timeout <= 0:
            raise ValueError("session_timeout must be positive (seconds)")
        self._tls = load_client_tls(use_ssl, ca, certfile, keyfile)
        self._rng = rng or random.Random()
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        self._hosts = HostRing(hosts, self._rng)
        self._session_timeout = float(session_timeout)
        self._retry = retry or RetryPolicy(
            max_tries=None,
            delay=0.05,
            max_delay=1.0,
            max_jitter=0.05,
            deadline=self._session_timeout,
            rng=self._rng,
            sleep=self._sleep,
            clock=self._clock,
        )
        self._backoff = RetryPolicy(
            max_tries=None,
            delay=0.05,
            max_delay=1.0,
            max_jitter=0.05,
            rng=self._rng,
            sleep=self._sleep,
        )
        self._states = StateTracker()
        self._watches = WatchRegistry()
        self._dispatcher = Dispatcher(callback_runner or run_callback)
        self._session = Session(
            self._hosts,
            self._states,
            timeout=self._session_timeout,
            connect_timeout=connect_timeout or max(self._session_timeout / 3, 0.5),
            on_event=self._on_event,
            event_mark=lambda: self._dispatcher.received,
            reconnect=self._backoff,
            clock=self._clock,
            sleep=self._sleep,
            on_resumed=self._on_resumed,
            client_id=client_id,
            connection_factory=functools.partial(Connection, tls=self._tls),
        )
        self._resumes = 0  # counts resumed connections: re-arming stays on its own
        self._states.observe(self._on_state)

    # ---- lifecycle --------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> None:
        """Open (or resume) the session; raise OperationTimeoutError after ``timeout``."""
        self._dispatcher.start()
        await self._session.start(timeout)

    async def stop(self) -> None:
        """Close the session (its ephemerals vanish at once) and disconnect.

        While SUSPENDED the close cannot reach a server; the session then ends
        by expiring on the server, which deletes its ephemerals a timeout later.
        """
        await self._session.close(timeout=self._session.timeout)
        await self._dispatcher.stop(timeout=self._session.timeout)

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """(session id, password) of the current session, or None before one exists."""
        if not self._session.session_id:
            return None
        return self._session.session_id, self._session.password

    @property
    def state(self) -> KazooState:
        """CONNECTED, SUSPENDED or LOST."""
        return self._states.user_state

    @property
    def session_state(self) -> SessionState:
        """The SDK's finer state (CONNECTING, CONNECTED, SUSPENDED, EXPIRED, CLOSED)."""
        return self._states.state

    @property
    def connected(self) -> bool:
        return self._states.state is SessionState.CONNECTED

    @property
    def last_zxid(self) -> int:
        """The newest zxid seen in any reply, event or pong of this client."""
        return self._session.last_zxid

    @property
    def server_id(self) -> int | None:
        """The id of the server the session is (or was last) connected to."""
        return self._session.server_id

    @property
    def session_timeout(self) -> float:
        """The negotiated session timeout in seconds (the requested one before)."""
        return self._session.timeout

    # ---- state listeners --------------------------------------------------

    def add_listener(self, fn: Callable[[KazooState], Any]) -> None:
        """Call ``fn(state)`` on each CONNECTED/SUSPENDED/LOST change.

        ``fn`` runs on the event loop and must not block; returning True
        removes it; its exceptions are logged and dropped.
        """
        self._states.add_listener(fn)

    def remove_listener(self, fn: Callable[[KazooState], Any]) -> None:
        self._states.remove_listener(fn)

    async def states(self) -> AsyncIterator[KazooState]:
        """The current state, then every change, until the client is stopped."""
        queue: asyncio.Queue[tuple[SessionState, KazooState | None]] = asyncio.Queue()
        unobserve = self._states.observe(lambda new, user: queue.put_nowait((new, user)))
        try:
            yield self._states.user_state
            while True:
                new, user = await queue.get()
                if user is not None:
                    yield user
                if new is SessionState.CLOSED:
                    return
        finally:
            unobserve()

    # ---- znode operations -------------------------------------------------

    async def create(
        self,
        path: str,
        value: bytes = b"",
        ephemeral: bool = False,
        sequence: bool = False,
        makepath: bool = False,
        container: bool = False,
        ttl: int | None = None,
    ) -> str:
        """Create a node and return its actual path (with the sequence suffix).

        ``makepath`` first creates missing parents as persistent nodes; ``ttl``
        (milliseconds) makes a TTL node. Like every write, it is applied once:
        if its connection dies it is sent again with the same xid and the
        server answers with the first result.
        """
        check_path(path)
        value = check_value(value)
        check_create_flags(ephemeral, container, ttl)
        op = codec.create(
            path, value, ephemeral=ephemeral, sequence=sequence, container=container, ttl=ttl
        )
        try:
            resp = await self._call(op)
        except NoNodeError:
            if not makepath or _parent(path) == "/":
                raise
            await self.ensure_path(_parent(path))
            resp = await self._call(op)
        return resp.create.path

    async def ensure_path(self, path: str) -> None:
        """Create ``path`` and its missing ancestors as persistent nodes."""
        check_path(path)
        if path == "/":
            return
        try:
            await self._call(
                codec.create(path, b"", ephemeral=False, sequence=False, container=False, ttl=None)
            )
        except NodeExistsError:
            return
        except NoNodeError:
            await self.ensure_path(_parent(path))
            try:
                await self._call(
                    codec.create(
                        path, b"", ephemeral=False, sequence=False, container=False, ttl=None
                    )
                )
            except NodeExistsError:
                pass

    async def exists(
        self, path: str, watch: Watcher | None = None, consistency: str = "linearizable"
    ) -> Stat | None:
        """The node's Stat, or None; ``watch`` fires once on its next change."""
        check_path(path)
        check_watch(watch)
        req = pb.ExistsRequest(
            path=path, watch=watch is not None, consistency=codec.consistency_pb(consistency)
        )
        resp = await self._read(("exists", req), self._one_shot(None, path, watch))
        return codec.stat_from_pb(resp.exists.stat) if resp.exists.HasField("stat") else None

    async def get(
        self, path: str, watch: Watcher | None = None, consistency: str = "linearizable"
    ) -> tuple[bytes, Stat]:
        """The node's data and Stat; ``watch`` fires once on its next change."""
        check_path(path)
        check_watch(watch)
        req = pb.GetDataRequest(
            path=path, watch=watch is not None, consistency=codec.consistency_pb(consistency)
        )
        resp = await self._read(("get_data", req), self._one_shot(WatchKind.DATA, path, watch))
        return resp.get_data.data, codec.stat_from_pb(resp.get_data.stat)

    async def set(self, path: str, value: bytes, version: int = -1) -> Stat:
        """Replace the node's data (if at ``version``; -1: any) and return its new Stat."""
        check_path(path)
        resp = await self._call(codec.set_data(path, check_value(value), check_version(version)))
        return codec.stat_from_pb(resp.set_data.stat)

    async def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        """Delete the node (if at ``version``); ``recursive`` removes children first.

        A recursive delete is done by the client, bottom up, one node at a
        time: it is not atomic, and it ignores ``version``.
        """
        check_path(path)
        check_version(version)
        if recursive:
            await self._delete_tree(path, top=True)
        else:
            await self._call(codec.delete(path, version))
        return True

    async def _delete_tree(self, path: str, top: bool) -> None:
        for _ in range(10):  # children may keep appearing; give up eventually
            try:
                children = await self.get_children(path)
            except NoNodeError:
                if top:
                    raise
                return
            for name in children:
                await self._delete_tree(_join(path, name), top=False)
            if path == "/":
                return
            try:
                await self._call(codec.delete(path, -1))
                return
            except NoNodeError:
                return
            except NotEmptyError:
                continue
        raise NotEmptyError(f"{path} kept gaining children during a recursive delete", path)

    async def get_children(
        self,
        path: str,
        watch: Watcher | None = None,
        include_data: bool = False,
        consistency: str = "linearizable",
    ) -> list[str] | tuple[list[str], Stat]:
        """The sorted child names; with ``include_data``, ``(names, parent Stat)``.

        ``include_data`` follows kazoo: the Stat is the parent's. ``watch``
        fires once when a child is added or removed, or the node is deleted.
        """
        check_path(path)
        check_watch(watch)
        req = pb.GetChildrenRequest(
            path=path, watch=watch is not None, consistency=codec.consistency_pb(consistency)
        )
        resp = await self._read(("get_children", req), self._one_shot(WatchKind.CHILD, path, watch))
        names = list(resp.get_children.names)
        if include_data:
            return names, codec.stat_from_pb(resp.get_children.stat)
        return names

    async def sync(self, path: str) -> str:
        """Wait until this client's server has every write committed before now."""
        check_path(path)
        resp = await self._read(("sync", pb.SyncRequest(path=path)))
        return resp.sync.path or path

    def transaction(self) -> Transaction:
        """A new transaction: add ops, then ``await commit()``."""
        return Transaction(self._multi)

    async def _multi(self, ops: list[codec.OpMessage]) -> list[Any]:
        req = pb.MultiRequest(ops=[codec.multi_op(op) for op in ops])
        resp = await self._call(("multi", req))
        return [codec.op_result(r) for r in resp.multi.results]

    async def retry(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` under this client's retry policy."""
        return await self._retry(fn, *args, **kwargs)

    # ---- persistent watches and the watch stream ----------------------------

    async def add_watch(self, path: str, fn: Watcher, recursive: bool = False) -> WatchHandle:
        """Call ``fn(event)`` on every change at ``path`` (and below, if recursive).

        The watch stays until ``remove_watch`` or the end of the session.
        Recursive watches report CREATED/DELETED/CHANGED of every descendant
        but no CHILD events, as in ZooKeeper.
        """
        check_path(path)
        if not callable(fn):
            raise TypeError("fn must be callable")
        kind = WatchKind.RECURSIVE if recursive else WatchKind.PERSISTENT
        if self._watches.has(kind, path):
            self._watches.add(kind, path, fn)
        else:
            mode = pb.WATCH_MODE_PERSISTENT_RECURSIVE if recursive else pb.WATCH_MODE_PERSISTENT
            await self._call(
                ("add_watch", pb.AddWatchRequest(path=path, mode=mode)),
                lambda resp: None if resp.HasField("error") else self._watches.add(kind, path, fn),
            )
        return WatchHandle(path, recursive, fn)

    async def remove_watch(self, handle: WatchHandle) -> None:
        """Stop a persistent watch; the server forgets it when its last callback goes."""
        kind = WatchKind.RECURSIVE if handle.recursive else WatchKind.PERSISTENT
        if not self._watches.has(kind, handle.path):
            return
        if self._watches.remove(kind, handle.path, handle.fn):
            wtype = (
                pb.WATCHER_TYPE_PERSISTENT_RECURSIVE
                if handle.recursive
                else pb.WATCHER_TYPE_PERSISTENT
            )
            await self._call(
                ("remove_watches", pb.RemoveWatchesRequest(path=handle.path, type=wtype))
            )

    def watch_stream(
        self, path: str, recursive: bool = True, start_zxid: int | None = None
    ) -> WatchStream:
        """Every change at ``path`` (and below) from the Watch RPC, resumable.

        Needs no session. Events come after ``start_zxid``; None means after
        this client's ``last_zxid``, so no change this client could have
        observed is missed even though the stream opens lazily (a client that
        has seen nothing yet starts from the server's present). After a broken
        stream it resumes without gaps or repeats.
        """
        check_path(path)
        if start_zxid is None and self.last_zxid:
            start_zxid = self.last_zxid
        return WatchStream(
            self._hosts,
            path,
            recursive=recursive,
            start_zxid=start_zxid,
            backoff=self._backoff,
            search_timeout=self._session_timeout,
            tls=self._tls,
        )

    # ---- plumbing ---------------------------------------------------------

    async def _call(self, op: codec.OpMessage, on_reply: ReplyHook | None = None) -> pb.Response:
        """One request; raises its error once earlier events' callbacks have run."""
        resp, mark = await self._session.call(op, on_reply)
        await self._dispatcher.wait_done(mark)
        if resp.HasField("error"):
            raise codec.error_from_pb(resp.error)
        return resp

    async def _read(self, op: codec.OpMessage, on_reply: ReplyHook | None = None) -> pb.Response:
        """A side-effect-free request, retried on transient errors."""
        return await self._retry(self._call, op, on_reply)

    def _one_shot(
        self, kind: WatchKind | None, path: str, watch: Watcher | None
    ) -> ReplyHook | None:
        """A reply hook registering ``watch`` if the server set it (kind None: by exists)."""
        if watch is None:
            return None

        def register(resp: pb.Response) -> None:
            if resp.HasField("error"):
                return  # no watch is set on a failed read
            found = kind
            if found is None:
                found = WatchKind.DATA if resp.exists.HasField("stat") else WatchKind.EXIST
            self._watches.add(found, path, watch)

        return register

    def _on_event(self, msg: pb.WatchEvent) -> None:
        """Reader side: route the event now, run its callbacks on the dispatcher."""
        event = event_from_pb(msg)
        if event is None:
            log.warning("unknown watch event type %r ignored", msg.type)
            return
        self._dispatcher.submit(self._watches.route(event), event)

    def _on_state(self, new: SessionState, _user: KazooState | None) -> None:
        if new in (SessionState.EXPIRED, SessionState.CLOSED):
            self._watches.clear()

    def _on_resumed(self, seen_zxid: int) -> None:
        """Re-arm every watch on the resumed connection, ahead of other requests."""
        self._resumes += 1
        for op, hook in rearm_ops(self._watches, seen_zxid, self._dispatcher.submit):
            self._rearm(op, hook, self._resumes, 0)

    def _rearm(self, op: codec.OpMessage, hook: ReplyHook | None, resume: int, tries: int) -> None:
        """Send one re-arming request; resend it while the server answers CONNECTION_LOSS.

        A server of an ensemble can accept the resume and then lose its leader
        before the re-arming read is answered: the connection stays up, so no
        later resume would re-arm the watch. Retried only on this connection.
        """
        if resume != self._resumes or not self.connected:
            return  # the connection changed: its own resume re-arms

        def done(fut: asyncio.Future[tuple[pb.Response, int]]) -> None:
            if fut.cancelled() or fut.exception() is not None:
                log.debug(
                    "re-arming a watch failed: %s",
                    fut.exception() if not fut.cancelled() else "cancelled",
                )
                return  # the connection died: the next resume re-arms
            resp = fut.result()[0]
            if resp.HasField("error") and resp.error.code == pb.CONNECTION_LOSS:
                delay = min(0.05 * 2**tries, 1.0)
                log.debug("re-arming a watch: %s; again in %.2fs", resp.error.message, delay)
                asyncio.get_running_loop().call_later(
                    delay, self._rearm, op, hook, resume, tries + 1
                )

        self._session.send_now(op, hook).add_done_callback(done)
