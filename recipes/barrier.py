"""Barrier and DoubleBarrier.

Barrier: a node that blocks ``wait()`` while it exists. One party
``create()``s it, others ``wait()``, and ``remove()`` lets them all through
(each waiter has a watch on the one node: they are meant to go together).

DoubleBarrier (ZooKeeper's recipe): ``num_clients`` processes ``enter()``
together and ``leave()`` together. Entering creates an ephemeral node per
process under the barrier's path and waits for a ``ready`` node, which the
process that completes the count creates. Leaving deletes the process's
node and waits until every process node is gone, with no herd: the lowest
node waits on the highest, every other process deletes its node and waits
on the lowest. The last one out deletes ``ready``, so the barrier can be
used again. A process whose session dies counts as having left.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from coordsvc.client.errors import NodeExistsError, NoNodeError
from coordsvc.client.watches import WatchedEvent
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import (
    AsyncRecipe,
    create_once,
    default_identifier,
    delete_quietly,
    join,
    new_guid,
    remaining,
)

__all__ = ["AsyncBarrier", "AsyncDoubleBarrier", "Barrier", "DoubleBarrier"]

READY = "ready"


class AsyncBarrier(AsyncRecipe):
    """A barrier over an AsyncClient (see module doc).

    ``Barrier(client, path)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncBarrier

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                gate = AsyncBarrier(client, "/barriers/deploy")
                await gate.create()
                print("passed:", await gate.wait(timeout=0.1))   # False: closed
                await gate.remove()
                print("passed:", await gate.wait())              # True

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str) -> None:
        self.client = client
        self.path = path

    async def create(self) -> None:
        """Put the barrier up (no error if it is already up)."""
        with contextlib.suppress(NodeExistsError):
            await self.client.create(self.path, makepath=True)

    async def remove(self) -> bool:
        """Take the barrier down; False if it was not up."""
        return await delete_quietly(self.client, self.path)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the barrier is down; False if ``timeout`` passed first."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            gone = asyncio.Event()

            async def on_change(_e: WatchedEvent, gone: asyncio.Event = gone) -> None:
                gone.set()

            if await self.client.exists(self.path, watch=on_change) is None:
                return True
            try:
                async with asyncio.timeout(remaining(deadline)):
                    await gone.wait()
            except TimeoutError:
                return False


class AsyncDoubleBarrier(AsyncRecipe):
    """A double barrier over an AsyncClient (see module doc).

    ``DoubleBarrier(client, path, num_clients, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncDoubleBarrier

        async def worker(client, i):
            barrier = AsyncDoubleBarrier(client, "/barriers/round", 3, f"w{i}")
            await barrier.enter()      # all 3 start together
            await barrier.leave()      # and finish together

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                await asyncio.gather(*(worker(client, i) for i in range(3)))
                print("all three went through")

        asyncio.run(main())
    """

    def __init__(
        self, client: CoordClient, path: str, num_clients: int, identifier: str | None = None
    ) -> None:
        if num_clients < 1:
            raise ValueError("num_clients must be at least 1")
        self.client = client
        self.path = path.rstrip("/")
        self.num_clients = num_clients
        self.identifier = identifier or default_identifier()
        self.node: str | None = None
        self.participating = False

    async def enter(self, timeout: float | None = None) -> None:
        """Join, then wait until ``num_clients`` processes have joined.

        Raises TimeoutError (after withdrawing) if they do not in time.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        ready_path = join(self.path, READY)
        ready = asyncio.Event()

        async def on_ready(_e: WatchedEvent) -> None:
            ready.set()

        self.node = join(self.path, f"{new_guid()}__member__")
        ready_up = await self.client.exists(ready_path, watch=on_ready) is not None
        await create_once(self.client, self.node, self.identifier.encode(), ephemeral=True)
        self.participating = True
        try:
            if not ready_up and len(await self._members()) >= self.num_clients:
                with contextlib.suppress(NodeExistsError):
                    await self.client.create(ready_path)
                return
            while not ready_up:
                async with asyncio.timeout(remaining(deadline)):
                    await ready.wait()
                ready.clear()
                ready_up = await self.client.exists(ready_path, watch=on_ready) is not None
        except BaseException:
            await self._withdraw()
            raise

    async def leave(self, timeout: float | None = None) -> None:
        """Leave, then wait until every process has left (TimeoutError after ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        me = self.node.rsplit("/", 1)[1] if self.node else None
        while True:
            members = await self._members()
            if not members or members == [me]:
                if me in members:
                    await delete_quietly(self.client, join(self.path, me))
                break
            if me not in members:
                me = None
            target = members[-1] if members[0] == me else members[0]
            if me is not None and members[0] != me:
                await delete_quietly(self.client, join(self.path, me))
                me = None
            gone = asyncio.Event()

            async def on_gone(_e: WatchedEvent, gone: asyncio.Event = gone) -> None:
                gone.set()

            if await self.client.exists(join(self.path, target), watch=on_gone) is None:
                continue
            async with asyncio.timeout(remaining(deadline)):
                await gone.wait()
        self.node, self.participating = None, False
        await delete_quietly(self.client, join(self.path, READY))

    async def _members(self) -> list[str]:
        try:
            names = await self.client.get_children(self.path)
        except NoNodeError:
            return []
        return sorted(n for n in names if n != READY)

    async def _withdraw(self) -> None:
        if self.node is not None:
            await delete_quietly(self.client, self.node)
        self.node, self.participating = None, False


class Barrier(SyncRecipe):
    """A barrier over the blocking Client (see AsyncBarrier).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Barrier

        with Client("127.0.0.1:2181") as client:
            gate = Barrier(client, "/barriers/deploy")
            gate.create()
            print("passed:", gate.wait(timeout=0.1))   # False: still up
            gate.remove()
            print("passed:", gate.wait())              # True
    """

    def __init__(self, client: Any, path: str) -> None:
        self._wrap(client, lambda c: AsyncBarrier(c, path))

    path = mirrored("path")
    create = blocking(AsyncBarrier.create)
    remove = blocking(AsyncBarrier.remove)
    wait = blocking(AsyncBarrier.wait)


class DoubleBarrier(SyncRecipe):
    """A double barrier over the blocking Client (see AsyncDoubleBarrier).

    Example::

        import threading
        from coordsvc.client import Client
        from coordsvc.recipes import DoubleBarrier

        def worker(client, i):
            barrier = DoubleBarrier(client, "/barriers/round", 2, f"w{i}")
            barrier.enter()
            barrier.leave()

        with Client("127.0.0.1:2181") as client:
            threads = [threading.Thread(target=worker, args=(client, i)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print("both went through")
    """

    def __init__(
        self, client: Any, path: str, num_clients: int, identifier: str | None = None
    ) -> None:
        self._wrap(client, lambda c: AsyncDoubleBarrier(c, path, num_clients, identifier))

    path = mirrored("path")
    num_clients = mirrored("num_clients")
    participating = mirrored("participating")
    enter = blocking(AsyncDoubleBarrier.enter)
    leave = blocking(AsyncDoubleBarrier.leave)
