"""Barriers and the counter against a real coordination service."""

from __future__ import annotations

import asyncio
import time

import recipe_env
from coordsvc.client import AsyncClient
from coordsvc.client.errors import NoNodeError
from coordsvc.recipes import AsyncBarrier, AsyncCounter, AsyncDoubleBarrier, AsyncParty

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base


async def started(address: str, n: int) -> list[AsyncClient]:
    clients = [AsyncClient(address, session_timeout=5.0) for _ in range(n)]
    await asyncio.gather(*(c.start() for c in clients))
    return clients


async def stopped(clients: list[AsyncClient]) -> None:
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


async def members(client: AsyncClient, path: str, n: int, timeout: float = 10.0) -> None:
    """Wait until the double barrier has ``n`` member nodes (polling, with a deadline)."""
    deadline = time.monotonic() + timeout
    while n:
        try:
            names = await client.get_children(path)
        except NoNodeError:
            names = []
        if len([x for x in names if x != "ready"]) >= n:
            return
        assert time.monotonic() < deadline, f"never {n} members"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def test_waiters_on_a_barrier_are_released_together_by_its_removal(coord, base) -> None:
    owner, *others = await started(coord, 6)
    try:
        gate = AsyncBarrier(owner, f"{base}/barriers/gate")
        await gate.create()
        released: list[float] = []

        async def wait(client: AsyncClient) -> None:
            assert await AsyncBarrier(client, f"{base}/barriers/gate").wait(timeout=10)
            released.append(time.monotonic())

        waiters = [asyncio.ensure_future(wait(c)) for c in others]
        assert await AsyncBarrier(owner, f"{base}/barriers/gate").wait(timeout=0.2) is False
        assert not any(w.done() for w in waiters)
        removed = time.monotonic()
        assert await gate.remove()
        await asyncio.wait_for(asyncio.gather(*waiters), 10)
        assert len(released) == 5 and min(released) >= removed
    finally:
        await stopped([owner, *others])


async def test_double_barrier_nobody_starts_before_all_enter_nobody_ends_before_all_leave(
    coord, base
) -> None:
    clients = await started(coord, 6)
    log: list[tuple[str, int, float]] = []
    moved = asyncio.Condition()

    async def note(kind: str, i: int) -> None:
        async with moved:
            log.append((kind, i, time.monotonic()))
            moved.notify_all()

    async def turn(kind: str, n: int) -> None:
        """Wait until ``n`` workers have done ``kind`` (to make them go one by one)."""
        async with moved:
            await moved.wait_for(lambda: sum(k == kind for k, _, _ in log) >= n)

    async def worker(i: int, client: AsyncClient) -> None:
        barrier = AsyncDoubleBarrier(client, f"{base}/barriers/round", 6, f"w{i}")
        await members(
            client, f"{base}/barriers/round", i
        )  # arrive one after another, once the others wait inside ...
        await note("arrive", i)
        await barrier.enter(timeout=15)
        await note("entered", i)
        await turn("leave", 5 - i)  # ... and start leaving in the opposite order
        await note("leave", i)
        await barrier.leave(timeout=15)
        await note("left", i)

    try:
        await asyncio.wait_for(asyncio.gather(*(worker(i, c) for i, c in enumerate(clients))), 30)
        at = {kind: [t for k, _, t in log if k == kind] for kind in ("arrive", "entered")}
        at |= {kind: [t for k, _, t in log if k == kind] for kind in ("leave", "left")}
        assert min(at["entered"]) >= max(at["arrive"])
        assert min(at["left"]) >= max(at["leave"])
        assert await clients[0].get_children(f"{base}/barriers/round") == []
    finally:
        await stopped(clients)


async def test_counter_from_ten_sessions_loses_no_update(coord, base) -> None:
    clients = await started(coord, 10)
    try:
        counters = [AsyncCounter(c, f"{base}/counters/hits") for c in clients]
        await asyncio.gather(*(c.add(1) for c in counters for _ in range(4)))
        assert await counters[0].get() == 40
        assert (await clients[0].get(f"{base}/counters/hits"))[0] == b"40"
    finally:
        await stopped(clients)


async def test_party_member_leaves_with_its_session(coord, base) -> None:
    a, b = await started(coord, 2)
    try:
        await AsyncParty(a, f"{base}/parties/p", "alice").join()
        await AsyncParty(b, f"{base}/parties/p", "bob").join()
        assert sorted(await AsyncParty(a, f"{base}/parties/p").members()) == ["alice", "bob"]
        await b.stop()
        assert await AsyncParty(a, f"{base}/parties/p").members() == ["alice"]
    finally:
        await stopped([a, b])
