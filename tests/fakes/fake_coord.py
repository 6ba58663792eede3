"""FakeCoordClient: an in-memory znode tree behind the recipes' client Protocol.

``FakeServer`` holds one tree (Stat fields, sequence numbers from the
parent's cversion, ephemerals per session, multi) and hands out
``FakeCoordClient``s that share it. Watches use the SDK's own
``WatchRegistry`` and ``Dispatcher``, so routing (one-shot data/exist/child,
persistent, recursive) and the ordering guarantee (a call returns after the
callbacks of events it caused) are the SDK's.

Faults are scripted, never timed:

- ``client.script(op, after=True)``: the next ``op`` raises ConnectionLoss,
  after being applied (``after=True``: the create went through) or before;
- ``client.suspend()`` / ``client.resume()``: SUSPENDED (calls wait, events
  are held) and back to CONNECTED on the same session;
- ``client.expire()``: the server ends the session (its ephemerals go, other
  clients' watches fire), the client goes LOST; ``client.start()`` opens a
  new session;
- ``client.stop()``: a clean close.

Counters: ``client.calls[op]`` per operation and ``client.notifications``
(watch callbacks delivered); ``server.notifications`` sums them.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from coordsvc.client.aio import WatchHandle
from coordsvc.client.errors import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    CoordError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    SessionExpiredError,
)
from coordsvc.client.states import KazooState
from coordsvc.client.watches import Dispatcher, EventType, WatchedEvent, WatchKind, WatchRegistry

from coordsvc.tree.znode import Stat

__all__ = ["FakeServer", "FakeCoordClient", "FakeSyncClient"]

T = TypeVar("T")


@dataclass
class _Node:
    data: bytes = b""
    czxid: int = 0
    mzxid: int = 0
    pzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    cversion: int = 0
    ephemeral_owner: int = 0
    children: set[str] = field(default_factory=set)

    def stat(self) -> Stat:
        return Stat(
            czxid=self.czxid,
            mzxid=self.mzxid,
            pzxid=self.pzxid,
            ctime=self.ctime,
            mtime=self.mtime,
            version=self.version,
            cversion=self.cversion,
            ephemeral_owner=self.ephemeral_owner,
            data_length=len(self.data),
            num_children=len(self.children),
        )


def _parent(path: str) -> str:
    i = path.rfind("/")
    return "/" if i <= 0 else path[:i]


def _check_path(path: str) -> None:
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or (path != "/" and path.endswith("/"))
    ):
        raise CoordError(f"invalid path {path!r}", path)


class FakeServer:
    """One in-memory tree shared by its clients."""

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {"/": _Node()}
        self.zxid = 0
        self.clients: list[FakeCoordClient] = []
        self._sessions = 0x100

    def client(self) -> FakeCoordClient:
        """A new, not yet started client."""
        c = FakeCoordClient(self)
        self.clients.append(c)
        return c

    @property
    def notifications(self) -> int:
        return sum(c.notifications for c in self.clients)

    def new_session(self) -> int:
        self._sessions += 1
        return self._sessions

    # ---- tree operations (synchronous; they return the events they cause) ----------

    def create(
        self, session: int, path: str, value: bytes, ephemeral: bool, sequence: bool
    ) -> tuple[str, list[tuple[EventType, str]]]:
        _check_path(path)
        parent_path = _parent(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            raise NoNodeError(f"parent of {path} does not exist", path)
        if parent.ephemeral_owner:
            raise NoChildrenForEphemeralsError(f"{parent_path} is ephemeral", path)
        if sequence:
            path = f"{path}{parent.cversion:010d}"
        if path in self.nodes:
            raise NodeExistsError(f"{path} exists", path)
        self.zxid += 1
        now = int(time.time() * 1000)
        self.nodes[path] = _Node(
            data=bytes(value),
            czxid=self.zxid,
            mzxid=self.zxid,
            pzxid=self.zxid,
            ctime=now,
            mtime=now,
            ephemeral_owner=session if ephemeral else 0,
        )
        parent.children.add(path.rsplit("/", 1)[1])
        parent.cversion += 1
        parent.pzxid = self.zxid
        return path, [(EventType.CREATED, path), (EventType.CHILD, parent_path)]

    def delete(self, path: str, version: int) -> list[tuple[EventType, str]]:
        _check_path(path)
        node = self.nodes.get(path)
        if node is None:
            raise NoNodeError(f"{path} does not exist", path)
        if path == "/":
            raise CoordError("cannot delete /", path)
        if version != -1 and node.version != version:
            raise BadVersionError(f"{path} is at version {node.version}", path)
        if node.children:
            raise NotEmptyError(f"{path} has children", path)
        self.zxid += 1
        del self.nodes[path]
        parent = self.nodes[_parent(path)]
        parent.children.discard(path.rsplit("/", 1)[1])
        parent.cversion += 1
        parent.pzxid = self.zxid
        return [(EventType.DELETED, path), (EventType.CHILD, _parent(path))]

    def set(self, path: str, value: bytes, version: int) -> tuple[Stat, list[Any]]:
        _check_path(path)
        node = self.nodes.get(path)
        if node is None:
            raise NoNodeError(f"{path} does not exist", path)
        if version != -1 and node.version != version:
            raise BadVersionError(f"{path} is at version {node.version}", path)
        self.zxid += 1
        node.data, node.version, node.mzxid = bytes(value), node.version + 1, self.zxid
        node.mtime = int(time.time() * 1000)
        return node.stat(), [(EventType.CHANGED, path)]

    def check(self, path: str, version: int) -> list[Any]:
        node = self.nodes.get(path)
        if node is None:
            raise NoNodeError(f"{path} does not exist", path)
        if version != -1 and node.version != version:
            raise BadVersionError(f"{path} is at version {node.version}", path)
        return []

    def multi(self, session: int, ops: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Apply every op or none; kazoo-style results (see the SDK's Transaction)."""
        saved = (copy.deepcopy(self.nodes), self.zxid)
        results: list[Any] = []
        events: list[tuple[EventType, str]] = []
        for kind, args in ops:
            try:
                if kind == "create":
                    path, evs = self.create(session, *args)
                    results.append(path)
                elif kind == "delete":
                    evs = self.delete(*args)
                    results.append(True)
                elif kind == "set_data":
                    stat, evs = self.set(*args)
                    results.append(stat)
                else:
                    evs = self.check(*args)
                    results.append(True)
                events += evs
            except CoordError as exc:
                self.nodes, self.zxid = saved
                failed = len(results)
                return [
                    exc if i == failed else RolledBackError("rolled back") for i in range(len(ops))
                ]
        self.fire(events)
        return results

    def expire(self, session: int) -> None:
        """End ``session``: delete its ephemerals, firing every client's watches."""
        events: list[tuple[EventType, str]] = []
        for path in sorted(self.nodes, reverse=True):
            node = self.nodes.get(path)
            if node is not None and node.ephemeral_owner == session:
                events += self.delete(path, -1)
        self.fire(events)

    def fire(self, events: list[tuple[EventType, str]]) -> None:
        for kind, path in events:
            for c in self.clients:
                c._route(WatchedEvent(kind, "CONNECTED", path, self.zxid))


