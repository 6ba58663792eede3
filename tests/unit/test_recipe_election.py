"""Election and LeaderLatch against the in-memory FakeCoordClient, async and sync forms."""

from __future__ import annotations

import asyncio
import threading

import pytest
from coordsvc.recipes import AsyncElection, AsyncLeaderLatch, Election, LeaderLatch
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


def kids(server: FakeServer, path: str) -> int:
    node = server.nodes.get(path)
    return 0 if node is None else len(node.children)


# ---- Election -------------------------------------------------------------------------


async def test_run_hands_func_its_leadership_and_resigns_after(server) -> None:
    (a,) = await started(server, 1)
    election = AsyncElection(a, "/el", "a")

    async def lead(leadership, x):
        assert leadership.is_safe() and not leadership.is_lost()
        assert election.leadership is leadership
        assert await election.contenders() == ["a"]
        return x * 2, leadership

    result, leadership = await election.run(lead, 21)
    assert result == 42
    assert leadership.is_lost() and leadership.reason == "released"
    assert kids(server, "/el") == 0


async def test_one_leader_at_a_time_in_queue_order(server) -> None:
    clients = await started(server, 4)
    order: list[str] = []
    leaders = 0
    gates = [asyncio.Event() for _ in clients]

    async def lead(leadership, i):
        nonlocal leaders
        leaders += 1
        assert leaders == 1
        order.append(f"c{i}")
        await gates[i].wait()
        leaders -= 1

    tasks = []
    for i, c in enumerate(clients):
        tasks.append(asyncio.ensure_future(AsyncElection(c, "/el", f"c{i}").run(lead, i)))
        await until(lambda n=i + 1: kids(server, "/el") == n)
    for i, gate in enumerate(gates):
        await until(lambda n=i + 1: len(order) == n)
        gate.set()
    await asyncio.gather(*tasks)
    assert order == ["c0", "c1", "c2", "c3"]


async def test_a_lost_session_sets_lost_and_cancels_the_leader(server) -> None:
    a, b = await started(server, 2)
    seen = {}
    cancelled = asyncio.Event()

    async def lead(leadership):
        seen["leadership"] = leadership
        try:
            await asyncio.Event().wait()  # lead until told otherwise
        except asyncio.CancelledError:
            cancelled.set()
            raise

    run = asyncio.ensure_future(AsyncElection(a, "/el", "a").run(lead))
    await until(lambda: "leadership" in seen)
    follower = asyncio.ensure_future(AsyncElection(b, "/el", "b").run(lambda ld: ld.fencing_token))
    await until(lambda: kids(server, "/el") == 2)
    a.expire()
    assert seen["leadership"].is_lost() and seen["leadership"].reason == "session lost"
    assert await asyncio.wait_for(run, 5) is None
    assert cancelled.is_set()
    assert await asyncio.wait_for(follower, 5) > seen["leadership"].fencing_token


async def test_suspended_is_unsafe_by_default_and_lost_with_lose_on_suspend(server) -> None:
    a, b = await started(server, 2)
    calm = AsyncElection(a, "/calm")
    async with calm.lead() as leadership:
        a.suspend()
        assert leadership.suspended and not leadership.is_safe() and not leadership.is_lost()
        a.resume()
        assert leadership.is_safe()

    strict = AsyncElection(b, "/strict", lose_on_suspend=True)
    got = {}

    async def lead(leadership):
        got["l"] = leadership
        await asyncio.Event().wait()

    run = asyncio.ensure_future(strict.run(lead))
    await until(lambda: "l" in got)
    b.suspend()
    assert got["l"].is_lost() and got["l"].reason == "connection suspended"
    b.resume()
    assert await asyncio.wait_for(run, 5) is None
    await until(lambda: kids(server, "/strict") == 0)


async def test_deleting_the_leaders_node_ends_leadership(server) -> None:
    a, b = await started(server, 2)
    async with AsyncElection(a, "/el").lead() as leadership:
        await b.delete(leadership.node)
        assert await leadership.wait_lost(5)
        assert leadership.reason == "node deleted"


