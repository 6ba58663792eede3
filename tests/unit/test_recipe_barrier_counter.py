"""Barrier, DoubleBarrier, Counter and Party against the in-memory FakeCoordClient."""

from __future__ import annotations

import asyncio
import threading

import pytest
from coordsvc.client.errors import ConnectionLoss
from coordsvc.recipes import (
    AsyncBarrier,
    AsyncCounter,
    AsyncDoubleBarrier,
    AsyncParty,
    AsyncShallowParty,
    Counter,
    DoubleBarrier,
    Party,
)
from fake_coord import FakeCoordClient, FakeServer, FakeSyncClient


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


async def started(server: FakeServer, n: int) -> list[FakeCoordClient]:
    clients = [server.client() for _ in range(n)]
    for c in clients:
        await c.start()
    return clients


async def until(check, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


def kids(server: FakeServer, path: str) -> list[str]:
    node = server.nodes.get(path)
    return [] if node is None else sorted(node.children)


# ---- Barrier -----------------------------------------------------------------------------


async def test_barrier_holds_waiters_until_removed(server) -> None:
    a, b, c = await started(server, 3)
    gate = AsyncBarrier(a, "/gate")
    await gate.create()
    await gate.create()  # idempotent
    assert await AsyncBarrier(b, "/gate").wait(timeout=0.02) is False
    waiters = [asyncio.ensure_future(AsyncBarrier(x, "/gate").wait()) for x in (b, c)]
    await until(lambda: b.calls["exists"] >= 2 and c.calls["exists"] >= 1)
    assert not any(w.done() for w in waiters)
    assert await gate.remove()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True, True]
    assert not await gate.remove()
    assert await gate.wait(timeout=0)


async def test_double_barrier_enters_and_leaves_together(server) -> None:
    clients = await started(server, 3)
    barriers = [AsyncDoubleBarrier(c, "/db", 3, f"p{i}") for i, c in enumerate(clients)]
    first = [asyncio.ensure_future(b.enter()) for b in barriers[:2]]
    await until(lambda: len(kids(server, "/db")) == 2)
    assert not any(t.done() for t in first)
    await barriers[2].enter()  # the third completes the count
    await asyncio.wait_for(asyncio.gather(*first), 5)
    assert "ready" in kids(server, "/db")
    assert all(b.participating for b in barriers)

    watched = [c.calls["exists"] for c in clients]
    leaving = [asyncio.ensure_future(b.leave()) for b in barriers[1:]]
    # both are waiting (each set a watch) ...
    await until(lambda: all(clients[i].calls["exists"] > watched[i] for i in (1, 2)))
    assert not any(t.done() for t in leaving)  # they wait for the last one
    await barriers[0].leave()
    await asyncio.wait_for(asyncio.gather(*leaving), 5)
    assert kids(server, "/db") == []  # ready removed: the barrier can be used again
    assert not any(b.participating for b in barriers)


async def test_double_barrier_counts_a_dead_session_as_left(server) -> None:
    a, b = await started(server, 2)
    ba, bb = AsyncDoubleBarrier(a, "/db", 2), AsyncDoubleBarrier(b, "/db", 2)
    await asyncio.gather(ba.enter(), bb.enter())
    leaving = asyncio.ensure_future(ba.leave())
    await until(lambda: a.calls["exists"] >= 2)
    b.expire()  # b's node goes with its session
    await asyncio.wait_for(leaving, 5)


async def test_double_barrier_enter_timeout_withdraws(server) -> None:
    (a,) = await started(server, 1)
    barrier = AsyncDoubleBarrier(a, "/db", 2)
    with pytest.raises(TimeoutError):
        await barrier.enter(timeout=0.02)
    assert kids(server, "/db") == [] and not barrier.participating


def test_sync_double_barrier_in_threads(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        order: list[str] = []
        lock = threading.Lock()

        def worker(i: int) -> None:
            barrier = DoubleBarrier(client, "/db", 3, f"t{i}")
            barrier.enter()
            with lock:
                order.append("in")
            barrier.leave()
            with lock:
                order.append("out")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert order.count("in") == 3 and order.count("out") == 3
        assert order.index("out") >= 3  # nobody was out before everyone was in
    finally:
        client.close()


# ---- Counter -------------------------------------------------------------------------------


async def test_counter_adds_with_compare_and_set(server) -> None:
    clients = await started(server, 10)
    counters = [AsyncCounter(c, "/cnt") for c in clients]
    assert await counters[0].get() == 0
    await asyncio.gather(*(c.add(1) for c in counters for _ in range(5)))
    assert await counters[0].get() == 50
    # interleaved reads and writes made some writers lose the race and retry
    assert sum(c.calls["set"] for c in clients) > 50
    assert await counters[0].sub(8) == 42
    assert (counters[0].pre_value, counters[0].post_value) == (50, 42)


async def test_counter_float_and_default(server) -> None:
    (a,) = await started(server, 1)
    c = AsyncCounter(a, "/f", default=1.5, default_type=float)
    assert await c.add(1) == 2.5
    assert server.nodes["/f"].data == b"2.5"
    with pytest.raises(TypeError):
        await c.add("1")  # type: ignore[arg-type]


async def test_counter_write_of_unknown_outcome_is_not_retried(server) -> None:
    (a,) = await started(server, 1)
    c = AsyncCounter(a, "/cnt")
    await c.add(1)
    a.script("set", after=True)  # applied, reply lost: retrying could add twice
    with pytest.raises(ConnectionLoss):
        await c.add(1)
    assert await c.get() == 2


def test_sync_counter_supports_plus_equals(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        counter = Counter(client, "/cnt")
        counter += 5
        counter -= 2
        assert counter.value == 3
        assert (counter.pre_value, counter.post_value) == (5, 3)
    finally:
        client.close()


# ---- Party -----------------------------------------------------------------------------------


async def test_party_members_come_and_go_with_sessions(server) -> None:
    a, b = await started(server, 2)
    pa, pb = AsyncParty(a, "/party", "alice"), AsyncParty(b, "/party", "bob")
    await pa.join()
    await pa.join()  # joining twice is one membership
    await pb.join()
    assert sorted(await pa.members()) == ["alice", "bob"]
    assert [m async for m in pa] == await pa.members()
    b.expire()
    assert await pa.members() == ["alice"] and await pa.count() == 1
    assert await pa.leave() and not pa.participating
    assert await pa.members() == []


async def test_shallow_party_keeps_identifiers_in_names(server) -> None:
    (a,) = await started(server, 1)
    party = AsyncShallowParty(a, "/edge", "edge-eu-1")
    await party.join()
    assert await party.members() == ["edge-eu-1"]
    assert server.nodes[party.node].data == b""
    with pytest.raises(ValueError):
        AsyncShallowParty(a, "/edge", "bad/name")


def test_sync_party_iterates_and_counts(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        party = Party(client, "/party", "solo")
        party.join()
        assert list(party) == ["solo"] and len(party) == 1
        party.leave()
        assert len(party) == 0
    finally:
        client.close()
