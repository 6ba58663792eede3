"""Queue and LockingQueue: FIFO queues with priorities.

Items are persistent sequential nodes named
``entry-<priority:03d>-<guid>-<seq>``: they are taken in order of priority
(lower first, 0..999) and, within a priority, of the server's sequence
number, i.e. in the order they were put. The GUID makes a put that lost its
connection safe to retry (it finds its own node instead of adding the item
twice).

Queue.get takes an item by deleting its node: whoever deletes it owns it,
so with many consumers each item is taken once. It does not wait: it
returns None when the queue is empty.

LockingQueue (``entries/`` and ``taken/`` under its path) is for consumers
that may crash: ``get()`` waits for an item and locks it with an ephemeral
``taken/<entry>`` node; ``consume()`` removes the item and its lock in one
transaction, ``release()`` puts it back. If the consumer's session dies the
lock goes with it and the item is offered again. Waiting consumers watch
the two children lists (every waiter looks when an item arrives; one gets
it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from coordsvc.client.errors import ConnectionLoss, NodeExistsError, NoNodeError
from coordsvc.client.watches import WatchedEvent
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import (
    AsyncRecipe,
    create_sequential,
    default_identifier,
    delete_quietly,
    join,
    new_guid,
    remaining,
    sequence_of,
)

__all__ = ["AsyncQueue", "AsyncLockingQueue", "Queue", "LockingQueue"]

PREFIX = "entry-"


def _order(name: str) -> tuple[int, int]:
    return int(name[len(PREFIX) : len(PREFIX) + 3]), sequence_of(name)


def _entries(names: Iterable[str]) -> list[str]:
    return sorted((n for n in names if n.startswith(PREFIX)), key=_order)


def _check(value: bytes, priority: int) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"queue items are bytes, not {type(value).__name__}")
    if not isinstance(priority, int) or not 0 <= priority <= 999:
        raise ValueError("priority must be an int from 0 to 999")


async def _put(client: CoordClient, path: str, value: bytes, priority: int) -> str:
    _check(value, priority)
    prefix = f"{PREFIX}{priority:03d}-{new_guid()}-"
    return await create_sequential(client, path, prefix, value, ephemeral=False)


class AsyncQueue(AsyncRecipe):
    """A distributed FIFO queue with priorities, over an AsyncClient.

    ``Queue(client, path)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncQueue

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                jobs = AsyncQueue(client, "/queues/jobs")
                await jobs.put(b"later")
                await jobs.put(b"urgent", priority=1)
                print(await jobs.get(), await jobs.get(), await jobs.get())
                # b'urgent' b'later' None

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str) -> None:
        self.client = client
        self.path = path.rstrip("/")

    async def put(self, value: bytes, priority: int = 100) -> str:
        """Add an item; returns its node path."""
        return await _put(self.client, self.path, value, priority)

    async def put_all(self, values: Iterable[bytes], priority: int = 100) -> list[str]:
        """Add several items, in order."""
        return [await self.put(v, priority) for v in values]

    async def get(self) -> bytes | None:
        """Take the first item, or None if the queue is empty (does not wait)."""
        while True:
            try:
                names = _entries(await self.client.get_children(self.path))
            except NoNodeError:
                return None
            if not names:
                return None
            for name in names:
                item = await self._take(join(self.path, name))
                if item is not None:
                    return item

    async def length(self) -> int:
        try:
            return len(_entries(await self.client.get_children(self.path)))
        except NoNodeError:
            return 0

    async def _take(self, path: str) -> bytes | None:
        try:
            data, _ = await self.client.get(path)
            await self.client.delete(path)
        except NoNodeError:
            return None  # another consumer took it
        except ConnectionLoss:
            # the delete's outcome is unknown: deleted now means it was ours (at least once)
            if await self.client.retry(self.client.exists, path) is not None:
                return await self._take(path)
        return data


