"""TwoPhaseCommit: every participant votes, every party learns the one outcome.

The protocol of ZooKeeper's recipes page, with the transaction node as the
coordinator's and one child per participant for its vote::

    <path>               the proposal (data: its payload), made by the coordinator
    <path>/votes/<name>  one per participant, made with the proposal:
                           empty (version 0)   not joined yet
                           b"joined" (1)       joined, not voted
                           b"commit"/b"abort"  its vote (2)
    <path>/alive/<name>  ephemeral: the participant's session, made when it joins
    <path>/outcome       b"commit" or b"abort": created once, by whoever decides

A participant ``join()``s (alive node and b"joined" in one transaction),
does its part and ``vote()``s by writing its node at version 1, so it votes
once. Every party (the coordinator and each participant) then watches the
outcome, the alive nodes and the votes, and decides as soon as it can:
abort on any b"abort" vote or when a participant that joined lost its
session before voting (its alive node is gone while its vote says
"joined"); commit only when every vote is b"commit". The decision is the
creation of ``outcome``; a create is atomic, so the first decider fixes
the outcome and every other party reads that one. The coordinator may also
abort when not everyone has voted within its ``timeout``.

A participant is taken for dead only after a second look: when its vote
says "joined" but its alive node was not listed, the alive node is checked
again and then the vote re-read. One that joined after the listing is then
seen alive, and one that voted before its session died is seen as having
voted; only a vote still at "joined" after its alive node was found gone
means the session died before voting.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from typing import Any

from coordsvc.client.errors import BadVersionError, ConnectionLoss, NodeExistsError, NoNodeError
from coordsvc.client.watches import WatchedEvent
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import AsyncRecipe, join, remaining

__all__ = ["AsyncTwoPhaseCommit", "TwoPhaseCommit", "Outcome", "decide"]

JOINED = b"joined"


class Outcome(enum.StrEnum):
    COMMIT = "commit"
    ABORT = "abort"


def decide(votes: dict[str, tuple[bytes, int]], alive: set[str]) -> Outcome | None:
    """The outcome the votes (name -> (data, version)) and alive sessions force, if any."""
    if any(data == b"abort" for data, _ in votes.values()):
        return Outcome.ABORT
    if any(data == JOINED and name not in alive for name, (data, _) in votes.items()):
        return Outcome.ABORT  # joined, then its session died before it voted
    if votes and all(data == b"commit" for data, _ in votes.values()):
        return Outcome.COMMIT
    return None


class AsyncTwoPhaseCommit(AsyncRecipe):
    """Two-phase commit over an AsyncClient (see module doc).

    ``TwoPhaseCommit(client, path, identifier=None)``: the identifier is the
    participant's name (the coordinator needs none). Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncTwoPhaseCommit

        async def participant(client, name):
            tx = AsyncTwoPhaseCommit(client, "/tx/42", name)
            payload = await tx.join()
            return await tx.vote(commit=payload == b"move 10 from a to b")

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                coordinator = AsyncTwoPhaseCommit(client, "/tx/42")
                await coordinator.begin(["a", "b"], b"move 10 from a to b")
                outcomes = await asyncio.gather(
                    participant(client, "a"), participant(client, "b"),
                    coordinator.outcome(timeout=10, abort_on_timeout=True))
                print(outcomes)   # all three: Outcome.COMMIT
                await coordinator.clear()

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str, identifier: str | None = None) -> None:
        self.client = client
        self.path = path.rstrip("/")
        self.identifier = identifier
        self._votes = join(self.path, "votes")
        self._alive = join(self.path, "alive")
        self._outcome = join(self.path, "outcome")
        self._changed = asyncio.Event()

    # ---- coordinator ----------------------------------------------------------

    async def begin(self, participants: Sequence[str], payload: bytes = b"") -> None:
        """Propose: create the transaction node and one vote node per participant."""
        names = list(participants)
        if not names or len(set(names)) != len(names) or any("/" in n or not n for n in names):
            raise ValueError("participants must be distinct, non-empty node names")
        parent = self.path.rsplit("/", 1)[0]
        if parent:
            await self.client.ensure_path(parent)
        txn = self.client.transaction()
        txn.create(self.path, payload)
        txn.create(self._votes)
        txn.create(self._alive)
        for name in names:
            txn.create(join(self._votes, name))
        results = await txn.commit()
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def propose(
        self, participants: Sequence[str], payload: bytes = b"", timeout: float | None = None
    ) -> Outcome:
        """``begin`` then wait for the outcome, aborting if undecided after ``timeout``."""
        await self.begin(participants, payload)
        return await self.outcome(timeout, abort_on_timeout=True)

    async def clear(self) -> None:
        """Delete the transaction's nodes (once every party has its outcome)."""
        try:
            await self.client.delete(self.path, recursive=True)
        except NoNodeError:
            pass

    # ---- participant -----------------------------------------------------------

    async def join(self, timeout: float | None = None) -> bytes:
        """Wait for the proposal naming this participant, join it, return its payload."""
        me = self._me()
        deadline = _deadline(timeout)
        while True:
            self._changed.clear()
            if await self.client.exists(me, watch=self._on_change) is not None:
                break
            await self._wait(deadline)
        txn = self.client.transaction()
        txn.create(join(self._alive, self.identifier or ""), ephemeral=True)
        txn.set_data(me, JOINED, version=0)
        results = await txn.commit()
        failed = [r for r in results if isinstance(r, Exception)]
        if failed and not isinstance(failed[0], NodeExistsError):
            raise failed[0]
        data, _ = await self.client.get(self.path)
        return data

    async def vote(self, commit: bool, timeout: float | None = None) -> Outcome:
        """Vote once (after ``join``), then wait for and return the outcome."""
        me = self._me()
        value = b"commit" if commit else b"abort"
        try:
            await self.client.set(me, value, version=1)
        except ConnectionLoss:
            data, stat = await self.client.get(me)  # did our vote land?
            if stat.version != 2 or data != value:
                await self.client.set(me, value, version=1)
        except BadVersionError:
            data, stat = await self.client.get(me)
            raise BadVersionError(
                f"cannot vote at {me}: it says {data!r} (join first; vote once)", me
            ) from None
        return await self.outcome(timeout)

    # ---- everyone --------------------------------------------------------------

    async def outcome(
        self, timeout: float | None = None, abort_on_timeout: bool = False
    ) -> Outcome:
        """Wait for the outcome, deciding it when the votes allow.

        After ``timeout``: decide ABORT if ``abort_on_timeout`` (the
        coordinator's choice), else raise TimeoutError.
        """
        deadline = _deadline(timeout)
        while True:
            self._changed.clear()
            known = await self._read_outcome()
            if known is not None:
                return known
            alive = set(await self._children(self._alive))
            votes = {}
            for name in await self._children(self._votes, watch=False):
                try:
                    data, stat = await self.client.get(
                        join(self._votes, name), watch=self._on_change
                    )
                except NoNodeError:
                    continue
                votes[name] = (data, stat.version)
            await self._second_look(votes, alive)
            decision = decide(votes, alive)
            if decision is None:
                try:
                    await self._wait(deadline)
                    continue
                except TimeoutError:
                    if not abort_on_timeout:
                        raise
                    decision = Outcome.ABORT
            try:
                await self.client.create(self._outcome, decision.value.encode())
            except NodeExistsError:
                pass  # someone decided first: theirs is the outcome

    # ---- internals --------------------------------------------------------------

    def _me(self) -> str:
        if not self.identifier:
            raise ValueError("a participant needs an identifier (its name in the proposal)")
        return join(self._votes, self.identifier)

    async def _second_look(self, votes: dict[str, tuple[bytes, int]], alive: set[str]) -> None:
        """Confirm each joined-but-not-alive participant (see module doc)."""
        for name, (data, _) in list(votes.items()):
            if data != JOINED or name in alive:
                continue
            if await self.client.exists(join(self._alive, name)) is not None:
                alive.add(name)  # joined after we listed the alive nodes
                continue
            try:
                data, stat = await self.client.get(join(self._votes, name), watch=self._on_change)
            except NoNodeError:
                continue
            votes[name] = (data, stat.version)

    async def _read_outcome(self) -> Outcome | None:
        if await self.client.exists(self._outcome, watch=self._on_change) is None:
            return None
        data, _ = await self.client.get(self._outcome)
        return Outcome(data.decode())

    async def _children(self, path: str, watch: bool = True) -> list[str]:
        try:
            return await self.client.get_children(path, watch=self._on_change if watch else None)
        except NoNodeError:
            return []

    async def _wait(self, deadline: float | None) -> None:
        async with asyncio.timeout(remaining(deadline)):
            await self._changed.wait()

    async def _on_change(self, _event: WatchedEvent) -> None:
        self._changed.set()


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


