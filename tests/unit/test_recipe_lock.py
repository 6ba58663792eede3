"""Lock, ReadLock/WriteLock, Semaphore and TokenGuard against the in-memory FakeCoordClient."""

from __future__ import annotations

import asyncio

import pytest
from coordsvc.client import KazooState
from coordsvc.client.errors import SessionExpiredError
from coordsvc.recipes import (
    AsyncLock,
    AsyncReadLock,
    AsyncSemaphore,
    AsyncWriteLock,
    StaleTokenError,
    TokenGuard,
)
from fake_coord import FakeCoordClient, FakeServer

K = KazooState


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


async def started(server: FakeServer, n: int) -> list[FakeCoordClient]:
    clients = [server.client() for _ in range(n)]
    for c in clients:
        await c.start()
    return clients


async def until(check, timeout: float = 5.0) -> None:
    """Let the loop run until ``check()`` holds (fails after ``timeout``)."""

    async def poll() -> None:
        while not check():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


def children(server: FakeServer, path: str) -> list[str]:
    return sorted(server.nodes[path].children)


# ---- Lock ---------------------------------------------------------------------------


async def test_acquire_release_contenders_and_rising_tokens(server) -> None:
    a, b = await started(server, 2)
    la, lb = AsyncLock(a, "/lk", "a"), AsyncLock(b, "/lk", "b")
    assert await la.acquire()
    assert la.is_acquired and la.is_safe and la.fencing_token is not None
    waiter = asyncio.ensure_future(lb.acquire())
    await until(lambda: len(children(server, "/lk")) == 2)
    assert await la.contenders() == ["a", "b"]
    assert not waiter.done()
    first = la.fencing_token
    assert await la.release()
    assert await asyncio.wait_for(waiter, 5)
    assert lb.fencing_token > first
    assert not la.is_acquired and la.fencing_token is None
    assert not await la.release()  # not held: nothing to do
    await lb.release()
    assert children(server, "/lk") == []


async def test_node_names_carry_a_guid_and_the_identifier_is_the_data(server) -> None:
    (a,) = await started(server, 1)
    lock = AsyncLock(a, "/lk", "worker-7")
    async with lock:
        name = lock.node.rsplit("/", 1)[1]
        guid, _, seq = name.partition("__lock__")
        assert len(guid) == 32 and int(guid, 16) >= 0 and seq.isdigit()
        assert server.nodes[lock.node].data == b"worker-7"
        assert server.nodes[lock.node].ephemeral_owner == a.session_id


async def test_release_with_fifty_waiters_wakes_exactly_one(server) -> None:
    holder_client, *waiter_clients = await started(server, 51)
    holder = AsyncLock(holder_client, "/herd", "holder")
    assert await holder.acquire()
    locks = [AsyncLock(c, "/herd", f"w{i}") for i, c in enumerate(waiter_clients)]
    tasks = []
    for lock in locks:  # queue them in a known order
        tasks.append(asyncio.ensure_future(lock.acquire()))
        await until(lambda n=len(tasks): len(children(server, "/herd")) == n + 1)
    await until(lambda: sum(c.calls["exists"] for c in waiter_clients) == 50)
    notified = sum(c.notifications for c in waiter_clients)
    listed = sum(c.calls["get_children"] for c in waiter_clients)

    await holder.release()
    assert await asyncio.wait_for(tasks[0], 5)
    assert sum(c.notifications for c in waiter_clients) - notified == 1
    assert sum(c.calls["get_children"] for c in waiter_clients) - listed == 1
    assert not any(t.done() for t in tasks[1:])
    for lock, task in zip(locks[1:], tasks[1:], strict=True):
        lock.cancel()
        assert await task is False


async def test_connection_loss_after_the_create_finds_its_own_node(server) -> None:
    a, b = await started(server, 2)
    other = AsyncLock(b, "/lk", "b")
    assert await other.acquire()
    lock = AsyncLock(a, "/lk", "a")
    a.script("create", after=True)  # applied, then the reply is lost
    task = asyncio.ensure_future(lock.acquire())
    await until(lambda: a.calls["get_children"] >= 2 and not task.done())
    assert a.calls["create"] == 1  # no second create
    assert len(children(server, "/lk")) == 2
    await other.release()
    assert await asyncio.wait_for(task, 5)
    assert children(server, "/lk") == [lock.node.rsplit("/", 1)[1]]