class FakeCoordClient:
    """A session on a FakeServer with the async client API the recipes use."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.session_id = 0
        self._state = KazooState.LOST
        self._closed = True
        self._listeners: list[Callable[[KazooState], Any]] = []
        self._watches = WatchRegistry()
        self._dispatcher = Dispatcher(self._deliver)
        self._connected = asyncio.Event()
        self._held: list[WatchedEvent] = []
        self._faults: dict[str, list[bool]] = collections.defaultdict(list)
        self.calls: collections.Counter[str] = collections.Counter()
        self.notifications = 0

    # ---- lifecycle and state ------------------------------------------------------

    async def start(self) -> None:
        self._dispatcher.start()
        self.session_id = self.server.new_session()
        self._closed = False
        self._set_state(KazooState.CONNECTED)

    async def stop(self) -> None:
        self._watches.clear()
        self._closed = True
        if self.session_id and self._state is not KazooState.LOST:
            self.server.expire(self.session_id)
        self._set_state(KazooState.LOST)

    async def __aenter__(self) -> FakeCoordClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def state(self) -> KazooState:
        return self._state

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        return (self.session_id, b"\0" * 16) if self.session_id else None

    def add_listener(self, fn: Callable[[KazooState], Any]) -> None:
        if fn not in self._listeners:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[KazooState], Any]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    # ---- faults ---------------------------------------------------------------------

    def script(self, op: str, *, after: bool) -> None:
        """The next ``op`` raises ConnectionLoss, applied first if ``after``."""
        self._faults[op].append(after)

    def suspend(self) -> None:
        self._set_state(KazooState.SUSPENDED)

    def resume(self) -> None:
        self._set_state(KazooState.CONNECTED)
        held, self._held = self._held, []
        for event in held:
            self._submit(event)

    def expire(self) -> None:
        """The server expires this session: ephemerals go, the client is LOST."""
        self._watches.clear()
        self._held.clear()
        self.server.expire(self.session_id)
        self._set_state(KazooState.LOST)

    def _set_state(self, state: KazooState) -> None:
        if state is KazooState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        if state is self._state:
            return
        self._state = state
        for fn in list(self._listeners):
            if fn(state) is True:
                self.remove_listener(fn)

    async def _ready(self, op: str) -> None:
        self.calls[op] += 1
        while self._state is not KazooState.CONNECTED:
            if self._state is KazooState.LOST:
                if self._closed:
                    raise ConnectionClosedError("the client is not started")
                raise SessionExpiredError("the session has expired")
            await self._connected.wait()
        await asyncio.sleep(0)  # a real call always yields to the loop

    async def _do(self, op: str, fn: Callable[[], T]) -> T:
        await self._ready(op)
        faults = self._faults.get(op)
        after = faults.pop(0) if faults else None
        if after is False:
            raise ConnectionLoss(f"scripted loss before {op}")
        result = fn()
        task = self._dispatcher._task  # skip the wait once teardown cancelled the dispatcher
        if task is not None and not task.done():
            await self._dispatcher.wait_done(self._dispatcher.received)
        if after:
            raise ConnectionLoss(f"scripted loss after {op}")
        return result

    # ---- watches ---------------------------------------------------------------------

    def _route(self, event: WatchedEvent) -> None:
        if self._state is KazooState.LOST:
            return
        if self._state is KazooState.SUSPENDED:
            self._held.append(event)
            return
        self._submit(event)

    def _submit(self, event: WatchedEvent) -> None:
        self._dispatcher.submit(self._watches.route(event), event)

    async def _deliver(self, fn: Callable[[WatchedEvent], Any], event: WatchedEvent) -> None:
        self.notifications += 1
        result = fn(event)
        if asyncio.iscoroutine(result):
            await result

    def _arm(self, kind: WatchKind, path: str, watch: Any) -> None:
        if watch is not None:
            self._watches.add(kind, path, watch)

    # ---- operations ------------------------------------------------------------------

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
        def op() -> str:
            if makepath:
                self._ensure(_parent(path))
            created, events = self.server.create(self.session_id, path, value, ephemeral, sequence)
            self.server.fire(events)
            return created

        return await self._do("create", op)

    def _ensure(self, path: str) -> None:
        if path in self.server.nodes:
            return
        self._ensure(_parent(path))
        _, events = self.server.create(self.session_id, path, b"", False, False)
        self.server.fire(events)

    async def ensure_path(self, path: str) -> None:
        await self._do("ensure_path", lambda: self._ensure(path))

    async def exists(self, path: str, watch: Any = None, **_: Any) -> Stat | None:
        def op() -> Stat | None:
            node = self.server.nodes.get(path)
            self._arm(WatchKind.DATA if node else WatchKind.EXIST, path, watch)
            return node.stat() if node else None

        return await self.retry(self._do, "exists", op)

    async def get(self, path: str, watch: Any = None, **_: Any) -> tuple[bytes, Stat]:
        def op() -> tuple[bytes, Stat]:
            node = self.server.nodes.get(path)
            if node is None:
                raise NoNodeError(f"{path} does not exist", path)
            self._arm(WatchKind.DATA, path, watch)
            return node.data, node.stat()

        return await self.retry(self._do, "get", op)

    async def get_children(
        self, path: str, watch: Any = None, include_data: bool = False, **_: Any
    ) -> Any:
        def op() -> Any:
            node = self.server.nodes.get(path)
            if node is None:
                raise NoNodeError(f"{path} does not exist", path)
            self._arm(WatchKind.CHILD, path, watch)
            names = sorted(node.children)
            return (names, node.stat()) if include_data else names

        return await self.retry(self._do, "get_children", op)

    async def set(self, path: str, value: bytes, version: int = -1) -> Stat:
        def op() -> Stat:
            stat, events = self.server.set(path, value, version)
            self.server.fire(events)
            return stat

        return await self._do("set", op)

    async def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        def op() -> bool:
            if recursive:
                self._delete_tree(path)
            else:
                self.server.fire(self.server.delete(path, version))
            return True

        return await self._do("delete", op)

    def _delete_tree(self, path: str) -> None:
        node = self.server.nodes.get(path)
        if node is None:
            raise NoNodeError(f"{path} does not exist", path)
        for name in sorted(node.children):
            self._delete_tree(path.rstrip("/") + "/" + name)
        if path != "/":
            self.server.fire(self.server.delete(path, -1))

    async def sync(self, path: str) -> str:
        await self._do("sync", lambda: None)
        return path

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self)

    async def add_watch(self, path: str, fn: Any, recursive: bool = False) -> WatchHandle:
        kind = WatchKind.RECURSIVE if recursive else WatchKind.PERSISTENT
        await self._do("add_watch", lambda: self._watches.add(kind, path, fn))
        return WatchHandle(path, recursive, fn)

    async def remove_watch(self, handle: WatchHandle) -> None:
        kind = WatchKind.RECURSIVE if handle.recursive else WatchKind.PERSISTENT
        self._watches.remove(kind, handle.path, handle.fn)

    async def retry(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Retry ConnectionLoss (a scripted one is transient) up to 10 times."""
        for _ in range(9):
            try:
                return await fn(*args, **kwargs)
            except ConnectionLoss:
                await asyncio.sleep(0)
        return await fn(*args, **kwargs)


