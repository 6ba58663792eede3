"""The deterministic simulator: N ZabPeers in one process, one seed, no asyncio.

A priority queue of (time, seq, event); time is in abstract units and each
node's clock ticks every ``tick_period`` units, scaled by its own skew.
Everything random comes from ``random.Random(seed)``: the swarm options are
drawn first (TigerBeetle's swarm testing: each seed gets its own mix of
faults), then each subsystem gets a sub-seed, so changing one subsystem's
draws does not shift the others.

The transport's link hints are modelled too: a crashed node's peers learn
that their link to it broke (``PeerDisconnected``), each with some chance
and after a network delay (FIFO behind what the crashed node sent when the
network does not reorder), and links also reset spuriously while the node
at the other end lives on.

Phases: ``safety`` (faults on: loss, duplication, reordering, partitions,
crashes that lose the unsynced tail, restarts, clock skew and stalls) for
``steps`` events, then ``liveness``: faults off for a core quorum (half
the seeds keep a minority down) until it converges: one leader in
broadcast, every live node serving, every acknowledged write applied on
every live node in the same order, equal trees.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from sim_check import Checker, Violation, fz
from sim_node import SimDisk, SimNode

from coordsvc.tree.datatree import DataTree
from coordsvc.tree.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
)
from coordsvc.tree.znode import NodeKind
from coordsvc.zab.messages import (
    ClientRead,
    ClientWrite,
    Message,
    PeerDisconnected,
    Phase,
    Propose,
    Received,
    Role,
    Tick,
    Touched,
)
from coordsvc.zab.peer import ZabConfig
from coordsvc.zab.ready import Ready

__all__ = ["Options", "Simulation", "SimFailure", "draw_options", "DEFAULT_STEPS"]

TICK, DELIVER, SYNC, WORKLOAD, FAULT, LINK_DOWN, LINK_RESET = range(7)
DEFAULT_STEPS = 4000  # safety-phase events per seed in the CI slice


class SimFailure(AssertionError):
    pass


@dataclass
class Options:
    """One seed's swarm: the cluster and the faults it will see."""

    voters: int
    observers: int
    election_ticks: int
    sync_limit_ticks: int
    tick_period: int
    skew: float  # max relative tick-rate difference between nodes
    delay_min: int
    delay_max: int
    loss: float
    dup: float
    reorder: bool
    partition_mode: str  # none | isolate | split | asymmetric
    partition_rate: float  # per fault event: chance to (re)partition
    heal_rate: float
    crash_rate: float
    restart_rate: float
    stall_rate: float  # per fault event: a node's clock stops for a while (a pause)
    torn: bool
    disk_min: int
    disk_max: int
    snapshot_every: int  # applied txns between local snapshots (0: never)
    workload_period: int
    forward_share: float  # writes sent through followers
    read_share: float
    max_batch: int
    fault_period: int = 40
    # link hints (drawn from their own sub-seed, after everything above)
    hint_rate: float = 0.0  # chance a crash is signalled to each peer
    reset_period: int = 0  # mean time between spurious link resets (0: none)

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in vars(self).items())


def draw_link_options(rng: random.Random, o: Options) -> None:
    """The link-hint part of the swarm: half the seeds always signal a crash."""
    o.hint_rate = rng.choice((0.0, 0.5, 1.0, 1.0))
    o.reset_period = rng.choice((0, 0, 200, 1000)) if o.loss or o.crash_rate else 0


def draw_options(rng: random.Random) -> Options:
    voters = rng.choice((3, 3, 5))
    faulty = rng.random() < 0.9
    return Options(
        voters=voters,
        observers=rng.choice((0, 0, 1)),
        election_ticks=rng.randint(4, 8),
        sync_limit_ticks=rng.randint(3, 6),
        tick_period=10,
        skew=rng.choice((0.0, 0.05, 0.2)),
        delay_min=1,
        delay_max=rng.choice((3, 8, 20, 40)),
        loss=rng.choice((0.0, 0.01, 0.05, 0.15)) if faulty else 0.0,
        dup=rng.choice((0.0, 0.02, 0.1)) if faulty else 0.0,
        reorder=faulty and rng.random() < 0.5,
        partition_mode=rng.choice(("none", "isolate", "split", "asymmetric")) if faulty else "none",
        partition_rate=rng.choice((0.05, 0.2, 0.4)),
        heal_rate=rng.choice((0.1, 0.3, 0.6)),
        crash_rate=rng.choice((0.0, 0.05, 0.15, 0.3)) if faulty else 0.0,
        restart_rate=rng.choice((0.2, 0.5, 0.9)),
        stall_rate=rng.choice((0.0, 0.0, 0.1, 0.3)) if faulty else 0.0,
        torn=rng.random() < 0.5,
        disk_min=1,
        disk_max=rng.choice((2, 10, 30)),
        snapshot_every=rng.choice((0, 10, 25, 60)),
        workload_period=rng.choice((4, 10, 25)),
        forward_share=rng.choice((0.0, 0.3, 0.7)),
        read_share=rng.choice((0.0, 0.2)),
        max_batch=rng.choice((1, 4, 1000)),
    )


