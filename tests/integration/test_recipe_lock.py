"""Locks against a real coordination service: mutual exclusion, fencing, crashes, no herd.

Every test connects through the ``coord`` fixture (recipe_env): a real 3-node
ensemble shared by this module's tests, each working under its own ``base`` path.
"""

from __future__ import annotations

import asyncio
import threading
import time

import recipe_env
from coordsvc.client import AsyncClient, Client, KazooState
from coordsvc.recipes import AsyncLock, Lock, TokenGuard
from recipe_env import (
    CountingClient,
    Proxies,
    Timeline,
    end_children,
    expiry_bound,
    hold_replies_proxy,
    python_child,
    read_line,
    sigkill,
)

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

HOLDER = """
import sys, threading
from coordsvc.client import Client
from coordsvc.recipes import Lock
client = Client(sys.argv[1], session_timeout=float(sys.argv[3]))
client.start()
lock = Lock(client, sys.argv[2], "doomed-holder")
lock.acquire()
print("held", lock.fencing_token, flush=True)
threading.Event().wait()
"""


async def started(address: str, n: int, timeout: float = 5.0) -> list[AsyncClient]:
    clients = [AsyncClient(address, session_timeout=timeout) for _ in range(n)]
    await asyncio.gather(*(c.start() for c in clients))
    return clients


async def stopped(clients: list[AsyncClient]) -> None:
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


