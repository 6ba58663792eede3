"""Writes in flight when the leader dies are applied exactly once (real 3-node ensemble).

Clients connected to the leader lose their connection; clients connected to a
follower get CONNECTION_LOSS when their server loses the leader. Either way
the SDK sends the write again with its original xid, and the servers answer a
write already applied with its first result: no user retry code, no second
sequential node, no acknowledged write missing.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from coordsvc.client import AsyncClient
from coordsvc.client.errors import SessionExpiredError
from ensemble import run

CLIENTS = 6
CREATES_PER_CLIENT = 40


async def _spread_clients(hosts: list[str], leader_id: int) -> list[AsyncClient]:
    """Clients on the leader and on followers (the host order is shuffled by seed)."""
    clients: list[AsyncClient] = []
    seed = 0
    while len(clients) < CLIENTS or not (
        {c.server_id for c in clients} >= {leader_id}
        and any(c.server_id != leader_id for c in clients)
    ):
        assert seed < 50, "could not place clients on both the leader and a follower"
        c = AsyncClient(hosts, session_timeout=8.0, rng=random.Random(seed))
        await c.start()
        clients.append(c)
        seed += 1
    return clients


def test_sequential_creates_in_flight_across_a_leader_kill_are_applied_once(
    ensemble_factory,
) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    hosts = ens.addresses()

    async def scenario() -> None:
        clients = await _spread_clients(hosts, leader.id)
        try:
            await clients[0].create("/q", b"")
            acked = 0

            async def one(c: AsyncClient, tag: bytes) -> tuple[bytes, str]:
                nonlocal acked
                path = await c.create("/q/s-", tag, sequence=True)
                acked += 1
                return tag, path

            calls = [
                one(c, f"{i}:{j}".encode())
                for i, c in enumerate(clients)
                for j in range(CREATES_PER_CLIENT)
            ]
            tasks = [asyncio.ensure_future(call) for call in calls]
            while acked < len(tasks) // 10:  # the writes are flowing
                await asyncio.sleep(0.005)  # poll interval; the tasks bound the wait
            leader.kill()
            at_kill = acked
            done = await asyncio.wait_for(asyncio.gather(*tasks), 60)
            print(f"\n{len(tasks)} sequential creates, leader killed after {at_kill} acks")
            assert at_kill < len(tasks), "nothing was in flight when the leader died"

            paths = {path for _, path in done}
            assert len(paths) == len(done), "two creates were answered with one node"
            reader = clients[-1]
            await reader.sync("/q")
            children = await reader.get_children("/q")
            assert sorted(children) == sorted(p.rsplit("/", 1)[1] for p in paths), (
                f"{len(children) - len(paths)} nodes more than acknowledged creates"
            )
            for tag, path in done:  # each answer names the node its own request made
                data, _ = await reader.get(path)
                assert data == tag
        finally:
            for c in clients:
                await c.stop()

    run(scenario())


def test_a_write_in_flight_when_the_majority_is_lost_ends_with_a_clear_error(
    ensemble_factory,
) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    followers = [n for n in ens.nodes.values() if n is not leader]

    async def scenario() -> None:
        c = AsyncClient([leader.address], session_timeout=3.0)
        await c.start()
        try:
            await c.create("/before", b"")
            for f in followers:
                f.kill()
            started = time.monotonic()
            with pytest.raises(SessionExpiredError) as info:
                await c.create("/after", b"")
            waited = time.monotonic() - started
            print(f"\nwrite without a quorum ended after {waited:.2f} s: {info.value}")
            # no server could take the session, and the error says why
            assert "not in a serving ensemble" in str(info.value)
            assert waited < 3.0 + 5.0  # the session timeout, plus election and connect slack
        finally:
            await c.stop()

    run(scenario())
