"""Two-phase commit against a real coordination service: one outcome, learned by every party."""

from __future__ import annotations

import asyncio

import recipe_env
from coordsvc.client import AsyncClient
from coordsvc.recipes import AsyncTwoPhaseCommit, Outcome
from recipe_env import end_children, python_child, read_line, sigkill

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

JOIN_THEN_HANG = """
import sys, threading
from coordsvc.client import Client
from coordsvc.recipes import TwoPhaseCommit
client = Client(sys.argv[1], session_timeout=1.0)
client.start()
TwoPhaseCommit(client, sys.argv[2], sys.argv[3]).join(timeout=10)
print("joined", flush=True)
threading.Event().wait()
"""


async def started(address: str, n: int) -> list[AsyncClient]:
    clients = [AsyncClient(address, session_timeout=5.0) for _ in range(n)]
    await asyncio.gather(*(c.start() for c in clients))
    return clients


async def stopped(clients: list[AsyncClient]) -> None:
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


async def one_round(address: str, path: str, votes: dict[str, bool]) -> list[Outcome]:
    coordinator_client, *clients = await started(address, 1 + len(votes))
    try:
        coordinator = AsyncTwoPhaseCommit(coordinator_client, path)

        async def participant(name: str, client: AsyncClient) -> Outcome:
            tx = AsyncTwoPhaseCommit(client, path, name)
            assert await tx.join(timeout=10) == b"transfer"
            return await tx.vote(votes[name], timeout=10)

        parts = [
            asyncio.ensure_future(participant(n, c)) for n, c in zip(votes, clients, strict=True)
        ]
        outcome = await coordinator.propose(list(votes), b"transfer", timeout=10)
        outcomes = [outcome, *await asyncio.gather(*parts)]
        data, _ = await coordinator_client.get(f"{path}/outcome")
        assert data == outcome.value.encode()
        await coordinator.clear()
        return outcomes
    finally:
        await stopped([coordinator_client, *clients])


async def test_commits_only_when_every_participant_votes_yes(coord, base) -> None:
    yes = await one_round(coord, f"{base}/tx/yes", {"a": True, "b": True, "c": True, "d": True})
    assert yes == [Outcome.COMMIT] * 5


async def test_aborts_for_everyone_when_one_votes_no(coord, base) -> None:
    no = await one_round(coord, f"{base}/tx/no", {"a": True, "b": True, "c": False, "d": True})
    assert no == [Outcome.ABORT] * 5


async def test_aborts_when_a_participant_dies_before_voting(coord, base) -> None:
    coordinator_client, a = await started(coord, 2)
    doomed = python_child(JOIN_THEN_HANG, coord, f"{base}/tx/dead", "b")
    try:
        coordinator = AsyncTwoPhaseCommit(coordinator_client, f"{base}/tx/dead")
        await coordinator.begin(["a", "b"], b"transfer")
        assert read_line(doomed) == "joined"
        outcome = asyncio.ensure_future(coordinator.outcome(timeout=15))
        tx_a = AsyncTwoPhaseCommit(a, f"{base}/tx/dead", "a")
        await tx_a.join()
        voted = asyncio.ensure_future(tx_a.vote(True, timeout=15))
        sigkill(doomed)  # b joined, then died without a vote: its session expires
        assert await outcome == Outcome.ABORT
        assert await voted == Outcome.ABORT  # a voted yes and still learns the abort
    finally:
        end_children([doomed])
        await stopped([coordinator_client, a])