class FakeTransaction:
    def __init__(self, client: FakeCoordClient) -> None:
        self._client = client
        self.operations: list[tuple[str, tuple[Any, ...]]] = []

    def create(
        self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False
    ) -> None:
        self.operations.append(("create", (path, value, ephemeral, sequence)))

    def delete(self, path: str, version: int = -1) -> None:
        self.operations.append(("delete", (path, version)))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        self.operations.append(("set_data", (path, value, version)))

    def check(self, path: str, version: int) -> None:
        self.operations.append(("check", (path, version)))

    async def commit(self) -> list[Any]:
        c = self._client
        return await c._do("multi", lambda: c.server.multi(c.session_id, self.operations))


class FakeSyncClient:
    """A FakeCoordClient driven from threads, as the sync recipes expect.

    It owns an event loop thread and publishes ``async_client`` and ``loop``
    (what the recipes' bridge looks for); ``run(coro)`` and the op methods
    block on that loop.
    """

    def __init__(self, server: FakeServer) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.async_client: FakeCoordClient = self.run(_make_client(server))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def start(self) -> None:
        self.run(self.async_client.start())

    def close(self) -> None:
        self.run(self.async_client.stop())
        self.run(_cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run a plain function on the loop thread (e.g. a fault) and wait."""

        async def wrapped() -> Any:
            return fn()

        return self.run(wrapped())

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.async_client, name)

        def method(*args: Any, **kwargs: Any) -> Any:
            return self.run(target(*args, **kwargs))

        return method


async def _make_client(server: FakeServer) -> FakeCoordClient:
    return server.client()


async def _cancel_leftovers() -> None:
    """End the tasks left on a FakeSyncClient's loop (dispatcher, recipe tasks)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
