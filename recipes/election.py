"""Election: run a function while this contender is the leader, and tell it when it is not.

Candidates queue exactly as lock contenders do (the election is a Lock on
``path``; each candidate watches only the one before it). The leader's
function receives a ``Leadership`` (a Lease) as its first argument:
``leadership.lost`` is set and ``leadership.is_lost()`` turns True when
leadership ends, and ``leadership.fencing_token`` goes with every write the
leader makes, so a resource can refuse a deposed leader (``TokenGuard``).

SUSPENDED policy. While the connection is SUSPENDED the session may still
be alive (and so may the leadership) or may already have expired on the
server, letting another candidate lead. By default SUSPENDED makes the
leadership unsafe, not lost: ``leadership.is_safe()`` is False and
``leadership.suspended`` is True until the same session resumes, and the
leader should pause side effects meanwhile. With ``lose_on_suspend=True``
SUSPENDED ends the leadership at once (``lost`` is set, reason
"connection suspended") and the candidate's node is deleted when the
connection returns: choose it when two leaders acting at once, even
briefly, is worse than a needless change of leader. LOST (the session
expired) and deletion of the leader's node always end the leadership.

The async form cancels the leader's coroutine when leadership is lost (it
sees CancelledError and may clean up); the sync form cannot stop a thread,
so the function must watch ``leadership.lost`` and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._lease import Lease, SyncLease
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import AsyncRecipe
from coordsvc.recipes.lock import AsyncLock

__all__ = ["AsyncElection", "Election", "Leadership", "SyncLeadership"]

Leadership = Lease
SyncLeadership = SyncLease


class AsyncElection(AsyncRecipe):
    """Leader election over an AsyncClient (see module doc).

    ``Election(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncElection

        async def lead(leadership, name):
            print(name, "leads with token", leadership.fencing_token)
            # work until done; this coroutine is cancelled if leadership is lost

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                election = AsyncElection(client, "/election/scheduler", "node-a")
                await election.run(lead, "node-a")

        asyncio.run(main())
    """

    def __init__(
        self,
        client: CoordClient,
        path: str,
        identifier: str | None = None,
        *,
        lose_on_suspend: bool = False,
    ) -> None:
        self.client = client
        self.path = path
        self._lock = AsyncLock(client, path, identifier, lose_on_suspend=lose_on_suspend)

    def __repr__(self) -> str:
        return f"<AsyncElection {self.path} id={self.identifier!r}>"

    @property
    def identifier(self) -> str:
        return self._lock.identifier

    @property
    def leadership(self) -> Leadership | None:
        """The current leadership, or None while not leading."""
        lease = self._lock.lease
        return lease if lease is not None and not lease.is_lost() else None

    async def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Campaign, call ``func(leadership, *args, **kwargs)`` as leader, then resign.

        Returns what ``func`` returned, or None when the campaign was
        cancelled, or when leadership was lost and the coroutine cancelled.
        """
        leadership = await self.campaign()
        if leadership is None:
            return None
        try:
            result = func(leadership, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await _until_lost(result, leadership)
            return result
        finally:
            await self.resign()

    @contextlib.asynccontextmanager
    async def lead(self, timeout: float | None = None) -> AsyncIterator[Leadership]:
        """``async with election.lead() as leadership:`` hold leadership for a block.

        Raises TimeoutError if not elected within ``timeout``. The block is
        not cancelled on loss: watch ``leadership.lost``.
        """
        leadership = await self.campaign(timeout)
        if leadership is None:
            raise TimeoutError(f"not elected at {self.path} within {timeout}s")
        try:
            yield leadership
        finally:
            await self.resign()

    def cancel(self) -> None:
        """Stop campaigning: a waiting ``run`` returns None (call on the loop)."""
        self._lock.cancel()

    async def contenders(self) -> list[str]:
        """The identifiers of every candidate, the leader first."""
        return await self._lock.contenders()

    async def campaign(self, timeout: float | None = None) -> Leadership | None:
        """Wait to be elected; the Leadership, or None on timeout or ``cancel()``.

        For callers that manage leadership themselves; ``resign()`` ends it.
        """
        if not await self._lock.acquire(timeout=timeout):
            return None
        return self._lock.lease

    async def resign(self) -> bool:
        """Give leadership up (or stop campaigning); False if not leading."""
        return await self._lock.release()


async def _until_lost(awaitable: Any, leadership: Leadership) -> Any:
    """Await ``awaitable``; cancel it (and return None) if ``leadership`` is lost first."""
    work = asyncio.ensure_future(awaitable)
    lost = asyncio.ensure_future(leadership.lost.wait())
    try:
        await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        work.cancel()
        raise
    finally:
        lost.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work  # let it clean up
    return None


class Election(SyncRecipe):
    """Leader election over the blocking Client (see AsyncElection).

    ``func`` runs in the calling thread and gets a SyncLeadership: poll
    ``leadership.is_lost()`` or wait on ``leadership.lost`` (a
    threading.Event) and return when it is set. Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Election

        def lead(leadership):
            print("leading with token", leadership.fencing_token)
            while not leadership.lost.wait(0.1):
                break  # do a unit of work per turn; stop when lost

        with Client("127.0.0.1:2181") as client:
            Election(client, "/election/scheduler", "node-a").run(lead)
    """

    def __init__(
        self,
        client: Any,
        path: str,
        identifier: str | None = None,
        *,
        lose_on_suspend: bool = False,
    ) -> None:
        self._wrap(
            client, lambda c: AsyncElection(c, path, identifier, lose_on_suspend=lose_on_suspend)
        )

    path = mirrored("path")
    identifier = mirrored("identifier")
    contenders = blocking(AsyncElection.contenders)
    resign = blocking(AsyncElection.resign)

    def campaign(self, timeout: float | None = None) -> SyncLeadership | None:
        """Wait to be elected; the leadership, or None on timeout or ``cancel()``."""
        lease = self._bridge.run(self._core.campaign(timeout))
        return None if lease is None else SyncLease(lease)

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Campaign, call ``func(leadership, *args, **kwargs)`` here as leader, resign.

        Returns what ``func`` returned, or None if the campaign was cancelled.
        """
        lease = self._bridge.run(self._core.campaign())
        if lease is None:
            return None
        try:
            return func(SyncLease(lease), *args, **kwargs)
        finally:
            self._bridge.run(self._core.resign())

    def cancel(self) -> None:
        """Stop campaigning; a ``run`` waiting in another thread returns None."""
        self._bridge.call_soon(self._core.cancel)
