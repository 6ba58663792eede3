"""Drive ZabPeers by hand for transcript tests (etcd's interaction env, for ZAB).

Every command runs, then every live node's Readys are processed (storage
queued on its SimDisk, messages put in flight, committed txns applied) and
printed. Messages move only on ``deliver``/``stabilize``; disks sync only on
``persist``/``stabilize``. Zxids print as ``epoch.counter``.
"""

from __future__ import annotations

import random
from dataclasses import fields

from sim_node import SimDisk, SimNode

from coordsvc.tree.datatree import TreeImage
from coordsvc.tree.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    SetDataTxn,
    Txn,
    zxid_counter,
    zxid_epoch,
)
from coordsvc.tree.znode import NodeKind
from coordsvc.zab.messages import Message, PeerDisconnected, Propose, Received, Role, Tick
from coordsvc.zab.peer import ZabConfig
from coordsvc.zab.ready import Ready

__all__ = ["Harness", "fz", "fmt_txn", "fmt_msg"]

ZXID_FIELDS = {"zxid", "prev_zxid", "committed", "last_zxid"}


def fz(z: int) -> str:
    return f"{zxid_epoch(z)}.{zxid_counter(z)}"


def fmt_body(body) -> str:
    match body:
        case CreateTxn(path=path, data=data, kind=kind, ephemeral_owner=owner):
            extra = f" ephemeral owner={owner:#x}" if kind is NodeKind.EPHEMERAL else ""
            return f"create {path} data={data.decode()}{extra}"
        case SetDataTxn(path=path, data=data, version=version):
            return f"set {path} data={data.decode()} version={version}"
        case DeleteTxn(path=path):
            return f"delete {path}"
        case CreateSessionTxn(session_id=sid):
            return f"session {sid:#x}"
        case CloseSessionTxn(session_id=sid, paths=paths):
            return f"close {sid:#x} ({' '.join(paths)})"
    return repr(body)


def fmt_txn(t: Txn) -> str:
    return f"{fz(t.zxid)} {fmt_body(t.body)}"


def fmt_msg(msg: Message) -> str:
    parts = []
    for f in fields(msg):
        v = getattr(msg, f.name)
        if isinstance(v, Txn):
            parts.append(f"[{fmt_txn(v)}]")
        elif isinstance(v, TreeImage):
            parts.append(f"image@{fz(v.last_zxid)}")
        elif isinstance(v, Role):
            parts.append(v.value)
        elif f.name in ZXID_FIELDS:
            parts.append(f"{f.name}={fz(v)}")
        elif v is None or v == ():
            continue
        else:
            parts.append(f"{f.name}={v}")
    return f"{type(msg).__name__}({' '.join(parts)})"


def _ids(arg: str, nodes) -> list[int]:
    if arg == "all":
        return sorted(nodes)
    return [int(x) for x in arg.strip("()").split(",") if x]


def _kv(args: list[str]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in args if "=" in a)