async def test_connection_loss_before_the_create_creates_again(server) -> None:
    (a,) = await started(server, 1)
    lock = AsyncLock(a, "/lk")
    a.script("create", after=False)  # never reached the server
    assert await lock.acquire()
    assert a.calls["create"] == 2
    assert len(children(server, "/lk")) == 1


async def test_suspended_makes_the_lock_unsafe_and_resume_safe_again(server) -> None:
    (a,) = await started(server, 1)
    lock = AsyncLock(a, "/lk")
    heard: list[KazooState] = []
    lock.add_listener(heard.append)
    assert await lock.acquire()
    lease = lock.lease
    a.suspend()
    assert lock.is_acquired and not lock.is_safe and lease.suspended
    a.resume()
    assert lock.is_safe and not lease.is_lost()
    assert heard == [K.SUSPENDED, K.CONNECTED]


async def test_lost_session_releases_the_lock_and_the_next_waiter_gets_it(server) -> None:
    a, b = await started(server, 2)
    la, lb = AsyncLock(a, "/lk", "a"), AsyncLock(b, "/lk", "b")
    assert await la.acquire()
    lease = la.lease
    waiter = asyncio.ensure_future(lb.acquire())
    await until(lambda: len(children(server, "/lk")) == 2)
    a.expire()
    assert lease.is_lost() and lease.reason == "session lost"
    assert not la.is_acquired and not la.is_safe
    assert await asyncio.wait_for(waiter, 5)
    assert not await la.release()  # nothing left to release


async def test_a_waiter_whose_session_is_lost_raises(server) -> None:
    a, b = await started(server, 2)
    la, lb = AsyncLock(a, "/lk"), AsyncLock(b, "/lk")
    assert await la.acquire()
    waiter = asyncio.ensure_future(lb.acquire())
    await until(lambda: len(children(server, "/lk")) == 2)
    b.expire()
    with pytest.raises(SessionExpiredError):
        await asyncio.wait_for(waiter, 5)
    assert len(children(server, "/lk")) == 1
    await b.start()  # a new session: the same Lock object can contend again
    second = asyncio.ensure_future(lb.acquire())
    await la.release()
    assert await asyncio.wait_for(second, 5)


async def test_lose_on_suspend_ends_the_lock_and_deletes_the_node_on_resume(server) -> None:
    a, b = await started(server, 2)
    la = AsyncLock(a, "/lk", lose_on_suspend=True)
    lb = AsyncLock(b, "/lk")
    assert await la.acquire()
    lease = la.lease
    waiter = asyncio.ensure_future(lb.acquire())
    await until(lambda: len(children(server, "/lk")) == 2)
    a.suspend()
    assert lease.is_lost() and lease.reason == "connection suspended"
    assert not la.is_acquired
    a.resume()
    assert await asyncio.wait_for(waiter, 5)


async def test_deleting_the_holders_node_ends_its_lease(server) -> None:
    a, b = await started(server, 2)
    lock = AsyncLock(a, "/lk")
    assert await lock.acquire()
    lease = lock.lease
    await b.delete(lock.lease.node)
    await until(lease.is_lost)
    assert lease.reason == "node deleted" and not lock.is_acquired


async def test_timeout_and_non_blocking_miss_leave_no_node(server) -> None:
    a, b = await started(server, 2)
    holder = AsyncLock(a, "/lk")
    assert await holder.acquire()
    other = AsyncLock(b, "/lk")
    assert await other.acquire(blocking=False) is False
    assert await other.acquire(timeout=0.05) is False
    assert len(children(server, "/lk")) == 1


async def test_cancel_stops_a_waiting_acquire(server) -> None:
    a, b = await started(server, 2)
    assert await AsyncLock(a, "/lk").acquire()
    waiter = AsyncLock(b, "/lk")
    task = asyncio.ensure_future(waiter.acquire())
    await until(lambda: len(children(server, "/lk")) == 2)
    waiter.cancel()
    assert await asyncio.wait_for(task, 5) is False
    await until(lambda: len(children(server, "/lk")) == 1)