class AsyncLockingQueue(AsyncRecipe):
    """A queue whose items stay until consumed, over an AsyncClient.

    ``LockingQueue(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncLockingQueue

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                jobs = AsyncLockingQueue(client, "/queues/reliable")
                await jobs.put(b"resize image 7")
                item = await jobs.get(timeout=5)
                print("working on", item, jobs.holds_lock())
                await jobs.consume()   # done: remove it for good

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str, identifier: str | None = None) -> None:
        self.client = client
        self.path = path.rstrip("/")
        self.identifier = identifier or default_identifier()
        self.entries = join(self.path, "entries")
        self.taken = join(self.path, "taken")
        self.held: str | None = None
        self._changed = asyncio.Event()
        self._ready = False

    async def put(self, value: bytes, priority: int = 100) -> str:
        await self._ensure()
        return await _put(self.client, self.entries, value, priority)

    async def put_all(self, values: Iterable[bytes], priority: int = 100) -> list[str]:
        return [await self.put(v, priority) for v in values]

    def holds_lock(self) -> bool:
        """True while this consumer holds an item taken by ``get``."""
        return self.held is not None

    async def length(self) -> int:
        await self._ensure()
        return len(_entries(await self.client.get_children(self.entries)))

    async def get(self, timeout: float | None = None) -> bytes | None:
        """Wait for an item and lock it; None if ``timeout`` passed first."""
        if self.held is not None:
            raise RuntimeError("consume() or release() the held item before taking another")
        await self._ensure()
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        while True:
            self._changed.clear()
            names = _entries(await self.client.get_children(self.entries, watch=self._on_change))
            taken = set(await self.client.get_children(self.taken, watch=self._on_change))
            for name in names:
                if name in taken or not await self._lock(name):
                    continue
                try:
                    data, _ = await self.client.get(join(self.entries, name))
                except NoNodeError:  # consumed between our listing and our lock
                    await delete_quietly(self.client, join(self.taken, name))
                    continue
                self.held = name
                return data
            try:
                async with asyncio.timeout(remaining(deadline)):
                    await self._changed.wait()
            except TimeoutError:
                return None

    async def consume(self) -> bool:
        """Remove the held item for good; False if none is held."""
        name, self.held = self.held, None
        if name is None:
            return False
        txn = self.client.transaction()
        txn.delete(join(self.entries, name))
        txn.delete(join(self.taken, name))
        await txn.commit()
        return True

    async def release(self) -> bool:
        """Put the held item back for another consumer; False if none is held."""
        name, self.held = self.held, None
        if name is None:
            return False
        return await delete_quietly(self.client, join(self.taken, name))

    async def _lock(self, name: str) -> bool:
        path = join(self.taken, name)
        try:
            await self.client.create(path, self.identifier.encode(), ephemeral=True)
            return True
        except NodeExistsError:
            return False
        except ConnectionLoss:  # did our create go through? the owner tells
            stat = await self.client.retry(self.client.exists, path)
            client_id = self.client.client_id
            return (
                stat is not None and client_id is not None and stat.ephemeral_owner == client_id[0]
            )

    async def _ensure(self) -> None:
        if not self._ready:
            await self.client.ensure_path(self.entries)
            await self.client.ensure_path(self.taken)
            self._ready = True

    async def _on_change(self, _event: WatchedEvent) -> None:
        self._changed.set()


class Queue(SyncRecipe):
    """A FIFO queue with priorities over the blocking Client (see AsyncQueue).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Queue

        with Client("127.0.0.1:2181") as client:
            jobs = Queue(client, "/queues/jobs")
            jobs.put(b"later")
            jobs.put(b"urgent", priority=1)
            print(jobs.get(), jobs.get(), len(jobs))   # b'urgent' b'later' 0
    """

    def __init__(self, client: Any, path: str) -> None:
        self._wrap(client, lambda c: AsyncQueue(c, path))

    path = mirrored("path")
    put = blocking(AsyncQueue.put)
    put_all = blocking(AsyncQueue.put_all)
    get = blocking(AsyncQueue.get)

    def __len__(self) -> int:
        return self._bridge.run(self._core.length())


class LockingQueue(SyncRecipe):
    """A queue whose items stay until consumed, over the blocking Client.

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import LockingQueue

        with Client("127.0.0.1:2181") as client:
            jobs = LockingQueue(client, "/queues/reliable")
            jobs.put(b"resize image 7")
            item = jobs.get(timeout=5)
            print("working on", item, jobs.holds_lock())
            jobs.consume()
    """

    def __init__(self, client: Any, path: str, identifier: str | None = None) -> None:
        self._wrap(client, lambda c: AsyncLockingQueue(c, path, identifier))

    path = mirrored("path")
    put = blocking(AsyncLockingQueue.put)
    put_all = blocking(AsyncLockingQueue.put_all)
    get = blocking(AsyncLockingQueue.get)
    consume = blocking(AsyncLockingQueue.consume)
    release = blocking(AsyncLockingQueue.release)

    def holds_lock(self) -> bool:
        return self._core.holds_lock()

    def __len__(self) -> int:
        return self._bridge.run(self._core.length())
