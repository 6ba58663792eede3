"""The documented rolling restart (docs/operations.md), on a real 3-node ensemble under load.

Each follower, then the leader, is stopped with SIGTERM (a health Watch must
see it go NOT_SERVING), started again, and waited for the way the doc tells
operators to: Admin.Status says it leads or follows and grpc.health.v1
answers SERVING, polled with a deadline. Meanwhile a writer (given all three
addresses) makes sequential creates without a pause, and a second client
holds an ephemeral node and a one-shot data watch. Both start on the first
server restarted and are pushed off their server by every restart. The doc
promises: no write fails (calls in flight are sent again and applied once),
sessions with their ephemerals and watches move to another server, and
restarting the leader last means one election (the epoch rises by one).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import NamedTuple

import grpc
from coordsvc.client import AsyncClient, KazooState
from coordsvc.client.watches import EventType, WatchedEvent
from ensemble import InOrder, Node, _client, record_states, run
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordsvc.v1 import admin_pb2 as apb

SESSION_TIMEOUT_S = 6.0
SERVE_TIMEOUT_S = 20.0  # a restarted server must serve again within this
FLOWING_ACKS = 20  # acks after a step that show the writes flow again
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _health(node: Node) -> int | None:
    """grpc.health.v1 status of the whole server (service ""), None when it does not answer."""
    try:
        with grpc.insecure_channel(node.address) as ch:
            req = health_pb2.HealthCheckRequest(service="")
            return health_pb2_grpc.HealthStub(ch).Check(req, timeout=2).status
    except grpc.RpcError:
        return None


def _wait_serving(node: Node, timeout: float = SERVE_TIMEOUT_S) -> apb.StatusResponse:
    """The operator's wait: role leading/following with a leader, and health SERVING."""
    deadline = time.monotonic() + timeout
    while True:
        st = node.status()
        if (
            st is not None
            and st.role in ("leading", "following")
            and st.leader_id
            and _health(node) == SERVING
        ):
            return st
        assert time.monotonic() < deadline, f"node {node.id} not serving again: {st}"
        time.sleep(0.05)  # poll interval of a deadline-bounded wait


class HealthWatch:
    """A grpc.health.v1 Watch on one server's overall health, read on a thread.

    It lets go once it has seen NOT_SERVING: a Watch left open would hold
    the server's stop for its whole grace period.
    """

    def __init__(self, node: Node) -> None:
        self.statuses: list[int] = []
        self._channel = grpc.insecure_channel(node.address)
        stub = health_pb2_grpc.HealthStub(self._channel)
        self._call = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for resp in self._call:
                self.statuses.append(resp.status)
                if resp.status == NOT_SERVING:
                    self._call.cancel()
        except grpc.RpcError:
            pass  # cancelled by us, or the server went away

    def close(self) -> None:
        self._call.cancel()
        self._thread.join(5)
        self._channel.close()


class Step(NamedTuple):
    node: Node
    was: str  # follower | leader
    began: float
    stopped_s: float  # SIGTERM to exit
    serving_s: float  # SIGTERM to serving again
    epoch: int  # the ensemble's epoch once settled again
    moves: int  # times the watch owner was pushed off its server


async def _until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


def _longest_gap(times: list[float], lo: float, hi: float) -> float:
    """The longest time without an ack in [lo, hi] (its ends count as marks)."""
    marks = [lo, *(t for t in times if lo < t < hi), hi]
    return max(b - a for a, b in zip(marks, marks[1:], strict=False))


