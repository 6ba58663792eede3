"""Sessions across a real 3-node ensemble: a client whose server dies moves on.

Each test SIGKILLs or restarts one ``coordsvc serve`` process it started (by
PID, through ``ensemble.Node``) and checks what the client sees: the same
session, its ephemerals and its watches on another server; a watch stream
resumed without gaps or repeats (or a clear CompactedError); and no server
behind the client's last zxid serving it. Waits poll with deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import pytest
from coordsvc.client import AsyncClient, KazooState
from coordsvc.client.errors import CompactedError, ConnectionLoss
from coordsvc.client.watches import EventType, WatchedEvent
from ensemble import InOrder, _client, record_states, run
from rawsession import RawSession

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc
from coordsvc.v1 import coordination_pb2 as pb

SESSION_TIMEOUT_S = 6.0


async def _until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)  # poll interval of a deadline-bounded wait


def _others(ens, leader):
    return [n for n in ens.nodes.values() if n is not leader]


@pytest.mark.parametrize("dies", ["follower", "leader"])
def test_a_client_whose_server_dies_keeps_its_session_ephemerals_and_watches(
    ensemble_factory, dies: str
) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    f1, f2 = _others(ens, leader)
    victim = f1 if dies == "follower" else leader
    order = [victim] + [n for n in (f1, f2, leader) if n is not victim]

    async def scenario() -> None:
        other = await _client([f2.address])  # a second client on a server that stays up
        c = AsyncClient(
            [n.address for n in order], session_timeout=SESSION_TIMEOUT_S, rng=InOrder()
        )
        await c.start()
        states, suspended = record_states(c)
        fired: dict[str, list[WatchedEvent]] = {"/data": [], "/new": []}

        try:
            sid = c.client_id[0]
            await c.create("/eph", b"mine", ephemeral=True)
            await c.create("/data", b"0")
            await c.get("/data", watch=fired["/data"].append)
            assert await c.exists("/new", watch=fired["/new"].append) is None
            await other.sync("/")
            assert await other.exists("/eph") is not None

            absent: list[float] = []
            watching = True

            async def watch_ephemeral() -> None:  # the ephemeral stays visible throughout
                while watching:
                    try:
                        if await other.exists("/eph", consistency="local") is None:
                            absent.append(time.monotonic())
                    except ConnectionLoss:
                        pass  # no leader for a moment: no answer, not an absence
                    await asyncio.sleep(0.02)  # sampling interval of the check

            checker = asyncio.create_task(watch_ephemeral())
            victim.kill()
            moved_at = time.monotonic()
            await asyncio.wait_for(suspended.wait(), SESSION_TIMEOUT_S)
            # made while the client is moving (through a new leader if the old one died)
            changed = await other.retry(other.set, "/data", b"1")
            await other.retry(other.create, "/new", b"")
            await _until(
                lambda: all(fired.values()), SESSION_TIMEOUT_S, f"both watches to fire {fired}"
            )
            await _until(lambda: c.connected, SESSION_TIMEOUT_S, "the client to reconnect")
            print(f"{dies} killed: reconnected in {time.monotonic() - moved_at:.2f}s")
            assert c.client_id[0] == sid
            assert KazooState.LOST not in states, states
            # exactly once: later changes do not fire the one-shot watches again
            created = await other.exists("/new")
            await other.set("/data", b"2")
            await other.delete("/new")
            await c.sync("/")
            data, _ = await c.get("/data")
            assert data == b"2"
            (ev,) = fired["/data"]
            assert (ev.type, ev.path) == (EventType.CHANGED, "/data")
            # the change's zxid, also for a change the SDK found missed when re-arming
            assert ev.zxid == changed.mzxid, (ev, changed)
            (ev,) = fired["/new"]
            assert (ev.type, ev.path, ev.zxid) == (EventType.CREATED, "/new", created.mzxid)
            watching = False
            await checker
            assert absent == [], "the ephemeral vanished while its owner moved"
            data, _ = await c.get("/eph")
            assert data == b"mine"
        finally:
            await c.stop()
            await other.sync("/")
            assert await other.exists("/eph") is None  # closing the session removed it
            await other.stop()

    run(scenario())


@pytest.mark.parametrize("dies", ["follower", "leader"])
def test_a_watch_stream_resumes_on_another_server_without_gaps_or_repeats(
    ensemble_factory, dies: str
) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    f1, f2 = _others(ens, leader)
    victim = f1 if dies == "follower" else leader
    order = [victim] + [n for n in (f1, f2, leader) if n is not victim]

    async def scenario() -> None:
        w = await _client([f2.address])  # the writer's server stays up
        # never started: its host ring is the stream's alone, first the victim
        s = AsyncClient([n.address for n in order], rng=InOrder())
        try:
            await w.create("/ws", b"")
            await w.create("/ws/x", b"")
            zxids = [(await w.set("/ws/x", str(i).encode())).mzxid for i in range(10)]
            start = zxids[4]
            expected = zxids[5:]
            stream = s.watch_stream("/ws", start_zxid=start)
            got: list[WatchedEvent] = []

            async def take(n: int) -> None:
                async with asyncio.timeout(SESSION_TIMEOUT_S * 2):
                    while len(got) < n:
                        got.append(await anext(stream))

            await take(5)  # the replayed history after start
            victim.kill()
            # no retried writes (a retried set whose reply was lost would apply twice)
            await asyncio.to_thread(ens.wait_leader)
            await w.retry(w.sync, "/")  # idempotent: retried until the writer's server serves
            for i in range(10, 20):
                expected.append((await w.set("/ws/x", str(i).encode())).mzxid)
            await w.create("/ws/y", b"")
            await w.delete("/ws/y")
            await take(19)
            assert [e.zxid for e in got[:15]] == expected
            assert all(e.type == EventType.CHANGED and e.path == "/ws/x" for e in got[:15])
            assert [(e.type, e.path) for e in got[15:]] == [
                (EventType.CREATED, "/ws/y"),
                (EventType.CHILD, "/ws"),
                (EventType.DELETED, "/ws/y"),
                (EventType.CHILD, "/ws"),
            ]
            zs = [e.zxid for e in got]
            assert zs == sorted(zs) and zs[0] > start
            # no repeat: the next event is the next change
            last = await w.set("/ws/x", b"end")
            await take(20)
            assert (got[19].type, got[19].zxid) == (EventType.CHANGED, last.mzxid)
            await stream.aclose()
        finally:
            await w.stop()

    run(scenario())


def test_a_watch_stream_resumes_past_a_restarted_server_via_one_that_keeps_the_history(
    ensemble_factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A restarted server keeps watch history only from its restart on: it answers
    COMPACTED for an older resume point, and the stream goes on to a server that has it."""
    caplog.set_level(logging.INFO, logger="coordsvc.client.watch_stream")
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    f1, f2 = _others(ens, leader)
    order = [f2, f1, leader]  # the stream starts on f2; when f2 dies it tries f1 first

    async def scenario() -> None:
        w = await _client([leader.address])  # the writer's server stays up
        s = AsyncClient([n.address for n in order], rng=InOrder())  # never started
        try:
            await w.create("/ws", b"")
            await w.create("/ws/x", b"")
            zxids = [(await w.set("/ws/x", str(i).encode())).mzxid for i in range(10)]
            expected = zxids[5:]
            stream = s.watch_stream("/ws", start_zxid=zxids[4])
            got: list[WatchedEvent] = []

            async def take(n: int) -> None:
                async with asyncio.timeout(SESSION_TIMEOUT_S * 2):
                    while len(got) < n:
                        got.append(await anext(stream))

            await take(5)  # replayed by f2
            for i in range(10, 15):  # sent to the stream live, read or not yet
                expected.append((await w.set("/ws/x", str(i).encode())).mzxid)
            await w.create("/elsewhere", b"")  # nothing for the stream: its point stays behind
            last = await w.set("/elsewhere", b"1")
            await _until_applied(f1, last.mzxid)
            # restarted from a snapshot past the stream's point: its history starts there
            assert await asyncio.to_thread(_snapshot, f1) >= last.mzxid
            await asyncio.to_thread(f1.stop)
            await asyncio.to_thread(f1.start)
            await asyncio.to_thread(ens.wait_leader)
            f2.kill()
            for i in range(15, 20):
                expected.append((await w.set("/ws/x", str(i).encode())).mzxid)
            await take(15)
            assert [(e.type, e.path) for e in got] == [(EventType.CHANGED, "/ws/x")] * 15
            assert [e.zxid for e in got] == expected  # every change after the start, once
            last = await w.set("/ws/x", b"end")
            await take(16)
            assert got[15].zxid == last.mzxid  # and nothing repeated
            await stream.aclose()
        finally:
            await w.stop()

    run(scenario())
    skipped = [r.getMessage() for r in caplog.records if "has no history" in r.getMessage()]
    assert len(skipped) == 1 and f1.address in skipped[0], skipped


