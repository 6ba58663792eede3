"""Real network faults on a 3-member ensemble in network namespaces (netcluster.py).

Packet loss on every link, a leader cut off from its followers, a follower
cut off while its client can still reach it. What a user depends on: every
acknowledged write is on every member once the network heals, a cut-off
leader is replaced and comes back as a follower, and a client never sits on
a member that cannot keep its session alive.

The suite runs these as they are (about a minute); ``FAULT_SECONDS=60
FAULT_LOSS=20 pytest tests/faults`` runs the lossy write phase longer and
lossier (at 20% the ensemble re-elects every few seconds and a session can
expire: liveness, not safety, gives way first).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from coordsvc.client import AsyncClient, KazooState
from ensemble import InOrder, record_states
from netcluster import Member, NetCluster, missing_tools

FAULT_SECONDS = float(os.environ.get("FAULT_SECONDS", "6"))
FAULT_LOSS = int(os.environ.get("FAULT_LOSS", "10"))  # percent of packets into each member
SESSION_TIMEOUT_S = 4.0
CONVERGE_S = 30.0

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cluster(tmp_path):
    why = missing_tools()
    if why:
        pytest.fail(f"network fault tests {why}")
    net = NetCluster(tmp_path)
    try:
        net.start()
        yield net
    finally:
        net.close()


def _converged(cluster: NetCluster, leader_id: int | None = None) -> int:
    """Wait until every member serves the same last zxid (under one leader); return it."""
    deadline = time.monotonic() + CONVERGE_S
    while True:
        statuses = [m.status() for m in cluster.members.values()]
        if all(statuses):
            zxids = {s.last_zxid for s in statuses}
            leaders = {s.leader_id for s in statuses}
            if len(zxids) == 1 and len(leaders) == 1 and leader_id in (None, *leaders):
                return zxids.pop()
        assert time.monotonic() < deadline, f"members never converged: {statuses}"
        time.sleep(0.1)  # poll interval of a deadline-bounded wait


async def _children_everywhere(cluster: NetCluster, path: str) -> dict[int, set[str]]:
    """``path``'s children as each member's own tree has them (local reads)."""
    out = {}
    for m in cluster.members.values():
        async with AsyncClient([m.address], session_timeout=SESSION_TIMEOUT_S) as c:
            names = await c.get_children(path, consistency="local")
            out[m.id] = {f"{path}/{n}" for n in names}
    return out


async def _write_until(c: AsyncClient, parent: str, stop: asyncio.Event, acked: list[str]):
    """Sequential creates, one after another, until ``stop``; every answer is recorded."""
    while not stop.is_set():
        acked.append(await c.create(f"{parent}/w-", b"x" * 64, sequence=True))


async def _until(check, what: str, timeout: float = CONVERGE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)  # poll interval of a deadline-bounded wait


def _hosts(*members: Member) -> list[str]:
    return [m.address for m in members]


def test_every_acknowledged_write_survives_packet_loss_on_every_link(cluster) -> None:
    cluster.wait_leader()
    members = list(cluster.members.values())

    async def scenario() -> None:
        async with AsyncClient(_hosts(*members), session_timeout=10.0) as c:
            await c.create("/lossy")
            for m in members:
                cluster.loss(m, FAULT_LOSS)  # of all packets into every member, both kinds
            stop = asyncio.Event()
            acked: list[str] = []
            writers = [
                asyncio.create_task(_write_until(c, "/lossy", stop, acked)) for _ in range(4)
            ]
            await asyncio.sleep(FAULT_SECONDS)  # the length of the lossy phase, not a sync point
            stop.set()
            await asyncio.gather(*writers)
            cluster.heal()
            assert len(acked) >= 20, (
                f"{len(acked)} writes in {FAULT_SECONDS}s of {FAULT_LOSS}% loss"
            )
            assert len(set(acked)) == len(acked)  # no sequential create answered twice
        await asyncio.to_thread(_converged, cluster)
        for member, names in (await _children_everywhere(cluster, "/lossy")).items():
            assert names == set(acked), f"member {member} differs from what was acknowledged"

    asyncio.run(scenario())


def test_a_cut_off_leader_is_replaced_and_returns_as_a_follower(cluster) -> None:
    old = cluster.wait_leader()
    others = [m for m in cluster.members.values() if m is not old]

    async def scenario() -> None:
        async with AsyncClient(_hosts(*others, old), session_timeout=10.0) as c:
            await c.create("/cut")
            stop = asyncio.Event()
            acked: list[str] = []
            writing = asyncio.create_task(_write_until(c, "/cut", stop, acked))
            await _until(lambda: len(acked) >= 10, "writes to flow")
            cluster.isolate(old)
            new = await asyncio.to_thread(cluster.wait_leader, 30.0, others)
            assert new is not old
            before = len(acked)
            await _until(lambda: len(acked) >= before + 10, "writes through the new leader")
            stop.set()
            await writing
            cluster.heal()
            await asyncio.to_thread(_converged, cluster, new.id)
            status = old.status()
            assert status is not None and status.role == "following"
            for member, names in (await _children_everywhere(cluster, "/cut")).items():
                assert names == set(acked), f"member {member} differs from what was acknowledged"

    asyncio.run(scenario())


def test_a_client_of_a_cut_off_follower_moves_and_keeps_its_session(cluster) -> None:
    """The follower still answers the client, but cannot keep its session alive.

    The client must leave it (the follower ends its streams once it has no
    leader) and resume on a serving member before the leader, on the other
    side, would expire the session: its ephemeral node stays.
    """
    leader = cluster.wait_leader()
    follower, spare = [m for m in cluster.members.values() if m is not leader]

    async def scenario() -> None:
        c = AsyncClient(
            _hosts(follower, spare, leader), session_timeout=SESSION_TIMEOUT_S, rng=InOrder()
        )
        await c.start()
        try:
            states, suspended = record_states(c)
            session = c.client_id
            await c.create("/mine", b"", ephemeral=True)
            cluster.isolate(follower)
            await asyncio.wait_for(suspended.wait(), SESSION_TIMEOUT_S)
            await _until(lambda: states[-1] == KazooState.CONNECTED, f"a move ({states})")
            assert KazooState.LOST not in states, states
            assert c.client_id == session
            # well past the session timeout: the session is alive on the serving side
            await asyncio.sleep(2 * SESSION_TIMEOUT_S)  # an observation window, not a sync point
            async with AsyncClient([leader.address], session_timeout=SESSION_TIMEOUT_S) as other:
                stat = await other.exists("/mine")
                assert stat is not None and stat.ephemeral_owner == session[0]
            assert KazooState.LOST not in states
        finally:
            await c.stop()

    asyncio.run(scenario())
