"""Queue and LockingQueue against the in-memory FakeCoordClient."""

from __future__ import annotations

import asyncio

import pytest
from coordsvc.recipes import AsyncLockingQueue, AsyncQueue, LockingQueue, Queue
from fake_coord import FakeCoordClient, FakeServer, FakeSyncClient


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


async def started(server: FakeServer, n: int) -> list[FakeCoordClient]:
    clients = [server.client() for _ in range(n)]
    for c in clients:
        await c.start()
    return clients


async def test_priority_first_then_put_order(server) -> None:
    (a,) = await started(server, 1)
    q = AsyncQueue(a, "/q")
    assert await q.get() is None and await q.length() == 0
    await q.put_all([b"n1", b"n2"])
    await q.put(b"urgent", priority=1)
    await q.put(b"n3")
    await q.put(b"bulk", priority=999)
    assert await q.length() == 5
    assert [await q.get() for _ in range(6)] == [b"urgent", b"n1", b"n2", b"n3", b"bulk", None]


@pytest.mark.parametrize("priority", [-1, 1000, "1"])
async def test_bad_priorities_and_values_are_refused(server, priority) -> None:
    (a,) = await started(server, 1)
    with pytest.raises((ValueError, TypeError)):
        await AsyncQueue(a, "/q").put(b"x", priority=priority)
    with pytest.raises(TypeError):
        await AsyncQueue(a, "/q").put("text")  # type: ignore[arg-type]


async def test_concurrent_consumers_take_each_item_once(server) -> None:
    producer, *consumers = await started(server, 5)
    await AsyncQueue(producer, "/q").put_all([str(i).encode() for i in range(40)])
    taken: dict[int, list[int]] = {}

    async def consume(i: int, client: FakeCoordClient) -> None:
        q = AsyncQueue(client, "/q")
        mine = taken.setdefault(i, [])
        while (item := await q.get()) is not None:
            mine.append(int(item))

    await asyncio.gather(*(consume(i, c) for i, c in enumerate(consumers)))
    everything = sorted(x for got in taken.values() for x in got)
    assert everything == list(range(40))
    assert all(got == sorted(got) for got in taken.values())  # each in queue order


async def test_a_put_that_lost_its_reply_is_not_added_twice(server) -> None:
    (a,) = await started(server, 1)
    q = AsyncQueue(a, "/q")
    a.script("create", after=True)
    await q.put(b"once")
    assert await q.length() == 1 and a.calls["create"] == 1


async def test_locking_queue_get_waits_locks_and_consumes(server) -> None:
    a, b = await started(server, 2)
    qa, qb = AsyncLockingQueue(a, "/lq", "a"), AsyncLockingQueue(b, "/lq", "b")
    getting = asyncio.ensure_future(qa.get())
    await qb.put(b"job-1")
    assert await asyncio.wait_for(getting, 5) == b"job-1"
    assert qa.holds_lock() and await qa.length() == 1
    assert await qb.get(timeout=0.02) is None  # locked by a: not offered to b
    with pytest.raises(RuntimeError):
        await qa.get()
    assert await qa.consume()
    assert not qa.holds_lock() and await qa.length() == 0
    assert not await qa.consume()


async def test_locking_queue_release_and_session_death_offer_the_item_again(server) -> None:
    a, b = await started(server, 2)
    qa, qb = AsyncLockingQueue(a, "/lq", "a"), AsyncLockingQueue(b, "/lq", "b")
    await qa.put(b"job")
    assert await qa.get() == b"job"
    assert await qa.release()
    assert await qb.get(timeout=1) == b"job"
    waiting = asyncio.ensure_future(qa.get())
    b.expire()  # b dies holding it: the lock goes with its session
    assert await asyncio.wait_for(waiting, 5) == b"job"


def test_sync_queues(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        q = Queue(client, "/q")
        q.put(b"later")
        q.put(b"first", priority=0)
        assert len(q) == 2 and q.get() == b"first" and q.get() == b"later"
        lq = LockingQueue(client, "/lq")
        lq.put_all([b"x", b"y"])
        assert lq.get(timeout=1) == b"x" and lq.holds_lock() and len(lq) == 2
        assert lq.consume() and len(lq) == 1
    finally:
        client.close()