async def wait_children(client: AsyncClient, path: str, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if len(await client.get_children(path)) == n:
                return
        except Exception:  # noqa: BLE001 - the parent may not exist yet
            pass
        assert time.monotonic() < deadline, f"{path} never had {n} children"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def test_twenty_contenders_never_overlap_and_lose_no_update(coord, base) -> None:
    clients = await started(coord, 20)
    await clients[0].create(f"{base}/counter", b"0", makepath=True)
    timeline = Timeline()
    tokens: list[tuple[float, int]] = []

    async def contender(i: int, client: AsyncClient) -> None:
        lock = AsyncLock(client, f"{base}/locks/counter", f"c{i}")
        for _ in range(3):
            async with lock:
                with timeline.span(f"c{i}"):
                    tokens.append((time.monotonic(), lock.fencing_token))
                    data, _ = await client.get(f"{base}/counter")
                    await asyncio.sleep(0)  # invite a racing writer, if the lock let one in
                    await client.set(f"{base}/counter", str(int(data) + 1).encode())

    try:
        await asyncio.gather(*(contender(i, c) for i, c in enumerate(clients)))
        assert (await clients[0].get(f"{base}/counter"))[0] == b"60"
        timeline.assert_no_overlap()
        in_order = [token for _, token in sorted(tokens)]
        assert all(a < b for a, b in zip(in_order, in_order[1:], strict=False)), in_order
        assert await clients[0].get_children(f"{base}/locks/counter") == []
    finally:
        await stopped(clients)


def test_sync_locks_in_threads_with_a_token_guard(coord, base) -> None:
    guard = TokenGuard()
    timeline = Timeline()
    written: list[int] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with Client(coord, session_timeout=5.0) as client:
                lock = Lock(client, f"{base}/locks/sync", f"t{i}")
                for _ in range(4):
                    with lock, timeline.span(f"t{i}"):
                        assert lock.is_safe
                        guard.guarded(lock.fencing_token, written.append, lock.fencing_token)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(written) == 20 and written == sorted(written) and len(set(written)) == 20
    timeline.assert_no_overlap()


async def test_a_sigkilled_holder_loses_the_lock_within_timeout_plus_a_tick(coord, base) -> None:
    session_timeout = 1.0
    holder = python_child(HOLDER, coord, f"{base}/locks/crash", str(session_timeout))
    (client,) = await started(coord, 1)
    try:
        line = read_line(holder)
        assert line.startswith("held ")
        dead_token = int(line.split()[1])
        lock = AsyncLock(client, f"{base}/locks/crash", "next")
        waiter = asyncio.ensure_future(lock.acquire())
        await wait_children(client, f"{base}/locks/crash", 2)
        assert await lock.contenders() == ["doomed-holder", "next"]
        killed = sigkill(holder)
        assert await asyncio.wait_for(waiter, 10)
        took = time.monotonic() - killed
        # expiry, then the CloseSession commit and the next holder's takeover (CI slack)
        assert took <= expiry_bound(session_timeout) + 0.3, f"took over after {took:.2f}s"
        assert lock.fencing_token > dead_token
        await lock.release()
    finally:
        end_children([holder])
        await stopped([client])


async def test_releasing_with_fifty_waiters_wakes_exactly_one(coord, base) -> None:
    holder_client, shared = await started(coord, 2)
    try:
        holder = AsyncLock(holder_client, f"{base}/locks/herd", "holder")
        assert await holder.acquire()
        counters = [CountingClient(shared) for _ in range(50)]
        locks = [AsyncLock(c, f"{base}/locks/herd", f"w{i}") for i, c in enumerate(counters)]
        tasks = [asyncio.ensure_future(lock.acquire()) for lock in locks]
        await wait_children(shared, f"{base}/locks/herd", 51)
        deadline = time.monotonic() + 10
        while sum(c.calls["exists"] for c in counters) < 50:  # every waiter has its watch
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait
        listed = sum(c.calls["get_children"] for c in counters)

        await holder.release()
        done, _ = await asyncio.wait(tasks, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1
        await shared.exists("/")  # every event sent before this reply has been delivered
        assert sum(c.notifications for c in counters) == 1
        assert sum(c.calls["get_children"] for c in counters) - listed == 1
        assert sum(lock.is_acquired for lock in locks) == 1
        for lock in locks:
            lock.cancel()
        await asyncio.gather(*tasks)
    finally:
        await stopped([holder_client, shared])


async def test_a_create_whose_reply_is_cut_off_is_found_by_its_guid(coord, base) -> None:
    proxy = await Proxies(coord, hold_replies_proxy()).start()
    client = AsyncClient(proxy.address, session_timeout=5.0)
    states: list[KazooState] = []
    client.add_listener(states.append)
    (observer,) = await started(coord, 1)
    await client.start()
    try:
        await observer.ensure_path(f"{base}/locks/cut")
        counting = CountingClient(client)
        lock = AsyncLock(counting, f"{base}/locks/cut", "cut")
        proxy.hold_replies()  # requests reach the server; no reply comes back
        task = asyncio.ensure_future(lock.acquire())
        await wait_children(observer, f"{base}/locks/cut", 1)  # the create went through
        proxy.release_replies()
        proxy.cut()  # ... and its reply is lost with the connection
        assert await asyncio.wait_for(task, 10)
        assert KazooState.SUSPENDED in states
        assert counting.calls["create"] == 1  # found by its GUID, never created twice
        names = await observer.get_children(f"{base}/locks/cut")
        assert names == [lock.node.rsplit("/", 1)[1]]  # the one node, not a second
        await lock.release()
    finally:
        await stopped([client, observer])
        await proxy.close()


async def test_a_partitioned_holder_sees_suspended_then_loses_the_lock(coord, base) -> None:
    proxy = await Proxies(coord).start()
    client = AsyncClient(proxy.address, session_timeout=1.0, connect_timeout=0.3)
    (other,) = await started(coord, 1)
    await client.start()
    try:
        lock = AsyncLock(client, f"{base}/locks/partition", "partitioned")
        heard: list[KazooState] = []
        lock.add_listener(heard.append)
        assert await lock.acquire()
        lease = lock.lease
        successor = AsyncLock(other, f"{base}/locks/partition", "successor")
        waiting = asyncio.ensure_future(successor.acquire())
        await wait_children(other, f"{base}/locks/partition", 2)
        proxy.pause()
        deadline = time.monotonic() + 10
        while not lease.suspended and not lease.is_lost():  # SUSPENDED comes first ...
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait
        assert not lock.is_safe
        await asyncio.wait_for(lease.lost.wait(), 10)  # ... then LOST ends the lease
        assert KazooState.SUSPENDED in heard and heard[-1] is KazooState.LOST
        assert lease.reason == "session lost" and not lock.is_acquired and not lock.is_safe
        assert await asyncio.wait_for(waiting, 10)  # the service expired it too
        assert successor.fencing_token > lease.fencing_token
        await successor.release()
    finally:
        proxy.resume()
        await stopped([client, other])
        await proxy.close()