def _snapshot(node) -> int:
    with grpc.insecure_channel(node.address) as ch:
        return apb_grpc.AdminStub(ch).Snapshot(apb.SnapshotRequest(), timeout=30).zxid


async def _until_applied(node, zxid: int) -> None:
    async def applied() -> bool:
        st = await asyncio.to_thread(node.status)
        return st is not None and st.last_zxid >= zxid

    deadline = time.monotonic() + SESSION_TIMEOUT_S
    while not await applied():
        assert time.monotonic() < deadline, f"node {node.id} never applied {zxid:#x}"
        await asyncio.sleep(0.02)  # poll interval of a deadline-bounded wait


def test_a_watch_stream_from_before_every_servers_history_fails_with_compacted(
    ensemble_factory,
) -> None:
    ens = ensemble_factory(3, 0, "--snapshot-every", "10")
    leader = ens.wait_leader()

    async def scenario_before() -> int:
        w = await _client([leader.address])
        try:
            await w.create("/ws", b"")
            old = (await w.set("/ws", b"1")).mzxid
            for i in range(40):  # several snapshots
                await w.set("/ws", str(i).encode())
            return old
        finally:
            await w.stop()

    old = run(scenario_before())
    for node in ens.nodes.values():  # a restart: each one's history begins where it stopped
        node.stop()
    for node in ens.nodes.values():
        node.start()
    ens.wait_leader()

    async def scenario_after() -> None:
        s = AsyncClient(ens.addresses())
        stream = s.watch_stream("/ws", start_zxid=old)
        with pytest.raises(CompactedError) as err:
            async with asyncio.timeout(SESSION_TIMEOUT_S):
                await anext(stream)
        await stream.aclose()
        # every server was asked and answered; none was left unreached
        assert all(address in str(err.value) for address in ens.addresses()), err.value
        assert "not reached" not in str(err.value)

    run(scenario_after())


