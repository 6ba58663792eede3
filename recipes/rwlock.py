"""ReadLock and WriteLock: a shared/exclusive lock on one path.

Readers and writers queue together under the lock's path, as in Lock:
writers as ``<guid>__lock__<seq>`` (the same nodes as Lock, so a Lock and a
WriteLock exclude each other), readers as ``<guid>__rlock__<seq>``. ZooKeeper's
rule decides who holds and whom each waiter watches, so a release wakes only
the waiters it lets through:

- a read lock is held once no write node comes before it; it watches the
  nearest write node before it;
- a write lock is held once it is first; it watches the node just before it,
  whichever kind.

Fencing tokens, SUSPENDED and LOST behave as for Lock.
"""

from __future__ import annotations

from coordsvc.recipes.lock import READ, WRITE, AsyncLock, Lock

__all__ = ["AsyncReadLock", "AsyncWriteLock", "ReadLock", "WriteLock"]


class AsyncWriteLock(AsyncLock):
    """The exclusive side of a read/write lock (same nodes as AsyncLock).

    ``WriteLock(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncWriteLock

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                async with AsyncWriteLock(client, "/locks/table"):
                    print("no reader or writer holds /locks/table")

        asyncio.run(main())
    """


class AsyncReadLock(AsyncLock):
    """The shared side of a read/write lock: readers only wait for earlier writers.

    ``ReadLock(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncReadLock

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                async with AsyncReadLock(client, "/locks/table"):
                    print("reading; other readers may hold it too")

        asyncio.run(main())
    """

    _MARKER = READ

    def _blockers(self, nodes: list[str], me: str) -> list[tuple[str, bool]]:
        writers = [n for n in nodes[: nodes.index(me)] if WRITE in n]
        return [(writers[-1], False)] if writers else []


# ---- sync forms -------------------------------------------------------------------


class WriteLock(Lock):
    """The exclusive side of a read/write lock (see AsyncWriteLock).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import WriteLock

        with Client("127.0.0.1:2181") as client:
            with WriteLock(client, "/locks/table"):
                print("alone with /locks/table")
    """

    _async_class = AsyncWriteLock


class ReadLock(Lock):
    """The shared side of a read/write lock (see AsyncReadLock).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import ReadLock

        with Client("127.0.0.1:2181") as client:
            with ReadLock(client, "/locks/table"):
                print("reading alongside other readers")
    """

    _async_class = AsyncReadLock