async def test_cancel_stops_a_campaign(server) -> None:
    a, b = await started(server, 2)
    async with AsyncElection(a, "/el").lead():
        waiting = AsyncElection(b, "/el")
        run = asyncio.ensure_future(waiting.run(lambda ld: "never"))
        await until(lambda: kids(server, "/el") == 2)
        waiting.cancel()
        assert await asyncio.wait_for(run, 5) is None
    with pytest.raises(TimeoutError):
        async with AsyncElection(a, "/el2").lead(), AsyncElection(b, "/el2").lead(timeout=0.05):
            pass


def test_sync_election_func_runs_in_the_calling_thread_and_sees_loss(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        election = Election(client, "/el", "sync")
        observed = {}

        def lead(leadership):
            observed["thread"] = threading.current_thread()
            observed["token"] = leadership.fencing_token
            client.call(client.async_client.expire)  # the session dies under us
            observed["lost"] = leadership.lost.wait(5)
            observed["reason"] = leadership.reason
            return "done"

        assert election.run(lead) == "done"
        assert observed["thread"] is threading.current_thread()
        assert observed["lost"] and observed["reason"] == "session lost"
        assert observed["token"] > 0
    finally:
        client.close()


def test_sync_election_cancel_from_another_thread(server) -> None:
    holder, waiter = FakeSyncClient(server), FakeSyncClient(server)
    holder.start()
    waiter.start()
    try:
        first = Election(holder, "/el", "first")
        second = Election(waiter, "/el", "second")
        result = {}
        inside = threading.Event()
        done = threading.Event()

        def hold(leadership):
            inside.set()
            done.wait(10)

        t1 = threading.Thread(target=lambda: first.run(hold))
        t1.start()
        assert inside.wait(5)
        t2 = threading.Thread(target=lambda: result.setdefault("r", second.run(lambda ld: "x")))
        t2.start()
        while second.contenders() != ["first", "second"]:
            pass
        second.cancel()
        t2.join(5)
        assert result == {"r": None}
        done.set()
        t1.join(5)
    finally:
        holder.close()
        waiter.close()


# ---- LeaderLatch ------------------------------------------------------------------------


async def test_latch_leads_hands_over_on_close_and_tells_listeners(server) -> None:
    a, b = await started(server, 2)
    first, second = AsyncLeaderLatch(a, "/latch", "a"), AsyncLeaderLatch(b, "/latch", "b")
    heard: list[tuple[str, bool]] = []
    first.add_listener(lambda leading: heard.append(("a", leading)))
    second.add_listener(lambda leading: heard.append(("b", leading)))
    await first.start()
    assert await first.await_leadership(5)
    await second.start()
    assert not await second.await_leadership(0.05)
    assert await first.contenders() == ["a", "b"]
    assert first.lease is not None and second.lease is None
    await first.close()
    assert await second.await_leadership(5)
    assert heard == [("a", True), ("a", False), ("b", True)]
    await second.close()
    assert not second.has_leadership


async def test_latch_is_not_leading_while_suspended_and_rejoins_after_lost(server) -> None:
    (a,) = await started(server, 1)
    latch = AsyncLeaderLatch(a, "/latch")
    heard: list[bool] = []
    latch.add_listener(heard.append)
    await latch.start()
    assert await latch.await_leadership(5)
    a.suspend()
    assert not latch.has_leadership
    a.resume()
    assert latch.has_leadership
    a.expire()
    assert not latch.has_leadership
    await a.start()  # a new session: the latch joins again and, alone, leads
    assert await latch.await_leadership(5)
    assert heard == [True, False, True, False, True]
    await latch.close()


def test_sync_latch_listeners_run_off_the_loop(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        latch = LeaderLatch(client, "/latch", "s")
        threads = []
        leading = threading.Event()

        def listener(is_leader: bool) -> None:
            threads.append(threading.current_thread())
            leading.set()

        latch.add_listener(listener)
        latch.start()
        assert latch.await_leadership(5)
        assert latch.has_leadership and latch.fencing_token > 0
        assert leading.wait(5)
        assert threads[0] is not threading.current_thread()
        assert threads[0] is not client._thread
        latch.close()
        assert not latch.has_leadership
    finally:
        client.close()


def test_sync_campaign_and_resign(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        election = Election(client, "/el", "me")
        leadership = election.campaign(timeout=5)
        assert leadership is not None and leadership.is_safe()
        assert election.contenders() == ["me"]
        assert election.resign() and leadership.is_lost() and leadership.reason == "released"
        assert not election.resign()
    finally:
        client.close()