def _refused(msg: pb.ServerMessage | None) -> str:
    assert msg is not None and msg.WhichOneof("kind") == "ended", msg
    return pb.ErrorCode.Name(msg.ended.error.code)


def test_a_server_behind_the_clients_last_zxid_does_not_serve_it(ensemble_factory) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    follower = _others(ens, leader)[0]
    far = 1 << 62

    async def scenario() -> None:
        async with RawSession(follower.address) as first:
            await first.connect()
            sid, password = first.session_id, first.password
            for target in (follower, leader):
                async with RawSession(target.address) as resume:
                    req = pb.ConnectRequest(
                        session_id=sid, password=password, timeout_ms=4000, last_zxid=far
                    )
                    await resume.send(pb.ClientMessage(connect=req))
                    assert _refused(await resume.recv()) == "CONNECTION_LOSS"
            # the session itself is fine: an honest resume still works
            async with RawSession(follower.address) as again:
                await again.connect(sid, password)
                assert again.session_id == sid

    run(scenario())


def test_a_new_session_is_not_made_by_a_server_behind_the_clients_last_zxid(
    ensemble_factory,
) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()

    async def scenario() -> None:
        for target in ens.nodes.values():
            async with RawSession(target.address) as raw:
                req = pb.ConnectRequest(timeout_ms=4000, last_zxid=1 << 62)
                await raw.send(pb.ClientMessage(connect=req))
                assert _refused(await raw.recv()) == "CONNECTION_LOSS", target.id
        assert leader.up

    run(scenario())


def test_a_member_out_of_broadcast_sends_its_session_streams_elsewhere(ensemble_factory) -> None:
    """Its clients must move to a serving member (as ZooKeeper's do), not keep pinging it.

    On the far side of a partition the leader would expire their sessions
    while this member, without a leader, still answered their pings.
    """
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    stranded = _others(ens, leader)[0]

    async def scenario() -> None:
        async with RawSession(stranded.address) as raw:
            await raw.connect()
            for node in ens.nodes.values():
                if node is not stranded:
                    node.kill()
            assert _refused(await raw.recv(timeout=10)) == "CONNECTION_LOSS"
            assert await raw.recv() is None  # and the stream is over

    run(scenario())
