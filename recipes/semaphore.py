"""Semaphore: at most ``max_leases`` holders at once, without a herd.

Contenders are ephemeral sequential nodes ``<guid>__lease__<seq>`` under
the semaphore's path; the first ``max_leases`` of them hold a lease. The
path's own data records ``max_leases``, so every contender agrees on it
(a different value raises ValueError).

Who watches what, so that one release wakes one waiter:

- the first waiter (position ``max_leases``) watches every holder: any
  release makes it a holder;
- every later waiter watches only the node just before it. A waiter that
  becomes a holder marks its node (a data write), which wakes the one
  behind it to move up to first waiter. A waiter that reads its
  predecessor already marked looks again instead of waiting.

SUSPENDED and LOST are handled as for Lock: the lease becomes unsafe, then
is lost.
"""

from __future__ import annotations

from typing import Any

from coordsvc.client.errors import NodeExistsError
from coordsvc.recipes._bridge import blocking
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes.lock import AsyncLock, Lock

__all__ = ["AsyncSemaphore", "Semaphore"]

LEASE = "__lease__"


class AsyncSemaphore(AsyncLock):
    """A counting semaphore over an AsyncClient (see module doc).

    ``Semaphore(client, path, identifier=None, max_leases=1)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncSemaphore

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                sem = AsyncSemaphore(client, "/sem/downloads", "job-7", max_leases=3)
                async with sem:
                    print("one of at most 3:", await sem.lease_holders())

        asyncio.run(main())
    """

    _MARKER = LEASE
    _MARKERS = (LEASE,)

    def __init__(
        self,
        client: CoordClient,
        path: str,
        identifier: str | None = None,
        max_leases: int = 1,
        *,
        lose_on_suspend: bool = False,
    ) -> None:
        if not isinstance(max_leases, int) or max_leases < 1:
            raise ValueError("max_leases must be a positive int")
        super().__init__(client, path, identifier, lose_on_suspend=lose_on_suspend)
        self.max_leases = max_leases

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait for a lease; False on timeout, non-blocking miss or ``cancel()``."""
        await self._check_max_leases()
        return await super().acquire(blocking, timeout)

    async def lease_holders(self) -> list[str]:
        """The identifiers of the current lease holders."""
        return (await self.contenders())[: self.max_leases]

    async def _check_max_leases(self) -> None:
        wanted = str(self.max_leases).encode()
        try:
            await self.client.create(self.path, wanted, makepath=True)
            return
        except NodeExistsError:
            pass
        data, _ = await self.client.get(self.path)
        if not data:  # the path existed as a plain node: claim it
            await self.client.set(self.path, wanted, version=0)
        elif data != wanted:
            raise ValueError(
                f"semaphore {self.path} has max_leases {data.decode()}, not {self.max_leases}"
            )

    def _blockers(self, nodes: list[str], me: str) -> list[tuple[str, bool]]:
        i, n = nodes.index(me), self.max_leases
        if i < n:
            return []
        if i == n:
            return [(holder, False) for holder in nodes[:n]]
        return [(nodes[i - 1], True)]

    async def _on_acquired(self, node: str) -> None:
        # the mark: wakes the waiter right behind us, which may now be first
        await self.client.retry(self.client.set, node, self.identifier.encode())


class Semaphore(Lock):
    """A counting semaphore over the blocking Client (see AsyncSemaphore).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Semaphore

        with Client("127.0.0.1:2181") as client:
            sem = Semaphore(client, "/sem/downloads", "job-7", max_leases=3)
            with sem:
                print("one of at most 3:", sem.lease_holders())
    """

    def __init__(
        self,
        client: Any,
        path: str,
        identifier: str | None = None,
        max_leases: int = 1,
        *,
        lose_on_suspend: bool = False,
    ) -> None:
        self._wrap(
            client,
            lambda c: AsyncSemaphore(
                c, path, identifier, max_leases, lose_on_suspend=lose_on_suspend
            ),
        )

    max_leases = property(lambda self: self._core.max_leases)
    acquire = blocking(AsyncSemaphore.acquire)
    lease_holders = blocking(AsyncSemaphore.lease_holders)
