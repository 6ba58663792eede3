"""LeaderLatch: join an election and stay in it; ask any time whether you lead.

Unlike Election.run, a latch does not run a function: after ``start()`` it
keeps a candidate node in the election (queued like a lock contender,
watching only its predecessor) until ``close()``. ``has_leadership`` says
whether this latch leads right now, ``await_leadership(timeout)`` waits for
it, and listeners hear every change as ``fn(True)`` / ``fn(False)``.

Connection policy: leadership counts only on a live connection. SUSPENDED
makes ``has_leadership`` False (listeners hear False) and a resume of the
same session makes it True again if the node is still first. LOST drops the
node with the session; the latch rejoins at the back of the queue as soon
as the client has a new session (after ``client.start()``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from coordsvc.client.states import KazooState
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._lease import SESSION_LOST, Lease
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import SESSION_GONE, AsyncRecipe
from coordsvc.recipes.lock import AsyncLock

__all__ = ["AsyncLeaderLatch", "LeaderLatch"]

RETRY_PAUSE_S = 0.2  # after an unexpected failure to join, before trying again


class AsyncLeaderLatch(AsyncRecipe):
    """A leader latch over an AsyncClient (see module doc).

    ``LeaderLatch(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncLeaderLatch

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                latch = AsyncLeaderLatch(client, "/latch/indexer", "node-a")
                latch.add_listener(lambda leading: print("leading:", leading))
                await latch.start()
                if await latch.await_leadership(timeout=5):
                    print("we lead:", latch.has_leadership)
                await latch.close()

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str, identifier: str | None = None) -> None:
        self.client = client
        self.path = path
        self._lock = AsyncLock(client, path, identifier)
        self._task: asyncio.Task[None] | None = None
        self._leading = asyncio.Event()
        self._connected = asyncio.Event()
        self._listeners: list[Callable[[bool], Any]] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"<AsyncLeaderLatch {self.path} id={self.identifier!r} leader={self.has_leadership}>"

    @property
    def identifier(self) -> str:
        return self._lock.identifier

    @property
    def has_leadership(self) -> bool:
        return self._leading.is_set()

    @property
    def lease(self) -> Lease | None:
        """The current leadership (with its fencing token), or None."""
        return self._lock.lease if self.has_leadership else None

    def add_listener(self, fn: Callable[[bool], Any]) -> None:
        """Call ``fn(True)`` on gaining leadership, ``fn(False)`` on losing it."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[bool], Any]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    async def start(self) -> None:
        """Join the election (returns at once; leadership comes later)."""
        if self._task is not None:
            return
        self._closed = False
        self.client.add_listener(self._on_state)
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        """Leave the election (resigning if leading)."""
        self._closed = True
        task, self._task = self._task, None
        self.client.remove_listener(self._on_state)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(*SESSION_GONE):
            await self._lock.release()
        self._update()

    async def await_leadership(self, timeout: float | None = None) -> bool:
        """Wait until this latch leads; False if ``timeout`` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._leading.wait()
        return self._leading.is_set()

    async def contenders(self) -> list[str]:
        return await self._lock.contenders()

    async def _run(self) -> None:
        while not self._closed:
            try:
                got = await self._lock.acquire()
            except SESSION_GONE:
                await self._until_connected()
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if not got:
                continue
            lease = self._lock.lease
            assert lease is not None
            lease.observe(lambda _lease: self._update())
            self._update()
            await lease.lost.wait()
            self._update()
            if lease.reason == SESSION_LOST:
                await self._until_connected()

    async def _until_connected(self) -> None:
        while self.client.state is not KazooState.CONNECTED:
            self._connected.clear()
            await self._connected.wait()

    def _on_state(self, state: KazooState) -> None:
        if state is KazooState.CONNECTED:
            self._connected.set()

    def _update(self) -> None:
        lease = self._lock.lease
        leading = not self._closed and lease is not None and lease.is_safe()
        if leading == self._leading.is_set():
            return
        if leading:
            self._leading.set()
        else:
            self._leading.clear()
        for fn in list(self._listeners):
            self._post_user(fn, leading)


class LeaderLatch(SyncRecipe):
    """A leader latch over the blocking Client (see AsyncLeaderLatch).

    Listeners run on the client's callback thread. Example::

        from coordsvc.client import Client
        from coordsvc.recipes import LeaderLatch

        with Client("127.0.0.1:2181") as client:
            latch = LeaderLatch(client, "/latch/indexer", "node-a")
            latch.start()
            if latch.await_leadership(timeout=5):
                print("we lead:", latch.has_leadership)
            latch.close()
    """

    def __init__(self, client: Any, path: str, identifier: str | None = None) -> None:
        self._wrap(client, lambda c: AsyncLeaderLatch(c, path, identifier))

    path = mirrored("path")
    identifier = mirrored("identifier")
    has_leadership = mirrored("has_leadership")
    start = blocking(AsyncLeaderLatch.start)
    close = blocking(AsyncLeaderLatch.close)
    await_leadership = blocking(AsyncLeaderLatch.await_leadership)
    contenders = blocking(AsyncLeaderLatch.contenders)

    @property
    def fencing_token(self) -> int | None:
        lease = self._core.lease
        return None if lease is None else lease.fencing_token

    def add_listener(self, fn: Callable[[bool], Any]) -> None:
        self._core.add_listener(fn)

    def remove_listener(self, fn: Callable[[bool], Any]) -> None:
        self._core.remove_listener(fn)