class TwoPhaseCommit(SyncRecipe):
    """Two-phase commit over the blocking Client (see AsyncTwoPhaseCommit).

    Example::

        import threading
        from coordsvc.client import Client
        from coordsvc.recipes import TwoPhaseCommit

        def participant(client, name, results):
            tx = TwoPhaseCommit(client, "/tx/43", name)
            tx.join(timeout=10)
            results[name] = tx.vote(commit=(name != "b"))   # b votes no

        with Client("127.0.0.1:2181") as client:
            coordinator = TwoPhaseCommit(client, "/tx/43")
            coordinator.begin(["a", "b"], b"payload")
            results = {}
            threads = [threading.Thread(target=participant, args=(client, n, results))
                       for n in ("a", "b")]
            for t in threads:
                t.start()
            print(coordinator.outcome(timeout=10))   # Outcome.ABORT
            for t in threads:
                t.join()
            coordinator.clear()
    """

    def __init__(self, client: Any, path: str, identifier: str | None = None) -> None:
        self._wrap(client, lambda c: AsyncTwoPhaseCommit(c, path, identifier))

    path = mirrored("path")
    identifier = mirrored("identifier")
    begin = blocking(AsyncTwoPhaseCommit.begin)
    propose = blocking(AsyncTwoPhaseCommit.propose)
    clear = blocking(AsyncTwoPhaseCommit.clear)
    join = blocking(AsyncTwoPhaseCommit.join)
    vote = blocking(AsyncTwoPhaseCommit.vote)
    outcome = blocking(AsyncTwoPhaseCommit.outcome)
