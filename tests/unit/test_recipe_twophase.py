"""TwoPhaseCommit against the FakeCoordClient, and its decision rule as a table."""

from __future__ import annotations

import asyncio
import threading

import pytest
from coordsvc.client.errors import BadVersionError
from coordsvc.recipes import AsyncTwoPhaseCommit, Outcome, TwoPhaseCommit
from coordsvc.recipes.twophase import decide
from fake_coord import FakeCoordClient, FakeServer, FakeSyncClient

C, A = Outcome.COMMIT, Outcome.ABORT
NOT_JOINED, JOINED = (b"", 0), (b"joined", 1)
YES, NO = (b"commit", 2), (b"abort", 2)


@pytest.mark.parametrize(
    ("votes", "alive", "want"),
    [
        ({"a": YES, "b": YES}, set(), C),  # voted, then left: the votes stand
        ({"a": YES, "b": NO}, {"a", "b"}, A),
        ({"a": YES, "b": JOINED}, {"a", "b"}, None),  # b is still deciding
        ({"a": YES, "b": JOINED}, {"a"}, A),  # b's session died before it voted
        ({"a": YES, "b": NOT_JOINED}, {"a"}, None),  # b has not joined yet
        ({"a": NO, "b": NOT_JOINED}, set(), A),
        ({}, set(), None),
    ],
)
def test_decide(votes, alive, want) -> None:
    assert decide(votes, alive) == want


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


async def started(server: FakeServer, n: int) -> list[FakeCoordClient]:
    clients = [server.client() for _ in range(n)]
    for c in clients:
        await c.start()
    return clients


async def run_round(server: FakeServer, votes: dict[str, bool]) -> list[Outcome]:
    coord_client, *clients = await started(server, 1 + len(votes))
    coordinator = AsyncTwoPhaseCommit(coord_client, "/tx/1")

    async def participant(name: str, client: FakeCoordClient) -> Outcome:
        tx = AsyncTwoPhaseCommit(client, "/tx/1", name)
        assert await tx.join(timeout=5) == b"payload"
        return await tx.vote(votes[name], timeout=5)

    joining = [
        asyncio.ensure_future(participant(n, c)) for n, c in zip(votes, clients, strict=True)
    ]
    await coordinator.begin(list(votes), b"payload")
    outcome = await coordinator.outcome(timeout=5)
    return [outcome, *await asyncio.gather(*joining)]


async def test_all_yes_commits_for_everyone(server) -> None:
    assert await run_round(server, {"a": True, "b": True, "c": True}) == [C] * 4
    assert server.nodes["/tx/1/outcome"].data == b"commit"


async def test_one_no_aborts_for_everyone(server) -> None:
    assert await run_round(server, {"a": True, "b": False, "c": True}) == [A] * 4


async def test_a_participant_dying_before_its_vote_aborts(server) -> None:
    coord_client, a, b = await started(server, 3)
    coordinator = AsyncTwoPhaseCommit(coord_client, "/tx/2")
    await coordinator.begin(["a", "b"])
    await AsyncTwoPhaseCommit(b, "/tx/2", "b").join()
    outcome = asyncio.ensure_future(coordinator.outcome(timeout=5))
    b.expire()  # b joined, then died without voting
    tx_a = AsyncTwoPhaseCommit(a, "/tx/2", "a")
    await tx_a.join()
    assert await tx_a.vote(True, timeout=5) == A
    assert await outcome == A


async def test_a_vote_given_before_dying_still_counts(server) -> None:
    coord_client, a, b = await started(server, 3)
    await AsyncTwoPhaseCommit(coord_client, "/tx/3").begin(["a", "b"])
    tx_b = AsyncTwoPhaseCommit(b, "/tx/3", "b")
    await tx_b.join()
    b_outcome = asyncio.ensure_future(tx_b.vote(True))
    while server.nodes["/tx/3/votes/b"].version != 2:
        await asyncio.sleep(0)
    b.expire()  # gone after voting yes
    with pytest.raises(Exception):  # noqa: B017 - whatever the dead session's wait raised
        await b_outcome
    tx_a = AsyncTwoPhaseCommit(a, "/tx/3", "a")
    await tx_a.join()
    assert await tx_a.vote(True, timeout=5) == C


async def test_the_coordinator_aborts_when_a_participant_never_comes(server) -> None:
    (c,) = await started(server, 1)
    assert await AsyncTwoPhaseCommit(c, "/tx/4").propose(["ghost"], timeout=0.05) == A
    with pytest.raises(TimeoutError):
        await AsyncTwoPhaseCommit(c, "/tx/5").outcome(timeout=0.02)


async def test_a_participant_votes_once(server) -> None:
    coord_client, a = await started(server, 2)
    await AsyncTwoPhaseCommit(coord_client, "/tx/6").begin(["a", "b"])
    tx = AsyncTwoPhaseCommit(a, "/tx/6", "a")
    with pytest.raises(BadVersionError, match="join first"):
        await tx.vote(True, timeout=0.01)
    await tx.join()
    with pytest.raises(TimeoutError):
        await tx.vote(True, timeout=0.02)  # b has not voted: no outcome yet
    with pytest.raises(BadVersionError):
        await tx.vote(False, timeout=0.01)
    await AsyncTwoPhaseCommit(coord_client, "/tx/6").clear()
    assert "/tx/6" not in server.nodes


async def test_begin_checks_participant_names(server) -> None:
    (c,) = await started(server, 1)
    for bad in ([], ["a", "a"], ["a/b"], [""]):
        with pytest.raises(ValueError):
            await AsyncTwoPhaseCommit(c, "/tx/7").begin(bad)


def test_sync_two_phase_commit(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        results = {}

        def participant(name: str) -> None:
            tx = TwoPhaseCommit(client, "/tx/8", name)
            tx.join(timeout=5)
            results[name] = tx.vote(commit=True, timeout=5)

        threads = [threading.Thread(target=participant, args=(n,)) for n in "ab"]
        for t in threads:
            t.start()
        coordinator = TwoPhaseCommit(client, "/tx/8")
        coordinator.begin(["a", "b"], b"x")
        assert coordinator.outcome(timeout=5) == C
        for t in threads:
            t.join(5)
        assert results == {"a": C, "b": C}
    finally:
        client.close()