class Harness:
    def __init__(self) -> None:
        self.nodes: dict[int, SimNode] = {}
        self.configs: dict[int, ZabConfig] = {}
        self.rngs: dict[int, random.Random] = {}
        self.net: list[tuple[int, int, Message]] = []
        self.out: list[str] = []
        self.time_ms = 1000

    # ---- plumbing ---------------------------------------------------------------

    def _send(self, src: int, dst: int, msg: Message) -> None:
        self.net.append((src, dst, msg))

    def _on_ready(self, node: SimNode, rd: Ready) -> None:
        n = node.id
        if rd.state is not None:
            s = rd.state
            leader = s.leader if s.leader is not None else "-"
            self.out.append(
                f"{n}: {s.role.value} leader={leader} epoch={s.epoch} phase={s.phase.value}"
            )
        if rd.install_snapshot is not None:
            self.out.append(f"{n}: install snapshot at {fz(rd.install_snapshot.zxid)}")
        if rd.truncate_after is not None:
            self.out.append(f"{n}: truncate after {fz(rd.truncate_after)}")
        if rd.persist:
            zs = " ".join(fz(t.zxid) for t in rd.persist)
            self.out.append(f"{n}: persist {zs}")
        if rd.epochs is not None:
            self.out.append(
                f"{n}: persist epochs accepted={rd.epochs.accepted} current={rd.epochs.current}"
            )
        for t in rd.committed:
            self.out.append(f"{n}: apply {fmt_txn(t)}")
        for rs in rd.read_states:
            self.out.append(f"{n}: read {rs.ctx} at {fz(rs.zxid)}")
        for e in rd.protocol_errors:
            self.out.append(f"{n}: protocol error: {e.reason}")

    def _process(self) -> None:
        for n in sorted(self.nodes):
            node = self.nodes[n]
            if node.up:
                node.process(self._send, self._on_ready)

    def _new_node(self, n: int, disk: SimDisk | None = None) -> SimNode:
        return SimNode(self.configs[n], self.rngs[n], disk)

    # ---- commands ---------------------------------------------------------------

    def handle(self, command: str, args: list[str]) -> str:
        self.out = []
        method = getattr(self, "cmd_" + command.replace("-", "_"), None)
        if method is None:
            raise ValueError(f"unknown command {command!r}")
        result = method(args)
        if result is not None:
            self.out.append(result)
        self._process()
        return "\n".join(self.out) or "ok"

    def cmd_add_peers(self, args: list[str]) -> None:
        count = int(args[0])
        kv = _kv(args[1:])
        observers = int(kv.get("observers", 0))
        voters = frozenset(range(1, count + 1))
        obs = frozenset(range(count + 1, count + observers + 1))
        for n in sorted(voters | obs):
            self.configs[n] = ZabConfig(
                id=n,
                voters=voters,
                observers=obs,
                election_ticks=int(kv.get("election", 3)),
                heartbeat_ticks=int(kv.get("heartbeat", 1)),
                sync_limit_ticks=int(kv.get("sync", 4)),
            )
            self.rngs[n] = random.Random(n)
            self.nodes[n] = self._new_node(n)

    def cmd_tick(self, args: list[str]) -> None:
        ids = _ids(args[0], self.nodes)
        what = args[1] if len(args) > 1 else "1"
        for n in ids:
            node = self.nodes[n]
            if what == "election":
                count = 2 * self.configs[n].election_ticks
            elif what == "sync":
                count = self.configs[n].sync_limit_ticks + 1
            else:
                count = int(what)
            for _ in range(count):
                if node.up:
                    node.peer.step(Tick())
                    node.process(self._send, self._on_ready)

    def cmd_deliver(self, args: list[str]) -> None:
        kv = _kv(args)
        drop = set(_ids(kv["drop"], self.nodes)) if "drop" in kv else set()
        only_to = set(_ids(kv["to"], self.nodes)) if "to" in kv else None
        only_from = set(_ids(kv["from"], self.nodes)) if "from" in kv else None
        batch, self.net = self.net, []
        together = "batch" in args  # a node steps all its messages, then one Ready
        touched: list[int] = []
        for src, dst, msg in batch:
            if (only_to is not None and dst not in only_to) or (
                only_from is not None and src not in only_from
            ):
                self.net.append((src, dst, msg))
                continue
            self._deliver_one(src, dst, msg, drop, process=not together)
            if together and dst not in touched:
                touched.append(dst)
        for n in touched:
            if self.nodes[n].up:
                self.nodes[n].process(self._send, self._on_ready)

    def _deliver_one(
        self, src: int, dst: int, msg: Message, drop: set[int], process: bool = True
    ) -> None:
        node = self.nodes[dst]
        if dst in drop or src in drop:
            self.out.append(f"{src}->{dst} {fmt_msg(msg)} (dropped)")
            return
        if not node.up:
            self.out.append(f"{src}->{dst} {fmt_msg(msg)} (down)")
            return
        self.out.append(f"{src}->{dst} {fmt_msg(msg)}")
        node.peer.step(Received(src, msg))
        if process:
            node.process(self._send, self._on_ready)

    def cmd_persist(self, args: list[str]) -> None:
        for n in _ids(args[0] if args else "all", self.nodes):
            node = self.nodes[n]
            if node.up and (node.disk.pending or node.after):
                self.out.append(f"{n}: synced")
                node.sync(self._send)
                node.process(self._send, self._on_ready)

    def cmd_stabilize(self, args: list[str]) -> None:
        quiet = "quiet" in args
        drop = set(_ids(_kv(args)["drop"], self.nodes)) if "drop" in _kv(args) else set()
        for _ in range(1000):
            self._process()
            busy = False
            for n in sorted(self.nodes):
                node = self.nodes[n]
                if node.up and (node.disk.pending or node.after):
                    node.sync(self._send)
                    node.process(self._send, self._on_ready)
                    busy = True
            if self.net:
                batch, self.net = self.net, []
                for src, dst, msg in batch:
                    self._deliver_one(src, dst, msg, drop)
                busy = True
            if not busy:
                break
        else:
            raise AssertionError("stabilize did not settle")
        if quiet:
            self.out = [ln for ln in self.out if "->" not in ln and "synced" not in ln]

    def cmd_propose(self, args: list[str]) -> str:
        n = int(args[0])
        op = args[1]
        kv = _kv(args[2:])
        data = kv.get("data", "").encode()
        session = int(kv.get("session", "0"), 0)
        if op == "create":
            kind = NodeKind.EPHEMERAL if "ephemeral" in args else NodeKind.PERSISTENT
            body = CreateTxn(args[2], data, kind, session if kind is NodeKind.EPHEMERAL else 0)
        elif op == "set":
            body = SetDataTxn(args[2], data, int(kv.get("version", "1")))
        elif op == "delete":
            body = DeleteTxn(args[2])
        elif op == "session":
            session = int(args[2], 0)
            body = CreateSessionTxn(session, 10000, b"pw")
        elif op == "close":
            session = int(args[2], 0)
            tree = self.nodes[n].tree
            body = CloseSessionTxn(session, tuple(sorted(tree.ephemerals(session), reverse=True)))
        else:
            raise ValueError(f"unknown op {op!r}")
        self.time_ms += 1
        got = self.nodes[n].peer.step(Propose(body, session, 0, self.time_ms))
        return f"{n}: proposed {fz(got)}" if isinstance(got, int) else f"{n}: {got!r}"

    def cmd_crash(self, args: list[str]) -> str:
        """crash N [keep-ops=K keep-txns=T]: lose the unsynced disk ops except the
        first K, and T txns of the next one if it is an append (a torn write)."""
        n = int(args[0])
        kv = _kv(args[1:])
        node = self.nodes[n]
        keep_ops, keep_txns = int(kv.get("keep-ops", 0)), int(kv.get("keep-txns", 0))
        lost = sum(len(op[1]) if op[0] == "append" else 1 for op in node.disk.pending)
        lost -= sum(len(op[1]) if op[0] == "append" else 1 for op in node.disk.pending[:keep_ops])
        lost -= keep_txns
        node.disk.crash(keep_ops, keep_txns)
        node.up = False
        self.net = [(s, d, m) for s, d, m in self.net if d != n]
        return f"{n}: crashed (lost {lost} unsynced)"

    def cmd_disconnect(self, args: list[str]) -> None:
        """disconnect IDS PEER: the transport of each of IDS reports that its link
        to PEER broke (``PeerDisconnected``), as when PEER's process dies."""
        src = int(args[1])
        for n in _ids(args[0], self.nodes):
            node = self.nodes[n]
            if node.up:
                self.out.append(f"{n}: link to {src} broke")
                node.peer.step(PeerDisconnected(src))
                node.process(self._send, self._on_ready)

    def cmd_restart(self, args: list[str]) -> None:
        n = int(args[0])
        self.nodes[n] = self._new_node(n, self.nodes[n].disk)

    def cmd_snapshot(self, args: list[str]) -> str:
        n = int(args[0])
        z = self.nodes[n].snapshot()
        self.nodes[n].sync(self._send)
        return f"{n}: snapshot at {fz(z)}, log purged through it"

    def cmd_log(self, args: list[str]) -> str:
        node = self.nodes[int(args[0])]
        v = node.disk.volatile
        lines = [f"floor {fz(v.floor)}"] + [fmt_txn(t) for t in v.log]
        return "\n".join(lines)

    def cmd_disk(self, args: list[str]) -> str:
        """What survives a crash: the durable epochs and log."""
        d = self.nodes[int(args[0])].disk.durable
        zs = " ".join(fz(t.zxid) for t in d.log) or "-"
        return f"accepted={d.accepted} current={d.current} floor={fz(d.floor)} log: {zs}"

    def cmd_tree(self, args: list[str]) -> str:
        node = self.nodes[int(args[0])]
        lines = [f"applied {fz(node.tree.last_zxid)}"]
        for path, z in node.tree.items():
            owner = f" owner={z.ephemeral_owner:#x}" if z.ephemeral_owner else ""
            lines.append(f"{path} data={z.data.decode()} version={z.version}{owner}")
        return "\n".join(lines)

    def cmd_status(self, args: list[str]) -> str:
        lines = []
        for n in sorted(self.nodes):
            node = self.nodes[n]
            if not node.up:
                lines.append(f"{n}: down")
                continue
            p = node.peer
            leader = p.leader_id if p.leader_id is not None else "-"
            lines.append(
                f"{n}: {p.role.value} leader={leader} epoch={p.epoch} phase={p.phase.value} "
                f"accepted={p.accepted_epoch} current={p.current_epoch} "
                f"last={fz(p.last_zxid)} applied={fz(p.committed_zxid)}"
            )
        return "\n".join(lines)

    def cmd_elect(self, args: list[str]) -> str:
        """Stabilize quietly and check that node N leads in broadcast."""
        n = int(args[0])
        self.cmd_stabilize(["quiet"])
        p = self.nodes[n].peer
        if p.role is not Role.LEADING:
            raise AssertionError(f"node {n} is {p.role.value}, not LEADING")
        return f"{n} leads epoch {p.epoch}"