async def test_tasks_sharing_one_lock_object_take_turns(server) -> None:
    (a,) = await started(server, 1)
    lock = AsyncLock(a, "/lk")
    inside = 0
    peak = 0

    async def work() -> None:
        nonlocal inside, peak
        async with lock:
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(work() for _ in range(5)))
    assert peak == 1 and children(server, "/lk") == []


# ---- ReadLock / WriteLock -----------------------------------------------------------


async def test_readers_share_writers_exclude(server) -> None:
    r1c, r2c, wc, r3c = await started(server, 4)
    r1, r2 = AsyncReadLock(r1c, "/rw"), AsyncReadLock(r2c, "/rw")
    assert await r1.acquire() and await r2.acquire()  # readers together
    writer = AsyncWriteLock(wc, "/rw")
    w = asyncio.ensure_future(writer.acquire())
    await until(lambda: len(children(server, "/rw")) == 3)
    late_reader = AsyncReadLock(r3c, "/rw")
    r3 = asyncio.ensure_future(late_reader.acquire())  # behind the writer: must wait
    await until(lambda: len(children(server, "/rw")) == 4)
    await r1.release()
    assert not w.done()
    await r2.release()
    assert await asyncio.wait_for(w, 5)
    assert not r3.done()
    await writer.release()
    assert await asyncio.wait_for(r3, 5)


async def test_a_write_lock_and_a_plain_lock_exclude_each_other(server) -> None:
    a, b = await started(server, 2)
    assert await AsyncLock(a, "/rw").acquire()
    assert await AsyncWriteLock(b, "/rw").acquire(blocking=False) is False
    assert await AsyncReadLock(b, "/rw").acquire(blocking=False) is False


# ---- Semaphore -------------------------------------------------------------------------


async def test_semaphore_admits_max_leases_and_wakes_one_per_release(server) -> None:
    clients = await started(server, 8)
    sems = [AsyncSemaphore(c, "/sem", f"s{i}", max_leases=3) for i, c in enumerate(clients)]
    for s in sems[:3]:
        assert await s.acquire()
    tasks = []
    for s in sems[3:]:
        tasks.append(asyncio.ensure_future(s.acquire()))
        await until(lambda n=len(tasks): len(children(server, "/sem")) == 3 + n)
    await until(lambda: all(c.calls["exists"] >= 1 for c in clients[3:]))
    assert await sems[0].lease_holders() == ["s0", "s1", "s2"]
    waiters = clients[3:]
    before = sum(c.notifications for c in waiters)
    await sems[1].release()
    assert await asyncio.wait_for(tasks[0], 5)  # the first waiter, and only it, gets in
    # one notification for the release, one for the mark that moves the next waiter up
    await until(lambda: waiters[1].calls["exists"] == 4)  # s4 now watches the 3 holders
    assert sum(c.notifications for c in waiters) - before == 2
    assert not any(t.done() for t in tasks[1:])
    for task in tasks[1:]:  # the rest get in one by one, in order, never more than 3
        holder = next(x for x in sems if x.is_acquired)
        await holder.release()
        assert await asyncio.wait_for(task, 5)
        assert sum(x.is_acquired for x in sems) == 3
    assert all(x.is_acquired for x in sems[-3:])


async def test_semaphore_rejects_a_different_max_leases(server) -> None:
    a, b = await started(server, 2)
    assert await AsyncSemaphore(a, "/sem", max_leases=2).acquire()
    with pytest.raises(ValueError, match="max_leases 2"):
        await AsyncSemaphore(b, "/sem", max_leases=5).acquire()


# ---- TokenGuard ------------------------------------------------------------------------


def test_token_guard_refuses_older_tokens() -> None:
    guard = TokenGuard()
    assert guard.check(5) == 5
    assert guard.check(5) == 5  # the same holder again
    assert guard.guarded(9, lambda: "written") == "written"
    with pytest.raises(StaleTokenError) as info:
        guard.check(5)
    assert info.value.token == 5 and info.value.highest == 9
    assert "stale fencing token" in str(info.value)
    with pytest.raises(TypeError):
        guard.check(None)
    assert guard.highest == 9


def test_the_sdk_client_and_the_fake_satisfy_the_recipes_protocol(server) -> None:
    from coordsvc.client import AsyncClient
    from coordsvc.recipes import CoordClient

    assert isinstance(AsyncClient("127.0.0.1:1"), CoordClient)
    assert isinstance(server.client(), CoordClient)
