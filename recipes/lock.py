"""Lock: an exclusive lock with a fencing token (ReadLock/WriteLock: see rwlock).

Each contender creates an ephemeral sequential node under the lock's path,
named ``<guid>__lock__<seq>``, holding its identifier. The lowest node
holds the lock; every other contender watches exactly one node (the one
whose removal can make it the holder), so a release wakes one waiter,
never the herd.

Fencing: ``fencing_token`` is the czxid of the holder's node. Nodes are
created in zxid order and a node becomes the holder only after every node
before it is gone, so successive holders get strictly increasing tokens.
Pass the token along with every write to the protected resource and let
the resource refuse older ones (``TokenGuard``): a holder that was paused
past its session timeout and still believes it holds the lock is stopped
there.

Error handling:

- A ConnectionLoss during the create is recovered by finding the node by
  its GUID (``create_sequential``), never by creating a second one.
- SUSPENDED makes the lock unsafe (``is_safe`` False, the lease's
  ``suspended`` set, listeners called); with ``lose_on_suspend=True`` it is
  treated as losing the lock and the node is deleted once reconnected.
- LOST (session expired or client stopped) ends the lease: ``is_acquired``
  turns False and the lease's ``lost`` event is set; a waiting ``acquire``
  raises SessionExpiredError. Deletion of the holder's node by anyone else
  ends the lease in the same way.
- A failed, timed-out or cancelled acquire deletes its node (best effort).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from coordsvc.client.errors import NoNodeError
from coordsvc.client.states import KazooState
from coordsvc.client.watches import EventType, WatchedEvent
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._lease import (
    NODE_DELETED,
    RELEASED,
    SESSION_LOST,
    SUSPENDED,
    Lease,
    SyncLease,
)
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import (
    AsyncRecipe,
    create_sequential,
    default_identifier,
    delete_quietly,
    find_by_prefix,
    join,
    new_guid,
    remaining,
    sort_by_sequence,
)

from coordsvc.tree.znode import Stat

__all__ = ["AsyncLock", "Lock", "WRITE", "READ"]

WRITE = "__lock__"
READ = "__rlock__"


class AsyncLock(AsyncRecipe):
    """An exclusive lock over an AsyncClient (see module doc).

    ``Lock(client, path, identifier=None)``; one Lock object is one
    contender, and tasks sharing it take turns. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncLock

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                lock = AsyncLock(client, "/locks/report", "worker-1")
                async with lock:
                    print("holding with token", lock.fencing_token)

        asyncio.run(main())
    """

    _MARKER = WRITE
    _MARKERS = (WRITE, READ)

    def __init__(
        self,
        client: CoordClient,
        path: str,
        identifier: str | None = None,
        *,
        lose_on_suspend: bool = False,
    ) -> None:
        self.client = client
        self.path = path.rstrip("/") or "/"
        self.identifier = identifier or default_identifier()
        self.lose_on_suspend = lose_on_suspend
        self.lease: Lease | None = None
        self.node: str | None = None
        self._prefix: str | None = None
        self._local = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._cancelled = False
        self._listening = False
        self._listeners: list[Callable[[KazooState], Any]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} id={self.identifier!r} lease={self.lease!r}>"

    # ---- state -------------------------------------------------------------

    @property
    def is_acquired(self) -> bool:
        return self.lease is not None and not self.lease.is_lost()

    @property
    def is_safe(self) -> bool:
        """Held on a live connection: False while SUSPENDED, after LOST or release."""
        return self.lease is not None and self.lease.is_safe()

    @property
    def fencing_token(self) -> int | None:
        """The czxid of the holder's node (None when not held)."""
        return self.lease.fencing_token if self.lease is not None else None

    def add_listener(self, fn: Callable[[KazooState], Any]) -> None:
        """Call ``fn(state)`` on connection changes while acquiring or holding."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[KazooState], Any]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    # ---- acquire / release -------------------------------------------------

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait for the lock; False on timeout, non-blocking miss or ``cancel()``."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        self._cancelled = False
        if not await self._take_local(blocking, deadline):
            return False
        got = False
        try:
            self._listen()
            self._prefix = new_guid() + self._MARKER
            self.node = await create_sequential(
                self.client, self.path, self._prefix, self.identifier.encode(), ephemeral=True
            )
            got = await self._wait_turn(blocking, deadline)
            if got:
                await self._on_acquired(self.node)
                stat = await self.client.exists(self.node, watch=self._on_own_event)
                if stat is None:
                    raise NoNodeError(f"lock node {self.node} vanished", self.node)
                self.lease = Lease(self.node, stat.czxid)
                return True
        except BaseException:  # also cancellation: clean up without making the caller wait
            self._spawn(self._delete_contender(*self._forget_contender()))
            raise
        await self._delete_contender(*self._forget_contender())
        return False

    async def release(self) -> bool:
        """Give the lock up (delete the node); False if it was not held."""
        lease, node = self.lease, self.node
        if lease is None or lease.is_lost() or node is None:
            return False
        lease._end(RELEASED)
        self.lease, self.node = None, None
        self._unlisten()
        try:
            await delete_quietly(self.client, node)
        finally:
            self._release_local()
        return True

    def cancel(self) -> None:
        """Make a waiting ``acquire`` give up and return False (call on the loop)."""
        self._cancelled = True
        if self._wake is not None:
            self._wake.set()

    async def contenders(self) -> list[str]:
        """The identifiers of every contender, the holder(s) first."""
        try:
            names = sort_by_sequence(await self.client.get_children(self.path), self._MARKERS)
        except NoNodeError:
            return []
        out = []
        for name in names:
            try:
                data, _ = await self.client.get(join(self.path, name))
            except NoNodeError:
                continue
            out.append(data.decode(errors="replace"))
        return out

    async def __aenter__(self) -> AsyncLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

    # ---- what subclasses change ------------------------------------------------

    def _blockers(self, nodes: list[str], me: str) -> list[tuple[str, bool]]:
        """The nodes to watch before ``me`` may hold (empty: it holds now).

        Each comes with a flag: True means "a data change (a mark) on this
        node is a reason to look again" (the semaphore uses it).
        """
        i = nodes.index(me)
        return [] if i == 0 else [(nodes[i - 1], False)]

    async def _on_acquired(self, node: str) -> None:
        """Hook run once the node holds, before the lease is handed out."""

    # ---- internals ------------------------------------------------------------

    async def _take_local(self, blocking: bool, deadline: float | None) -> bool:
        if not blocking:
            if self._local.locked():
                return False
            await self._local.acquire()
            return True
        try:
            async with asyncio.timeout(remaining(deadline)):
                await self._local.acquire()
        except TimeoutError:
            return False
        return True

    def _release_local(self) -> None:
        if self._local.locked():
            self._local.release()

    async def _wait_turn(self, blocking: bool, deadline: float | None) -> bool:
        assert self.node is not None
        me = self.node.rsplit("/", 1)[1]
        while True:
            if self._cancelled:
                return False
            wake = self._wake = asyncio.Event()
            nodes = sort_by_sequence(await self.client.get_children(self.path), self._MARKERS)
            if me not in nodes:
                raise NoNodeError(f"contender node {self.node} vanished while waiting", self.node)
            blockers = self._blockers(nodes, me)
            if not blockers:
                return True
            if not blocking:
                return False

            async def on_change(_event: WatchedEvent, wake: asyncio.Event = wake) -> None:
                wake.set()

            if not await self._watch(blockers, on_change):
                continue  # a blocker is already gone (or moved on): look again
            left = remaining(deadline)
            if self._cancelled or left == 0:
                return False
            try:
                async with asyncio.timeout(left):
                    await wake.wait()
            except TimeoutError:
                return False

    async def _watch(self, blockers: list[tuple[str, bool]], on_change: Any) -> bool:
        for name, mark_counts in blockers:
            stat: Stat | None = await self.client.exists(join(self.path, name), watch=on_change)
            if stat is None or (mark_counts and stat.version > 0):
                return False
        return True

    def _forget_contender(self) -> tuple[str | None, str | None]:
        """Drop this attempt's node (returned for deletion) and what it held locally."""
        node, prefix = self.node, self._prefix
        self.node, self._prefix = None, None
        self._unlisten()
        self._release_local()
        return node, prefix

    async def _delete_contender(self, node: str | None, prefix: str | None) -> None:
        with contextlib.suppress(Exception):
            if node is None and prefix is not None:
                node = await self.client.retry(find_by_prefix, self.client, self.path, prefix)
            if node is not None:
                await delete_quietly(self.client, node)

    def _listen(self) -> None:
        if not self._listening:
            self._listening = True
            self.client.add_listener(self._on_state)

    def _unlisten(self) -> None:
        if self._listening:
            self._listening = False
            self.client.remove_listener(self._on_state)

    def _on_state(self, state: KazooState) -> None:
        """Client state listener (runs on the loop): surface SUSPENDED, end on LOST."""
        lease = self.lease
        if state is KazooState.SUSPENDED and lease is not None:
            if self.lose_on_suspend:
                self._lose(lease, SUSPENDED, delete_node=True)
            else:
                lease._set_suspended(True)
        elif state is KazooState.CONNECTED and lease is not None:
            lease._set_suspended(False)
        elif state is KazooState.LOST:
            if lease is not None:
                self._lose(lease, SESSION_LOST)
            if self._wake is not None:
                self._wake.set()
        for fn in list(self._listeners):
            self._post_user(fn, state)

    async def _on_own_event(self, event: WatchedEvent) -> None:
        lease = self.lease
        if lease is None or lease.is_lost() or event.path != lease.node:
            return
        if event.type is EventType.DELETED:
            self._lose(lease, NODE_DELETED)
        else:  # a data change on our node: keep watching for its deletion
            self._spawn(self._rewatch_own(lease))

    async def _rewatch_own(self, lease: Lease) -> None:
        if await self.client.exists(lease.node, watch=self._on_own_event) is None:
            self._lose(lease, NODE_DELETED)

    def _lose(self, lease: Lease, reason: str, delete_node: bool = False) -> None:
        if lease is not self.lease or lease.is_lost():
            return
        node = self.node
        lease._end(reason)
        self.lease, self.node = None, None
        self._release_local()
        self._unlisten()
        if delete_node and node is not None:
            self._spawn(delete_quietly(self.client, node))


