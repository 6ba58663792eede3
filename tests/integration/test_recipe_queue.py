"""Queues against a real coordination service: order under concurrency, crash-safe consumption."""

from __future__ import annotations

import asyncio
import time

import recipe_env
from coordsvc.client import AsyncClient
from coordsvc.recipes import AsyncLockingQueue, AsyncQueue
from recipe_env import end_children, expiry_bound, python_child, read_line, sigkill

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

CONSUMER = """
import sys, threading
from coordsvc.client import Client
from coordsvc.recipes import LockingQueue
client = Client(sys.argv[1], session_timeout=float(sys.argv[3]))
client.start()
queue = LockingQueue(client, sys.argv[2], "doomed-consumer")
print("took", queue.get(timeout=10).decode(), flush=True)
threading.Event().wait()
"""


async def started(address: str, n: int) -> list[AsyncClient]:
    clients = [AsyncClient(address, session_timeout=5.0) for _ in range(n)]
    await asyncio.gather(*(c.start() for c in clients))
    return clients


async def stopped(clients: list[AsyncClient]) -> None:
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


def seq(path: str) -> int:
    return int(path.rsplit("-", 1)[1])


async def test_concurrent_producers_and_consumers_keep_queue_order(coord, base) -> None:
    clients = await started(coord, 8)
    producers, consumers = clients[:4], clients[4:]
    put_at: dict[bytes, int] = {}  # item -> its sequence number
    taken: dict[int, list[bytes]] = {i: [] for i in range(len(consumers))}
    produced = asyncio.Event()

    async def produce(p: int, client: AsyncClient) -> None:
        q = AsyncQueue(client, f"{base}/queues/jobs")
        for k in range(25):
            item = f"p{p}-{k}".encode()
            put_at[item] = seq(await q.put(item))

    async def consume(i: int, client: AsyncClient) -> None:
        q = AsyncQueue(client, f"{base}/queues/jobs")
        while True:
            item = await q.get()
            if item is not None:
                taken[i].append(item)
            elif produced.is_set() and await q.length() == 0:
                return
            else:
                await asyncio.sleep(0.005)  # an empty queue: poll again shortly

    try:
        consuming = [asyncio.ensure_future(consume(i, c)) for i, c in enumerate(consumers)]
        await asyncio.gather(*(produce(p, c) for p, c in enumerate(producers)))
        produced.set()
        await asyncio.wait_for(asyncio.gather(*consuming), 30)
        everything = sorted(x for got in taken.values() for x in got)
        assert everything == sorted(put_at)  # every item taken, and exactly once
        for got in taken.values():  # each consumer saw items in the order they were put
            assert [put_at[x] for x in got] == sorted(put_at[x] for x in got)
        for got in taken.values():  # and each producer's items in its own order
            for p in range(4):
                mine = [int(x.split(b"-")[1]) for x in got if x.startswith(f"p{p}-".encode())]
                assert mine == sorted(mine)
    finally:
        await stopped(clients)


async def test_priorities_come_first(coord, base) -> None:
    (client,) = await started(coord, 1)
    try:
        q = AsyncQueue(client, f"{base}/queues/prio")
        await q.put_all([b"a", b"b"], priority=100)
        await q.put(b"urgent", priority=2)
        await q.put(b"first", priority=1)
        await q.put(b"c", priority=100)
        got = [await q.get() for _ in range(6)]
        assert got == [b"first", b"urgent", b"a", b"b", b"c", None]
    finally:
        await stopped([client])


async def test_an_item_held_by_a_killed_consumer_is_offered_again(coord, base) -> None:
    session_timeout = 1.0
    (client,) = await started(coord, 1)
    queue = AsyncLockingQueue(client, f"{base}/queues/reliable", "survivor")
    await queue.put(b"job-1")
    consumer = python_child(CONSUMER, coord, f"{base}/queues/reliable", str(session_timeout))
    try:
        assert read_line(consumer) == "took job-1"
        assert await queue.get(timeout=0.2) is None  # locked by the other consumer
        killed = sigkill(consumer)
        assert await queue.get(timeout=10) == b"job-1"
        took = time.monotonic() - killed
        # expiry, then the CloseSession commit and the survivor's takeover (CI slack)
        assert took <= expiry_bound(session_timeout) + 0.5, f"offered again after {took:.2f}s"
        assert await queue.consume()
        assert await queue.length() == 0
    finally:
        end_children([consumer])
        await stopped([client])