def test_a_rolling_restart_leader_last_keeps_clients_working_and_elects_once(
    ensemble_factory, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="coordsvc.client.session")
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    f1, f2 = (n for n in ens.nodes.values() if n is not leader)
    order = [f1, f2, leader]  # the documented order: followers, then the leader
    before = {n.id: n.status() for n in order}
    epoch0 = before[leader.id].epoch
    assert {s.epoch for s in before.values()} == {epoch0}
    hosts = [n.address for n in order]  # in ring order, each restart displaces both clients

    async def scenario() -> None:
        w = AsyncClient(hosts, session_timeout=SESSION_TIMEOUT_S, rng=InOrder())
        c = AsyncClient(hosts, session_timeout=SESSION_TIMEOUT_S, rng=InOrder())
        await w.start()
        await c.start()
        assert (w.server_id, c.server_id) == (f1.id, f1.id)
        states, suspended = record_states(c)
        fired: list[WatchedEvent] = []
        acks: list[tuple[float, str, bytes]] = []
        errors: list[BaseException] = []
        done = asyncio.Event()
        try:
            sid = c.client_id[0]
            await c.create("/eph", b"mine", ephemeral=True)
            await w.create("/watched", b"0")
            await w.create("/seq", b"")
            await c.get("/watched", watch=fired.append)

            async def writer() -> None:
                i = 0
                while not done.is_set():
                    tag = f"w{i}".encode()
                    i += 1
                    try:
                        path = await w.create("/seq/s-", tag, sequence=True)
                    except Exception as exc:  # the doc promises none: record, keep going
                        errors.append(exc)
                    else:
                        acks.append((time.monotonic(), path, tag))

            writing = asyncio.create_task(writer())

            async def flowing(after: float, what: str) -> None:
                await _until(
                    lambda: sum(1 for t, _, _ in acks if t > after) >= FLOWING_ACKS,
                    SERVE_TIMEOUT_S,
                    f"writes to flow {what} ({len(errors)} failed: {errors[:3]})",
                )

            began = time.monotonic()
            await flowing(began - 1, "before the restarts")
            began = time.monotonic()
            steps: list[Step] = []
            changed = None
            for node in order:
                moves = states.count(KazooState.SUSPENDED)
                health = HealthWatch(node)
                try:
                    await _until(lambda h=health: h.statuses, 5, f"node {node.id}'s health")
                    t0 = time.monotonic()
                    stopping = asyncio.create_task(asyncio.to_thread(node.stop))
                    if changed is None:  # the watch owner is being pushed off f1 right now
                        await asyncio.wait_for(suspended.wait(), SESSION_TIMEOUT_S)
                        changed = await w.set("/watched", b"1")
                    await stopping
                    stopped = time.monotonic() - t0
                finally:
                    health.close()
                # SIGTERM: the server said NOT_SERVING before it went away
                assert health.statuses == [SERVING, NOT_SERVING], (node.id, health.statuses)
                # graceful: exit 0 on SIGTERM, not the SIGKILL Node.stop sends after 10 s
                assert node.proc.returncode == 0, (node.id, node.proc.returncode, node.logs())
                await asyncio.to_thread(node.start)
                st = await asyncio.to_thread(_wait_serving, node)
                serving = time.monotonic() - t0
                settled = await asyncio.to_thread(ens.wait_leader)
                epoch = settled.status().epoch
                if node is leader:
                    assert settled is not leader and st.role == "following", (settled.id, st)
                else:
                    assert settled is leader, f"restarting follower {node.id} moved the leader"
                    assert (st.role, st.leader_id, st.epoch) == ("following", leader.id, epoch0)
                    assert epoch == epoch0, f"restarting follower {node.id} started an election"
                await flowing(time.monotonic(), f"after restarting node {node.id}")
                eph = await w.exists("/eph")
                assert eph is not None and eph.ephemeral_owner == sid, (node.id, eph)
                moves = states.count(KazooState.SUSPENDED) - moves
                assert moves >= 1, f"restarting node {node.id} did not move the watch owner"
                was = "leader" if node is leader else "follower"
                steps.append(Step(node, was, t0, stopped, serving, epoch, moves))
            ended = time.monotonic()
            done.set()
            await writing

            times = [t for t, _, _ in acks]
            stall = _longest_gap(times, began, ended)
            print(
                f"\nrolling restart of 3 servers: {ended - began:.2f} s, {len(acks)} acked creates"
            )
            for i, st in enumerate(steps):
                t1 = steps[i + 1].began if i + 1 < len(steps) else ended
                print(
                    f"  node {st.node.id} ({st.was}): stopped in {st.stopped_s:.2f} s, serving "
                    f"again after {st.serving_s:.2f} s, longest write stall "
                    f"{_longest_gap(times, st.began, t1):.3f} s, epoch {st.epoch}, "
                    f"watch owner moved {st.moves}x"
                )
            resent = [r.getMessage() for r in caplog.records if "sent again" in r.getMessage()]
            print(f"longest write stall during the procedure: {stall:.3f} s")
            print(f"reconnects that sent requests in flight again: {len(resent)}")

            assert errors == [], f"{len(errors)} writes raised: {errors[:5]}"
            assert resent, "no call was in flight at any stop: the resend path went untested"
            # exactly one election, for the leader's restart
            assert steps[-1].epoch == epoch0 + 1, (epoch0, [st.epoch for st in steps])
            # the watch owner kept its session, its ephemeral and its one-shot watch
            assert c.client_id[0] == sid
            assert KazooState.LOST not in states, states
            await w.set("/watched", b"2")  # after the firing: must not fire again
            await c.sync("/")
            assert (await c.get("/watched"))[0] == b"2"
            assert len(fired) == 1, fired
            (ev,) = fired
            assert (ev.type, ev.path, ev.zxid) == (EventType.CHANGED, "/watched", changed.mzxid)

            paths = [p for _, p, _ in acks]
            assert len(set(paths)) == len(paths), "two creates were answered with one node"
            names = sorted(p.rsplit("/", 1)[1] for p in paths)
            for node in order:  # every acknowledged create, once, on every server
                r = await _client([node.address])
                try:
                    await r.sync("/seq")
                    kids = sorted(await r.get_children("/seq"))
                    assert len(kids) == len(acks), (node.id, len(kids), len(acks))
                    assert kids == names, f"node {node.id}: children differ from the acks"
                    eph = await r.exists("/eph")
                    assert eph is not None and eph.ephemeral_owner == sid, (node.id, eph)
                finally:
                    await r.stop()
            # each answer names the node its own request made
            got = await asyncio.gather(*(w.get(p) for p in paths))
            bad = [(p, d) for (_, p, tag), (d, _) in zip(acks, got, strict=True) if d != tag]
            assert not bad, bad[:5]
        finally:
            done.set()
            await w.stop()
            await c.stop()

    run(scenario())
    for node in order:  # the stops were graceful, by the server's own account
        assert '"stopped"' in node.logs(), node.id
