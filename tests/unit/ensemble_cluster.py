"""An in-memory ensemble for tests: N Replicas (ZabPeer + EnsemblePipeline) and a loopback net.

Pure and deterministic: the network is a FIFO of (src, dst, message), disks
are the simulator's SimDisk (synced when the cluster says so), time is ticks
handed in by the test. It drives the same ``Replica`` class as the server.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))

from sim_node import SimDisk  # noqa: E402

from coordsvc.request.ensemble import EnsemblePipeline, ForwardReply  # noqa: E402
from coordsvc.request.events import ClientRequest, Connect, Connected, Reply  # noqa: E402
from coordsvc.request.ops import Op  # noqa: E402
from coordsvc.request.pipeline import PipelineConfig  # noqa: E402
from coordsvc.server.replica import Replica  # noqa: E402
from coordsvc.zab import Phase, Role, ZabConfig, ZabPeer  # noqa: E402

__all__ = ["Cluster", "Node"]


class Node:
    def __init__(self, cluster: Cluster, nid: int, voters: set[int], observers: set[int]) -> None:
        self.cluster = cluster
        self.id = nid
        self.disk = SimDisk()
        self.up = True
        self.actions: list = []
        self.after: list = []
        self.start(voters, observers)

    def start(self, voters: set[int], observers: set[int]) -> None:
        cfg = ZabConfig(id=self.id, voters=frozenset(voters), observers=frozenset(observers))
        peer = ZabPeer(cfg, self.disk, random.Random(self.id * 7919))
        self.replica = Replica(peer, self)
        self.pipeline = EnsemblePipeline(
            PipelineConfig(server_id=self.id, tick_ms=100),
            zab=self.replica,
            now_ms=0,
            rng=random.Random(self.id),
        )
        self.replica.attach(self.pipeline)

    # ---- ReplicaIO ----------------------------------------------------------

    def send(self, to: int, msg) -> None:
        self.cluster.net.append((self.id, to, msg))

    def store(self, rd) -> None:
        self.disk.submit(rd)
        self.after.append((rd.persist_mark, rd.send_after_persist))

    def execute(self, actions) -> None:
        for a in actions:
            if isinstance(a, ForwardReply):
                self.cluster.net.append((self.id, a.origin, a))
            else:
                self.actions.append(a)

    def sync(self) -> bool:
        if not self.after and not self.disk.pending:
            return False
        self.disk.sync()
        waiting, self.after = self.after, []
        for mark, sends in waiting:
            self.replica.durable(mark, sends)
        return True

    # ---- client side --------------------------------------------------------

    @property
    def role(self) -> Role:
        return self.replica.peer.role

    @property
    def serving(self) -> bool:
        return self.replica.peer.phase is Phase.BROADCAST

    def replies(self) -> list[Reply]:
        return [a for a in self.actions if isinstance(a, Reply)]


class Cluster:
    def __init__(self, voters: int = 3, observers: int = 0) -> None:
        vs = set(range(1, voters + 1))
        obs = set(range(voters + 1, voters + observers + 1))
        self.net: deque = deque()
        self.nodes = {i: Node(self, i, vs, obs) for i in sorted(vs | obs)}
        self._conns = itertools.count(1)
        self._xids = itertools.count(1)

    def step(self) -> bool:
        """Deliver every queued message and sync every disk once; True if anything moved."""
        moved = False
        batch, self.net = list(self.net), deque()
        for src, dst, msg in batch:
            node = self.nodes[dst]
            if not node.up or not self.nodes[src].up:
                continue
            moved = True
            if isinstance(msg, ForwardReply):
                node.replica.handle(msg.arrived())
            else:
                node.replica.receive(src, msg)
        for node in self.nodes.values():
            if node.up:
                moved |= node.sync()
        return moved

    def settle(self, limit: int = 1000) -> None:
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("the cluster did not settle")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            for node in self.nodes.values():
                if node.up:
                    node.replica.tick()
            self.settle()

    def elect(self, limit: int = 500) -> Node:
        for _ in range(limit):
            up = [n for n in self.nodes.values() if n.up]
            leaders = [n for n in up if n.role is Role.LEADING and n.serving]
            if len(leaders) == 1 and all(n.serving for n in up):
                return leaders[0]
            self.tick()
        raise AssertionError("no leader elected")

    def followers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.up and n.role is not Role.LEADING]

    # ---- clients ------------------------------------------------------------

    def connect(self, node: Node, timeout_ms: int = 10_000) -> tuple[int, int]:
        """(conn_id, session_id) of a new session opened on ``node``."""
        conn = next(self._conns)
        node.replica.handle(Connect(conn, 0, b"", timeout_ms, 0))
        self.settle()
        (c,) = [a for a in node.actions if isinstance(a, Connected) and a.conn_id == conn]
        return conn, c.session_id

    def send(self, node: Node, conn: int, sid: int, op: Op, xid: int | None = None) -> int:
        """Send ``op`` (a resend when ``xid`` is given); return its xid."""
        xid = next(self._xids) if xid is None else xid
        node.replica.handle(ClientRequest(conn, sid, xid, op))
        return xid

    def call(self, node: Node, conn: int, sid: int, op: Op, xid: int | None = None) -> Reply:
        xid = self.send(node, conn, sid, op, xid)
        self.settle()
        got = [r for r in node.replies() if r.conn_id == conn and r.xid == xid]
        assert len(got) == 1, f"{len(got)} replies to xid {xid} on node {node.id}"
        return got[0]
