"""TreeCache: a local mirror of a subtree, kept current by one recursive watch.

``start()`` first sets a persistent recursive watch on the root, then loads
the subtree (data, Stat and children of every node). Each event names a
node that changed; the cache reads that node again and compares with what
it holds, so events and reads may interleave in any order and the mirror
still converges to the server's tree (a read always returns the present,
and the last read of a node follows its last change). Every difference is
reported to listeners as a TreeEvent: NODE_ADDED, NODE_UPDATED,
NODE_REMOVED; INITIALIZED after the first load; CONNECTION_SUSPENDED,
CONNECTION_RECONNECTED and CONNECTION_LOST for the connection.

Persistent watches do not replay what changed while the connection was
down, so after a reconnect, and after a new session replaces a lost one
(the watch is set again), the cache reloads the whole subtree and reports
the differences. Reads of the mirror (``get_data``, ``get_children``) are
local and never block.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from typing import Any, NamedTuple

from coordsvc.client.errors import NoNodeError
from coordsvc.client.states import KazooState
from coordsvc.client.watches import WatchedEvent
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import SESSION_GONE, AsyncRecipe, join

from coordsvc.tree.znode import Stat

__all__ = ["AsyncTreeCache", "TreeCache", "TreeEvent", "TreeEventType", "NodeData"]


class TreeEventType(enum.StrEnum):
    NODE_ADDED = "NODE_ADDED"
    NODE_UPDATED = "NODE_UPDATED"
    NODE_REMOVED = "NODE_REMOVED"
    INITIALIZED = "INITIALIZED"
    CONNECTION_SUSPENDED = "CONNECTION_SUSPENDED"
    CONNECTION_RECONNECTED = "CONNECTION_RECONNECTED"
    CONNECTION_LOST = "CONNECTION_LOST"


class NodeData(NamedTuple):
    path: str
    data: bytes
    stat: Stat


class TreeEvent(NamedTuple):
    type: TreeEventType
    node: NodeData | None = None


# queue items besides paths: reload everything; set the watch again and reload; a mark
_RELOAD, _REWATCH, _MARK = "\0reload", "\0rewatch", "\0mark"


class AsyncTreeCache(AsyncRecipe):
    """A mirror of the subtree at ``path`` over an AsyncClient (see module doc).

    ``TreeCache(client, path)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncTreeCache

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                await client.create("/apps/web/port", b"8080", makepath=True)
                cache = AsyncTreeCache(client, "/apps")
                cache.add_listener(lambda event: print(event.type, event.node and event.node.path))
                await cache.start()
                print(cache.get_children("/apps/web"), cache.get_data("/apps/web/port").data)
                await cache.close()

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str) -> None:
        self.client = client
        self.path = path.rstrip("/") or "/"
        self._nodes: dict[str, NodeData] = {}
        self._children: dict[str, set[str]] = {}
        self._listeners: list[Callable[[TreeEvent], Any]] = []
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._handle: Any = None
        self._initialized = asyncio.Event()
        self._was: KazooState | None = None
        self._closed = False
        self._marks: list[asyncio.Event] = []

    # ---- the mirror ------------------------------------------------------------

    def get_data(self, path: str) -> NodeData | None:
        """The cached data and Stat of ``path``, or None if it is not in the mirror."""
        return self._nodes.get(path)

    def get_children(self, path: str) -> list[str] | None:
        """The cached child names of ``path`` (sorted), or None if it is not in the mirror."""
        kids = self._children.get(path)
        return None if kids is None else sorted(kids)

    def paths(self) -> list[str]:
        """Every path in the mirror, sorted."""
        return sorted(self._nodes)

    def add_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        """Call ``fn(TreeEvent)`` for every change of the mirror and the connection."""
        self._listeners.append(fn)

    listen = add_listener

    def remove_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    # ---- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Set the watch, load the subtree, and keep the mirror current until ``close()``."""
        if self._task is not None:
            return
        self._closed = False
        self._was = self.client.state
        self.client.add_listener(self._on_state)
        self._handle = await self.client.add_watch(self.path, self._on_event, recursive=True)
        await self._reload()
        self._initialized.set()
        self._emit(TreeEvent(TreeEventType.INITIALIZED))
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        """Stop following the tree (the mirror keeps its last contents)."""
        self._closed = True
        self.client.remove_listener(self._on_state)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._handle is not None:
            with contextlib.suppress(Exception):
                await self.client.remove_watch(self._handle)
            self._handle = None

    async def synced(self) -> None:
        """Wait until every change this cache was told of so far is in the mirror."""
        done = asyncio.Event()
        self._marks.append(done)
        self._queue.put_nowait(_MARK)
        await done.wait()

    # ---- keeping it current ------------------------------------------------------

    async def _on_event(self, event: WatchedEvent) -> None:
        self._queue.put_nowait(event.path)

    def _on_state(self, state: KazooState) -> None:
        was, self._was = self._was, state
        if state is KazooState.SUSPENDED:
            self._emit(TreeEvent(TreeEventType.CONNECTION_SUSPENDED))
        elif state is KazooState.LOST:
            self._emit(TreeEvent(TreeEventType.CONNECTION_LOST))
        elif state is KazooState.CONNECTED and was is not None and was is not state:
            self._emit(TreeEvent(TreeEventType.CONNECTION_RECONNECTED))
            self._queue.put_nowait(_REWATCH if was is KazooState.LOST else _RELOAD)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item == _MARK:
                    while self._marks:
                        self._marks.pop(0).set()
                elif item == _REWATCH:
                    self._handle = await self.client.add_watch(
                        self.path, self._on_event, recursive=True
                    )
                    await self._reload()
                elif item == _RELOAD:
                    await self._reload()
                else:
                    await self._refresh(item)
            except SESSION_GONE:
                continue  # a new session brings a "\0rewatch"
            except asyncio.CancelledError:
                raise
            except Exception:
                self._queue.put_nowait(_RELOAD if item.startswith("\0") else item)
                await asyncio.sleep(0.1)  # back off before trying again

    async def _refresh(self, path: str) -> None:
        """Read ``path`` again and fold the result into the mirror."""
        try:
            data, stat = await self.client.get(path)
        except NoNodeError:
            self._remove(path)
            return
        if path != self.path:
            parent = path.rsplit("/", 1)[0] or "/"
            if parent not in self._nodes:  # its event is still queued: read it first
                await self._refresh(parent)
                if parent not in self._nodes:
                    return
        added = path not in self._nodes
        self._put(NodeData(path, data, stat))
        if added:  # children created before our read send no event we have not queued
            try:
                kids = await self.client.get_children(path)
            except NoNodeError:
                return
            for name in kids:
                if join(path, name) not in self._nodes:
                    await self._refresh(join(path, name))

    async def _reload(self) -> None:
        """Load the whole subtree and report how it differs from the mirror."""
        fresh: dict[str, NodeData] = {}
        await self._load(self.path, fresh)
        for path in sorted(set(self._nodes) - set(fresh), reverse=True):
            self._remove(path)
        for path in sorted(fresh):
            self._put(fresh[path])

    async def _load(self, path: str, into: dict[str, NodeData]) -> None:
        try:
            data, stat = await self.client.get(path)
            kids = await self.client.get_children(path)
        except NoNodeError:
            return
        into[path] = NodeData(path, data, stat)
        for name in kids:
            await self._load(join(path, name), into)

    def _put(self, node: NodeData) -> None:
        old = self._nodes.get(node.path)
        if old is not None and old.stat.czxid != node.stat.czxid:
            self._remove(node.path)  # deleted and created again meanwhile
            old = None
        if old is not None and old.stat.mzxid == node.stat.mzxid:
            if old.stat.pzxid != node.stat.pzxid:
                self._nodes[node.path] = node  # children changed: no event of its own
            return
        self._nodes[node.path] = node
        self._children.setdefault(node.path, set())
        if node.path != self.path:
            parent = node.path.rsplit("/", 1)[0] or "/"
            self._children.setdefault(parent, set()).add(node.path.rsplit("/", 1)[1])
        kind = TreeEventType.NODE_ADDED if old is None else TreeEventType.NODE_UPDATED
        self._emit(TreeEvent(kind, node))

    def _remove(self, path: str) -> None:
        if path not in self._nodes:
            return
        for kid in sorted(self._children.get(path, ())):
            self._remove(join(path, kid))
        node = self._nodes.pop(path)
        self._children.pop(path, None)
        if path != self.path:
            parent = path.rsplit("/", 1)[0] or "/"
            self._children.get(parent, set()).discard(path.rsplit("/", 1)[1])
        self._emit(TreeEvent(TreeEventType.NODE_REMOVED, node))

    def _emit(self, event: TreeEvent) -> None:
        for fn in list(self._listeners):
            self._post_user(fn, event)


class TreeCache(SyncRecipe):
    """A mirror of a subtree over the blocking Client (see AsyncTreeCache).

    Listeners run on the client's callback thread. Example::

        from coordsvc.client import Client
        from coordsvc.recipes import TreeCache

        with Client("127.0.0.1:2181") as client:
            client.create("/sites/blog/port", b"8080", makepath=True)
            cache = TreeCache(client, "/sites")
            cache.start()
            print(cache.get_children("/sites/blog"), cache.get_data("/sites/blog/port").data)
            cache.close()
    """

    def __init__(self, client: Any, path: str) -> None:
        self._wrap(client, lambda c: AsyncTreeCache(c, path))

    path = mirrored("path")
    start = blocking(AsyncTreeCache.start)
    close = blocking(AsyncTreeCache.close)
    synced = blocking(AsyncTreeCache.synced)

    def get_data(self, path: str) -> NodeData | None:
        return self._core.get_data(path)

    def get_children(self, path: str) -> list[str] | None:
        return self._core.get_children(path)

    def paths(self) -> list[str]:
        return self._core.paths()

    def add_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        self._core.add_listener(fn)

    listen = add_listener

    def remove_listener(self, fn: Callable[[TreeEvent], Any]) -> None:
        self._core.remove_listener(fn)