@dataclass
class Stats:
    steps: int = 0
    proposed: int = 0
    acked: int = 0
    crashes: int = 0
    restarts: int = 0
    stalls: int = 0
    partitions: int = 0
    elections: int = 0
    reads: int = 0
    snapshots: int = 0
    snaps_sent: int = 0
    truncs: int = 0
    dropped: int = 0
    hints: int = 0  # PeerDisconnected inputs delivered (crashes and resets)
    liveness_steps: int = 0


@dataclass
class _Slot:
    """A node's slot: the current SimNode, its incarnation and scheduling state."""

    node: SimNode
    incarnation: int = 0
    tick_period: float = 10.0
    sync_scheduled: bool = False
    applied_since_snapshot: int = 0
    down_since: int = 0
    stalled_until: float = 0.0


@dataclass
class _Write:
    leader: int
    epoch: int
    body: object
    issued: int


@dataclass
class _Link:
    last_delivery: dict = field(default_factory=dict)


class Simulation:
    def __init__(self, seed: int, steps: int = DEFAULT_STEPS, liveness_steps: int = 40000) -> None:
        self.seed = seed
        root = random.Random(seed)
        self.opts = draw_options(root)
        self.net_rng = random.Random(root.getrandbits(64))
        self.fault_rng = random.Random(root.getrandbits(64))
        self.work_rng = random.Random(root.getrandbits(64))
        self.disk_rng = random.Random(root.getrandbits(64))
        clock_rng = random.Random(root.getrandbits(64))
        peer_seed = root.getrandbits(64)
        self.link_rng = random.Random(root.getrandbits(64))
        draw_link_options(self.link_rng, self.opts)
        self.steps = steps
        self.liveness_steps = liveness_steps
        o = self.opts
        self.voters = frozenset(range(1, o.voters + 1))
        self.observers = frozenset(range(o.voters + 1, o.voters + o.observers + 1))
        self.ids = sorted(self.voters | self.observers)
        self.configs = {
            n: ZabConfig(
                id=n,
                voters=self.voters,
                observers=self.observers,
                election_ticks=o.election_ticks,
                heartbeat_ticks=1,
                sync_limit_ticks=o.sync_limit_ticks,
                max_batch=o.max_batch,
            )
            for n in self.ids
        }
        self.peer_rngs = {n: random.Random(peer_seed + n) for n in self.ids}
        self.nodes: dict[int, SimNode] = {}
        self.slots: dict[int, _Slot] = {}
        self.checker = Checker(self.voters, self.nodes)
        self.stats = Stats()
        self.queue: list = []
        self.seq = 0
        self.now = 0
        self.blocked: set[tuple[int, int]] = set()
        self.fifo: dict[tuple[int, int], int] = {}
        self.liveness = False
        self.liveness_started_at = 0
        self.live: list[int] = self.ids
        # workload
        self.proj: dict[tuple[int, int], DataTree] = {}
        self.writes: dict[int, _Write] = {}  # zxid -> write (proposed, not yet acked)
        self.acked: list[int] = []
        self.acked_set: set[int] = set()
        self.acked_max = 0
        self.liveness_acked = 0
        self.name_counter = 0
        self.session_counter = 0
        self.xid_counter = 0  # client xids of session writes (fill the trees' retry tables)
        self.reads: dict[int, int] = {}  # read ctx -> acked_max when issued
        self.read_counter = 0
        self.trace: list[str] = []
        self._forwards: list = []
        for n in self.ids:
            skew = 1.0 + clock_rng.uniform(-o.skew, o.skew)
            node = SimNode(self.configs[n], self.peer_rngs[n], SimDisk())
            self.nodes[n] = node
            self.slots[n] = _Slot(node, tick_period=o.tick_period * skew)
        for n in self.ids:
            self._schedule(self.slots[n].tick_period, TICK, n, 0)
            self._process(n)
        self._schedule(o.workload_period, WORKLOAD)
        self._schedule(o.fault_period, FAULT)
        if o.reset_period:
            self._schedule(self.link_rng.randint(1, 2 * o.reset_period), LINK_RESET)

    # ---- the loop -----------------------------------------------------------------

    def _schedule(self, delay: float, kind: int, a=None, b=None, c=None) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (self.now + delay, self.seq, kind, a, b, c))

    def run(self) -> Stats:
        try:
            self._run_phase(self.steps)
            self._start_liveness()
            self._run_liveness()
            self._final_checks()
        except (Violation, AssertionError, Exception) as exc:
            if isinstance(exc, SimFailure):
                raise
            raise SimFailure(self._failure_text(exc)) from exc
        return self.stats

    def _failure_text(self, exc: BaseException) -> str:
        tail = "\n".join(self.trace[-25:])
        steps = "" if self.steps == DEFAULT_STEPS else f" SIM_STEPS={self.steps}"
        return (
            f"seed {self.seed} failed at step {self.stats.steps} (t={self.now:.0f}, "
            f"{'liveness' if self.liveness else 'safety'} phase): {type(exc).__name__}: {exc}\n"
            f"options: {self.opts.describe()}\nlast events:\n{tail}\n"
            f"replay: SIM_SEED={self.seed}{steps} pytest tests/sim -k replay"
        )

    def _run_phase(self, steps: int) -> None:
        for _ in range(steps):
            self._step_once()

    def _step_once(self) -> None:
        t, _, kind, a, b, c = heapq.heappop(self.queue)
        self.now = t
        self.stats.steps += 1
        if kind == TICK:
            self._on_tick(a, b)
        elif kind == DELIVER:
            self._on_deliver(a, b, c)
        elif kind == SYNC:
            self._on_sync(a, b)
        elif kind == WORKLOAD:
            self._on_workload()
        elif kind == FAULT:
            self._on_fault()
        elif kind == LINK_DOWN:
            self._on_link_down(a, b, c)
        elif kind == LINK_RESET:
            self._on_link_reset()

    # ---- events -------------------------------------------------------------------

    def _on_tick(self, n: int, incarnation: int) -> None:
        slot = self.slots[n]
        if incarnation != slot.incarnation or not slot.node.up:
            return
        if self.now < slot.stalled_until:  # its clock is stopped; messages still flow
            self._schedule(slot.stalled_until - self.now, TICK, n, incarnation)
            return
        slot.node.peer.step(Tick())
        self._process(n)
        self._schedule(slot.tick_period, TICK, n, incarnation)

    def _on_deliver(self, dst: int, src: int, packet) -> None:
        incarnation, msgs = packet
        slot = self.slots[dst]
        if incarnation is not None and incarnation != slot.incarnation:
            return
        node = slot.node
        if not node.up:
            return
        peer = node.peer
        for msg in msgs:
            peer.step(Received(src, msg))
        self._process(dst)

    def _on_link_down(self, dst: int, src: int, incarnation: int) -> None:
        slot = self.slots[dst]
        if incarnation != slot.incarnation or not slot.node.up:
            return
        self.stats.hints += 1
        slot.node.peer.step(PeerDisconnected(src))
        self._process(dst)

    def _on_link_reset(self) -> None:
        """A link resets while both ends live on (a spurious hint); most often a leader's."""
        rng = self.link_rng
        if self.liveness:
            return
        self._schedule(rng.randint(1, 2 * self.opts.reset_period), LINK_RESET)
        up = [n for n in self.ids if self.nodes[n].up]
        if len(up) < 2:
            return
        dst = rng.choice(up)
        leader = self.nodes[dst].peer.leader_id
        if leader is not None and leader != dst and rng.random() < 0.7:
            src = leader
        else:
            src = rng.choice([n for n in self.ids if n != dst])
        self.trace.append(f"t={self.now:.0f} link reset: {dst} hears its link to {src} broke")
        self._link_down(dst, src)

    def _link_down(self, dst: int, src: int) -> None:
        """``dst`` will hear that its link to ``src`` broke, after a network delay
        and behind what ``src`` sent it unless the network reorders."""
        o = self.opts
        at = self.now + self.link_rng.randint(o.delay_min, o.delay_max)
        if not o.reorder:
            at = max(at, self.fifo.get((src, dst), 0))
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, LINK_DOWN, dst, src, self.slots[dst].incarnation))

    def _on_sync(self, n: int, incarnation: int) -> None:
        slot = self.slots[n]
        slot.sync_scheduled = False
        if incarnation != slot.incarnation or not slot.node.up:
            return
        slot.node.sync(self._send)
        self._flush_sends(n)
        self._process(n)

    # ---- processing a node ----------------------------------------------------------

    def _process(self, n: int) -> None:
        slot = self.slots[n]
        node = slot.node
        self._out: dict[int, list[Message]] = {}
        node.process(self._send, self._on_ready, self._on_applied)
        while self._forwards:
            forwards, self._forwards = self._forwards, []
            for payload in forwards:
                self._propose_at(n, payload)
            node.process(self._send, self._on_ready, self._on_applied)
        self._flush_sends(n)
        if (node.disk.pending or node.after) and not slot.sync_scheduled:
            slot.sync_scheduled = True
            delay = self.disk_rng.randint(self.opts.disk_min, self.opts.disk_max)
            self._schedule(delay, SYNC, n, slot.incarnation)
        o = self.opts
        if o.snapshot_every and slot.applied_since_snapshot >= o.snapshot_every:
            slot.applied_since_snapshot = 0
            if node.snapshot():
                self.stats.snapshots += 1
                node.process(self._send, self._on_ready, self._on_applied)
                self._flush_sends(n)

    _out: dict[int, list[Message]]

    def _send(self, src: int, dst: int, msg: Message) -> None:
        self._out.setdefault(dst, []).append(msg)

    def _flush_sends(self, src: int) -> None:
        out = self._out
        if not out:
            return
        self._out = {}
        o = self.opts
        rng = self.net_rng
        for dst, msgs in out.items():
            if (src, dst) in self.blocked:
                self.stats.dropped += 1
                continue
            if o.loss and rng.random() < o.loss:
                self.stats.dropped += 1
                continue
            delay = rng.randint(o.delay_min, o.delay_max)
            at = self.now + delay
            if not o.reorder:
                key = (src, dst)
                at = max(at, self.fifo.get(key, 0))
                self.fifo[key] = at
            packet = (self.slots[dst].incarnation, tuple(msgs))
            self.seq += 1
            heapq.heappush(self.queue, (at, self.seq, DELIVER, dst, src, packet))
            if o.dup and rng.random() < o.dup:
                # a stale copy: may arrive after a restart (incarnation None)
                self._schedule(
                    delay + rng.randint(1, 5 * o.delay_max), DELIVER, dst, src, (None, tuple(msgs))
                )

    def _on_ready(self, node: SimNode, rd: Ready) -> None:
        self.checker.on_ready(node, rd)
        n = node.id
        if rd.state is not None:
            s = rd.state
            self.trace.append(
                f"t={self.now:.0f} {n}: {s.role.value} leader={s.leader} epoch={s.epoch} "
                f"{s.phase.value}"
            )
            if s.role is Role.LEADING and s.phase is Phase.BROADCAST:
                self.stats.elections += 1
        if rd.install_snapshot is not None:
            self.stats.snaps_sent += 1
            self.trace.append(
                f"t={self.now:.0f} {n}: install snapshot {fz(rd.install_snapshot.zxid)}"
            )
        if rd.truncate_after is not None:
            self.stats.truncs += 1
            self.trace.append(f"t={self.now:.0f} {n}: truncate after {fz(rd.truncate_after)}")
        for err in rd.protocol_errors:
            raise Violation(f"{n}: protocol error from a correct peer: {err}")
        for rs in rd.read_states:
            floor = self.reads.pop(rs.ctx, None)
            if floor is not None and rs.zxid < floor:
                raise Violation(
                    f"read {rs.ctx} at {n} answered at {fz(rs.zxid)}, but {fz(floor)} "
                    "was acknowledged before it was issued"
                )
        for _sender, payload in rd.forwarded:
            self._forwards.append(payload)

    def _on_applied(self, node: SimNode, txn: Txn) -> None:
        self.checker.on_applied(node, txn)
        self.slots[node.id].applied_since_snapshot += 1
        w = self.writes.get(txn.zxid)
        if w is not None and w.leader == node.id:
            del self.writes[txn.zxid]
            self.acked.append(txn.zxid)
            self.acked_set.add(txn.zxid)
            self.acked_max = max(self.acked_max, txn.zxid)
            self.stats.acked += 1
            if self.liveness and w.issued >= self.liveness_started_at:
                self.liveness_acked += 1

    # ---- workload ---------------------------------------------------------------------

    def _serving(self) -> list[int]:
        return [
            n for n in self.ids if self.nodes[n].up and self.nodes[n].peer.phase is Phase.BROADCAST
        ]

    def _on_workload(self) -> None:
        o = self.opts
        rng = self.work_rng
        self._schedule(rng.randint(1, 2 * o.workload_period), WORKLOAD)
        if self.liveness and self.stats.liveness_steps > self.liveness_steps // 2:
            return  # let the cluster settle
        serving = self._serving()
        if not serving:
            return
        n = rng.choice(serving)
        peer = self.nodes[n].peer
        if o.read_share and rng.random() < o.read_share:
            self.read_counter += 1
            ctx = self.read_counter
            if peer.step(ClientRead(ctx)) is None:
                self.reads[ctx] = self.acked_max
                self.stats.reads += 1
            self._process(n)
            return
        if rng.random() < 0.2:
            peer.step(Touched((rng.randint(1, 5),)))
        if peer.role is Role.LEADING and rng.random() >= o.forward_share:
            self._propose_at(n, "direct")
        else:
            peer.step(ClientWrite("forwarded"))
        self._process(n)

    def _propose_at(self, n: int, payload) -> None:
        node = self.nodes[n]
        peer = node.peer
        if peer.role is not Role.LEADING or peer.phase is not Phase.BROADCAST:
            return
        key = (n, peer.epoch)
        proj = self.proj.get(key)
        if proj is None:
            if node.tree.last_zxid != peer.last_zxid:
                return  # not everything applied yet: the projection would be wrong
            proj = self.proj[key] = DataTree.from_image(node.tree.image())
        body = self._make_body(proj)
        self.stats.proposed += 1
        time_ms = int(self.now)
        sid, xid = self._asker(proj, body)
        zxid = peer.step(Propose(body, sid, xid, time_ms))
        if not isinstance(zxid, int):
            return
        proj.apply(Txn(zxid, time_ms, sid, xid, body))
        self.writes[zxid] = _Write(
            n,
            peer.epoch,
            body,
            self.stats.steps if not self.liveness else self.liveness_started_at + 1,
        )

    def _asker(self, t: DataTree, body) -> tuple[int, int]:
        """(session, xid) a client write carries; every third znode write is session-less.

        Chosen without drawing from any PRNG, so seeds keep their schedules;
        session writes fill the retry tables that snapshots, SNAP and
        restarts must carry (the final check compares them on every node).
        """
        sessions = sorted(t.sessions)
        if isinstance(body, (CreateSessionTxn, CloseSessionTxn)) or not sessions:
            return 0, 0
        if self.stats.proposed % 3 == 0:
            return 0, 0
        self.xid_counter += 1
        return sessions[self.xid_counter % len(sessions)], self.xid_counter

    def _make_body(self, t: DataTree):
        rng = self.work_rng
        paths = [p for p, _ in t.items() if p != "/"]
        sessions = sorted(t.sessions)
        r = rng.random()
        if len(paths) > 40:
            r = 0.55 + 0.45 * r * 0.33  # mostly deletes when big
        if r < 0.3 or not paths:
            return self._create(t, paths, sessions, ephemeral=False)
        if r < 0.4 and sessions:
            return self._create(t, paths, sessions, ephemeral=True)
        if r < 0.55:
            path = rng.choice(paths)
            node = t.get(path)
            data = b"v%d" % rng.randint(0, 999)
            return SetDataTxn(path, data, node.version + 1)
        if r < 0.7:
            leaves = [p for p in paths if not t.get(p).num_children]
            if leaves:
                return DeleteTxn(rng.choice(leaves))
        if r < 0.8:
            self.session_counter += 1
            return CreateSessionTxn(self.session_counter, 10000, b"pw")
        if r < 0.88 and sessions:
            sid = rng.choice(sessions)
            return CloseSessionTxn(sid, tuple(sorted(t.ephemerals(sid), reverse=True)))
        if r < 0.95:
            self.name_counter += 1
            a = f"/m{self.name_counter}"
            return MultiTxn((CreateTxn(a, b"m"), SetDataTxn(a, b"m2", 1)))
        return self._create(t, paths, sessions, ephemeral=False)

    def _create(self, t: DataTree, paths, sessions, *, ephemeral: bool):
        rng = self.work_rng
        self.name_counter += 1
        parents = ["/"] + [
            p for p in paths if p.count("/") < 3 and t.get(p).kind is NodeKind.PERSISTENT
        ]
        parent = rng.choice(parents)
        path = ("" if parent == "/" else parent) + f"/n{self.name_counter}"
        if ephemeral:
            return CreateTxn(path, b"e", NodeKind.EPHEMERAL, rng.choice(sessions))
        return CreateTxn(path, b"d")

    # ---- faults ----------------------------------------------------------------------------

    def _on_fault(self) -> None:
        o = self.opts
        rng = self.fault_rng
        self._schedule(rng.randint(o.fault_period // 2, o.fault_period * 2), FAULT)
        if self.liveness:
            return
        up = [n for n in self.ids if self.nodes[n].up]
        down = [n for n in self.ids if not self.nodes[n].up]
        if down and rng.random() < o.restart_rate:
            self._restart(rng.choice(down))
        elif up and o.crash_rate and rng.random() < o.crash_rate:
            self._crash(rng.choice(up))
        if up and o.stall_rate and rng.random() < o.stall_rate:
            # a pause: most likely the leader, the classic stale-leader setup
            leaders = [n for n in up if self.nodes[n].peer.role is Role.LEADING]
            n = rng.choice(leaders or up)
            ticks = rng.randint(o.sync_limit_ticks, 4 * (o.election_ticks + o.sync_limit_ticks))
            self.slots[n].stalled_until = self.now + ticks * o.tick_period
            self.stats.stalls += 1
            self.trace.append(f"t={self.now:.0f} stall {n} for {ticks} ticks")
        if o.partition_mode != "none":
            if self.blocked and rng.random() < o.heal_rate:
                self.blocked = set()
                self.trace.append(f"t={self.now:.0f} heal")
            elif rng.random() < o.partition_rate:
                self._partition(o.partition_mode)

    def _partition(self, mode: str) -> None:
        rng = self.fault_rng
        ids = self.ids
        blocked: set[tuple[int, int]] = set()
        if mode == "isolate":
            x = rng.choice(ids)
            blocked = {(x, y) for y in ids if y != x} | {(y, x) for y in ids if y != x}
            what = f"isolate {x}"
        elif mode == "split":
            shuffled = ids[:]
            rng.shuffle(shuffled)
            k = rng.randint(1, len(ids) - 1)
            a, b = set(shuffled[:k]), set(shuffled[k:])
            blocked = {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}
            what = f"split {sorted(a)} | {sorted(b)}"
        else:
            x = rng.choice(ids)
            blocked = {(x, y) for y in ids if y != x}
            if rng.random() < 0.5:
                blocked = {(y, x) for x_, y in blocked}
                what = f"asymmetric: nobody hears... {x} hears nobody"
            else:
                what = f"asymmetric: nobody hears {x}"
        self.blocked = blocked
        self.stats.partitions += 1
        self.trace.append(f"t={self.now:.0f} partition {what}")

    def _crash(self, n: int) -> None:
        slot = self.slots[n]
        node = slot.node
        disk = node.disk
        keep_ops = keep_txns = 0
        if self.opts.torn and disk.pending:
            keep_ops = self.fault_rng.randint(0, len(disk.pending))
            if keep_ops < len(disk.pending) and disk.pending[keep_ops][0] == "append":
                keep_txns = self.fault_rng.randint(0, len(disk.pending[keep_ops][1]))
        lost = len(disk.pending) - keep_ops
        disk.crash(keep_ops, keep_txns)
        node.up = False
        slot.incarnation += 1
        slot.sync_scheduled = False
        slot.down_since = self.stats.steps
        self.stats.crashes += 1
        self.trace.append(f"t={self.now:.0f} crash {n} (lost {lost} unsynced ops)")
        # its process is gone and so are its connections: peers may hear of it
        for m in self.ids:
            if m != n and self.nodes[m].up and self.link_rng.random() < self.opts.hint_rate:
                self._link_down(m, n)

    def _restart(self, n: int) -> None:
        slot = self.slots[n]
        disk = slot.node.disk
        node = SimNode(self.configs[n], self.peer_rngs[n], disk)
        self.nodes[n] = node
        slot.node = node
        slot.incarnation += 1
        slot.applied_since_snapshot = 0
        self.checker.on_restart(node)
        self.stats.restarts += 1
        self.trace.append(f"t={self.now:.0f} restart {n} (log to {fz(disk.volatile.last())})")
        self._schedule(slot.tick_period, TICK, n, slot.incarnation)
        self._process(n)

    # ---- liveness -------------------------------------------------------------------------------

    def _start_liveness(self) -> None:
        self.liveness = True
        self.liveness_started_at = self.stats.steps
        o = self.opts
        o.loss = o.dup = 0.0
        o.reorder = False
        # latency well inside the timeouts, as any deployment must be configured
        o.delay_max = min(o.delay_max, o.tick_period // 2)
        o.disk_max = min(o.disk_max, o.tick_period // 2)
        self.blocked = set()
        self.fifo = {k: v for k, v in self.fifo.items()}
        self.trace.append(f"t={self.now:.0f} liveness phase: faults off")
        for slot in self.slots.values():
            slot.stalled_until = 0.0
        # a core quorum runs fault-free; half the seeds keep a minority of
        # voters (and maybe the observer) down to show a quorum suffices
        rng = self.fault_rng
        minority = (len(self.voters) - 1) // 2
        keep_down: set[int] = set()
        if rng.random() < 0.5:
            keep_down = set(rng.sample(sorted(self.voters), rng.randint(0, minority)))
            keep_down |= {n for n in self.observers if rng.random() < 0.3}
        for n in self.ids:
            if n in keep_down and self.nodes[n].up:
                self._crash(n)
            elif n not in keep_down and not self.nodes[n].up:
                self._restart(n)
        self.live = [n for n in self.ids if n not in keep_down]
        self.trace.append(f"t={self.now:.0f} liveness core: {self.live}")

    def _converged(self) -> bool:
        leaders = [n for n in self.live if self.nodes[n].peer.role is Role.LEADING]
        if len(leaders) != 1:
            return False
        lp = self.nodes[leaders[0]].peer
        if lp.phase is not Phase.BROADCAST:
            return False
        target = lp.last_zxid
        for n in self.live:
            node = self.nodes[n]
            p = node.peer
            if p.phase is not Phase.BROADCAST or p.leader_id != leaders[0]:
                return False
            if node.tree.last_zxid != target or p.last_zxid != target:
                return False
        return not self.writes or all(
            w.leader != leaders[0] or w.epoch != lp.epoch for w in self.writes.values()
        )

    def _run_liveness(self) -> None:
        limit = self.liveness_steps
        while self.stats.liveness_steps < limit:
            self._step_once()
            self.stats.liveness_steps += 1
            if self.liveness_acked and self._converged():
                return
        raise Violation(
            f"no convergence within {limit} liveness steps: "
            + "; ".join(
                f"{n}: {'down ' if not self.nodes[n].up else ''}"
                f"{self.nodes[n].peer.role.value}/{self.nodes[n].peer.phase.value} "
                f"leader={self.nodes[n].peer.leader_id} last={fz(self.nodes[n].peer.last_zxid)} "
                f"applied={fz(self.nodes[n].tree.last_zxid)}"
                for n in self.ids
            )
            + f"; liveness acks {self.liveness_acked}"
        )

    def _final_checks(self) -> None:
        live = self.live
        sigs = {n: self.nodes[n].tree.signature() for n in live}
        first = sigs[live[0]]
        for n in live:
            if sigs[n] != first:
                raise Violation(f"trees differ between {live[0]} and {n}")
        tree = self.nodes[live[0]].tree
        applied = set(self.checker.canon[: self.checker.applied_pos.get(live[0], 0)])
        missing = [z for z in self.acked if z not in applied]
        if missing:
            raise Violation(f"acknowledged writes lost: {[fz(z) for z in missing[:5]]}")
        for n in live:
            if self.checker.applied_pos.get(n, 0) != len(self.checker.canon):
                raise Violation(
                    f"{n} applied {self.checker.applied_pos.get(n)} of {len(self.checker.canon)}"
                )
        for path, z in tree.items():
            if z.ephemeral_owner and z.ephemeral_owner not in tree.sessions:
                raise Violation(f"ephemeral {path} outlived its session {z.ephemeral_owner:#x}")