# ---- sync forms -------------------------------------------------------------------


class Lock(SyncRecipe):
    """An exclusive lock over the blocking Client (see AsyncLock).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Lock

        with Client("127.0.0.1:2181") as client:
            lock = Lock(client, "/locks/report", "worker-1")
            with lock:
                print("holding with token", lock.fencing_token)
            print(lock.acquire(timeout=1.0), lock.release())
    """

    _async_class: type[AsyncLock] = AsyncLock

    def __init__(
        self,
        client: Any,
        path: str,
        identifier: str | None = None,
        *,
        lose_on_suspend: bool = False,
    ) -> None:
        self._wrap(
            client,
            lambda c: self._async_class(c, path, identifier, lose_on_suspend=lose_on_suspend),
        )

    path = mirrored("path")
    identifier = mirrored("identifier")
    node = mirrored("node")
    is_acquired = mirrored("is_acquired")
    is_safe = mirrored("is_safe")
    fencing_token = mirrored("fencing_token")
    acquire = blocking(AsyncLock.acquire)
    release = blocking(AsyncLock.release)
    contenders = blocking(AsyncLock.contenders)

    @property
    def lease(self) -> SyncLease | None:
        """The current holding, for waiting on its loss from a thread."""
        lease = self._core.lease
        return None if lease is None else SyncLease(lease)

    def cancel(self) -> None:
        """Make a waiting ``acquire`` (in another thread) return False."""
        self._bridge.call_soon(self._core.cancel)

    def add_listener(self, fn: Callable[[KazooState], Any]) -> None:
        """``fn(state)`` on connection changes while acquiring or holding (callback thread)."""
        self._core.add_listener(fn)

    def remove_listener(self, fn: Callable[[KazooState], Any]) -> None:
        self._core.remove_listener(fn)

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
