"""One simulated server: a ZabPeer, its DataTree and a SimDisk, driven by the Ready loop.

Shared by the simulator and the transcript harness. ``SimDisk`` keeps two
copies of the store: the *volatile* one the core reads (every op applied at
once, as LMDB shows its own writes) and the *durable* one a crash leaves
behind (ops reach it only at ``sync``; a crash keeps some prefix of the
unsynced ops, possibly tearing an append in the middle).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from coordsvc.storage.base import CompactedError, InitialState
from coordsvc.tree.datatree import DataTree, TreeImage
from coordsvc.tree.txn import Txn
from coordsvc.zab.messages import Message, Persisted, Snap
from coordsvc.zab.peer import ZabConfig, ZabPeer
from coordsvc.zab.ready import Ready

__all__ = ["SimDisk", "SimNode", "Store"]


def _zx(t: Txn) -> int:
    return t.zxid


@dataclass(slots=True)
class Store:
    log: list[Txn] = field(default_factory=list)
    floor: int = 0  # snapshot / purge point
    image: TreeImage | None = None  # snapshot at floor (None: empty tree at 0)
    accepted: int = 0
    current: int = 0

    def copy(self) -> Store:
        return Store(list(self.log), self.floor, self.image, self.accepted, self.current)

    def last(self) -> int:
        return self.log[-1].zxid if self.log else self.floor

    def holds(self, zxid: int) -> bool:
        if zxid <= self.floor:
            return True
        i = bisect_right(self.log, zxid, key=_zx)
        return i > 0 and self.log[i - 1].zxid == zxid

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == "append":
            for t in op[1]:
                if t.zxid <= self.last():
                    raise AssertionError(f"append {t.zxid:#x} after {self.last():#x}")
            self.log.extend(op[1])
        elif kind == "truncate":
            del self.log[bisect_right(self.log, op[1], key=_zx) :]
        elif kind == "epochs":
            self.accepted, self.current = op[1], op[2]
        elif kind == "install":
            self.log = []
            self.image = op[1]
            self.floor = op[1].last_zxid
        elif kind == "snapshot":  # a local snapshot: purge the log through it
            image = op[1]
            del self.log[: bisect_right(self.log, image.last_zxid, key=_zx)]
            self.image = image
            self.floor = image.last_zxid
        else:
            raise AssertionError(f"unknown op {op!r}")


class SimDisk:
    """Storage for one server: volatile view for the core, durable view for crashes."""

    def __init__(self) -> None:
        self.durable = Store()
        self.volatile = Store()
        self.pending: list[tuple] = []  # ops not yet synced, in order
        self.syncs = 0

    # ---- the read side the core uses (LogStorage) ----------------------------------

    def initial_state(self) -> InitialState:
        v = self.volatile
        return InitialState(v.accepted, v.current, v.floor, None, v.last())

    def entries(self, lo: int, hi: int) -> list[Txn]:
        v = self.volatile
        if lo < v.floor:
            raise CompactedError(f"entries after {lo:#x} were purged (floor {v.floor:#x})")
        log = v.log
        return log[bisect_right(log, lo, key=_zx) : bisect_right(log, hi, key=_zx)]

    # ---- the write side the driver uses ---------------------------------------------

    def submit(self, rd: Ready) -> None:
        if rd.install_snapshot is not None:
            self._do(("install", rd.install_snapshot.image))
        if rd.truncate_after is not None:
            self._do(("truncate", rd.truncate_after))
        if rd.persist:
            self._do(("append", rd.persist))
        if rd.epochs is not None:  # after the log it vouches for
            self._do(("epochs", rd.epochs.accepted, rd.epochs.current))

    def take_snapshot(self, image: TreeImage) -> None:
        self._do(("snapshot", image))

    def _do(self, op: tuple) -> None:
        self.volatile.apply(op)
        self.pending.append(op)

    def sync(self) -> None:
        for op in self.pending:
            self.durable.apply(op)
        self.pending.clear()
        self.syncs += 1

    def crash(self, keep_ops: int = 0, keep_txns: int = 0) -> None:
        """Lose the unsynced tail except ``keep_ops`` whole ops and, if the next op is
        an append, its first ``keep_txns`` txns (a torn write)."""
        kept = self.pending[:keep_ops]
        if keep_txns and keep_ops < len(self.pending) and self.pending[keep_ops][0] == "append":
            kept.append(("append", self.pending[keep_ops][1][:keep_txns]))
        for op in kept:
            self.durable.apply(op)
        self.pending.clear()
        self.volatile = self.durable.copy()


class SimNode:
    """A server: ZabPeer + DataTree + SimDisk, and the Ready loop of ready.py."""

    def __init__(self, config: ZabConfig, rng, disk: SimDisk | None = None) -> None:
        self.id = config.id
        self.config = config
        self.disk = disk if disk is not None else SimDisk()
        image = self.disk.volatile.image
        self.tree = DataTree.from_image(image) if image is not None else DataTree()
        self.peer = ZabPeer(config, self.disk, rng)
        self.up = True
        # (mark, messages) waiting for the disk to sync, in order
        self.after: list[tuple[int, tuple[tuple[int, Message], ...]]] = []

    def process(
        self,
        send: Callable[[int, int, Message], None],
        on_ready: Callable[[SimNode, Ready], None] | None = None,
        on_applied: Callable[[SimNode, Txn], None] | None = None,
    ) -> list[Ready]:
        """Run the Ready loop until the peer has nothing more to do."""
        peer = self.peer
        done = []
        while peer.has_ready():
            rd = peer.ready()
            if on_ready is not None:
                on_ready(self, rd)
            if rd.install_snapshot is not None:
                self.tree = DataTree.from_image(rd.install_snapshot.image)
            self.disk.submit(rd)
            for to, msg in rd.send_now:
                if type(msg) is Snap:
                    image = self.tree.image()
                    if image.last_zxid != msg.zxid:
                        raise AssertionError(
                            f"SNAP at {msg.zxid:#x} but the tree is at {image.last_zxid:#x}"
                        )
                    msg = dataclasses.replace(msg, image=image)
                send(self.id, to, msg)
            for txn in rd.committed:
                self.tree.apply(txn)
                if on_applied is not None:
                    on_applied(self, txn)
            if rd.persist_mark or rd.send_after_persist:
                if rd.persist_mark == 0 and not self.after and not self.disk.pending:
                    for to, msg in rd.send_after_persist:
                        send(self.id, to, msg)
                else:
                    self.after.append((rd.persist_mark, rd.send_after_persist))
            peer.advance(rd)
            done.append(rd)
        return done

    def sync(self, send: Callable[[int, int, Message], None]) -> None:
        """The disk synced: send what waited for it and tell the core."""
        self.disk.sync()
        waiting, self.after = self.after, []
        mark = 0
        for m, msgs in waiting:
            for to, msg in msgs:
                send(self.id, to, msg)
            mark = max(mark, m)
        if mark:
            self.peer.step(Persisted(mark))

    def snapshot(self) -> int:
        """Snapshot the tree at its applied zxid and purge the log through it."""
        from coordsvc.zab.messages import LogPurged

        image = self.tree.image()
        if image.last_zxid <= self.disk.volatile.floor:
            return 0
        self.disk.take_snapshot(image)
        self.peer.step(LogPurged(image.last_zxid))
        return image.last_zxid
