"""Safety checkers for the simulator, incremental: each hook is O(1)-ish per event.

They watch what the core asks the driver to do (Readys) and what the trees
apply, and compare against global records:

- election safety: one leader per epoch (a node owns epoch e once it leaves
  discovery as LEADING in e);
- leader append-only: a LEADING node never truncates or installs a snapshot
  and only appends txns of its own epoch;
- log matching: one txn per zxid ensemble-wide; per log, counters contiguous
  within an epoch; every log that holds (e, 1) holds the same txn before it
  (so logs that share a zxid share the prefix up to it);
- leader completeness: a new leader's history holds everything committed so
  far, and nothing is committed later below a later leader's history end
  that it did not hold;
- commit durability: when a leader hands out a txn to apply, a quorum of
  voters holds it on *disk* with current epoch >= the leader's (this is what
  "ack only after fsync" and "commit only on a quorum" buy);
- state machine safety: every server applies a prefix of one canonical
  sequence; no truncation drops a txn of it;
- primary order: that sequence increases, is contiguous within an epoch and
  enters a new epoch only at counter 1 right after that epoch's history end;
- read index: a read is answered at a zxid >= everything acked before it.
"""

from __future__ import annotations

from bisect import bisect_right

from coordsvc.tree.txn import Txn, zxid_counter, zxid_epoch
from coordsvc.zab.messages import Phase, Role
from coordsvc.zab.quorum import quorum_size
from coordsvc.zab.ready import Ready

__all__ = ["Checker", "Violation"]


class Violation(AssertionError):
    """A safety property failed."""


def fz(z: int) -> str:
    return f"{zxid_epoch(z)}.{zxid_counter(z)}"


class Checker:
    def __init__(self, voters: frozenset[int], nodes: dict) -> None:
        self.voters = voters
        self.quorum = quorum_size(voters)
        self.nodes = nodes  # id -> SimNode (the cluster's live dict)
        self.epoch_leader: dict[int, int] = {}
        self.sync_end: dict[int, int] = {}  # epoch -> its leader's history end at SYNC
        self.hist_end: dict[int, int] = {}  # the same, for established epochs only
        self.epoch_prev: dict[int, int] = {}  # epoch -> zxid before (epoch, 1)
        self.txns: dict[int, Txn] = {}  # zxid -> the one txn with that zxid
        self.canon: list[int] = []  # the committed sequence, as applied
        self.canon_index: dict[int, int] = {}
        self.applied_pos: dict[int, int] = {}  # node -> how many of canon it applied
        self.events = 0

    def fail(self, what: str) -> None:
        raise Violation(what)

    # ---- Readys -----------------------------------------------------------------

    def on_ready(self, node, rd: Ready) -> None:
        n = node.id
        peer = node.peer
        vol = node.disk.volatile
        leading = peer.role is Role.LEADING
        if rd.state is not None:
            self._on_state(node, rd)
        if rd.install_snapshot is not None:
            z = rd.install_snapshot.zxid
            if leading:
                self.fail(f"leader {n} installs a snapshot at {fz(z)}")
            if z and z not in self.canon_index:
                self.fail(f"{n} installs a snapshot at {fz(z)}, which is not committed")
            self.applied_pos[n] = self.canon_index[z] + 1 if z else 0
        if rd.truncate_after is not None:
            z = rd.truncate_after
            if leading:
                self.fail(f"leader {n} truncates its log after {fz(z)}")
            log = vol.log
            i = bisect_right(log, z, key=_zx)
            if i < len(log) and log[i].zxid in self.canon_index:
                self.fail(f"{n} truncates committed {fz(log[i].zxid)} (after {fz(z)})")
            if z < node.tree.last_zxid:
                self.fail(f"{n} truncates after {fz(z)} below applied {fz(node.tree.last_zxid)}")
        if rd.persist:
            if rd.install_snapshot is not None:
                last = rd.install_snapshot.zxid
            elif rd.truncate_after is not None:
                last = min(vol.last(), rd.truncate_after)
            else:
                last = vol.last()
            epoch = peer.epoch
            txns = self.txns
            eprev = self.epoch_prev
            for t in rd.persist:
                z = t.zxid
                if z <= last:
                    self.fail(f"{n} appends {fz(z)} after {fz(last)}: zxids must increase")
                ep, c = z >> 40, z & 0xFFFFFFFFFF
                if ep == last >> 40:
                    if c != (last & 0xFFFFFFFFFF) + 1:
                        self.fail(f"{n} log gap: {fz(z)} after {fz(last)}")
                elif c != 1:
                    self.fail(f"{n} enters epoch {ep} at {fz(z)} after {fz(last)}")
                else:
                    prev = eprev.setdefault(ep, last)
                    if prev != last:
                        self.fail(
                            f"log matching: {n} has {fz(z)} after {fz(last)}, "
                            f"another log has it after {fz(prev)}"
                        )
                if leading and ep != epoch:
                    self.fail(f"leader {n} of epoch {epoch} appends {fz(z)}")
                seen = txns.setdefault(z, t)
                if seen is not t and seen != t:
                    self.fail(f"two txns with zxid {fz(z)}: {seen!r} and {t!r}")
                last = z
        if rd.committed and leading:
            self._check_durable_quorum(node, rd.committed[-1].zxid)

    def _on_state(self, node, rd: Ready) -> None:
        s = rd.state
        n = node.id
        if s.role is Role.LEADING and s.phase in (Phase.SYNC, Phase.BROADCAST):
            owner = self.epoch_leader.setdefault(s.epoch, n)
            if owner != n:
                self.fail(f"election safety: {owner} and {n} both lead epoch {s.epoch}")
            if s.epoch not in self.sync_end:
                vol = node.disk.volatile
                end = vol.last()
                self.sync_end[s.epoch] = end
                if self.canon:
                    top = self.canon[-1]
                    if top > end or not vol.holds(top):
                        self.fail(
                            f"leader completeness: {n} leads epoch {s.epoch} with history "
                            f"to {fz(end)} lacking committed {fz(top)}"
                        )
            if s.phase is Phase.BROADCAST:
                # established: its history is committed; no txn of an earlier
                # epoch beyond it may be committed from now on
                self.hist_end[s.epoch] = self.sync_end[s.epoch]

    def _check_durable_quorum(self, node, zxid: int) -> None:
        epoch = node.peer.epoch
        held = 0
        for v in self.voters:
            d = self.nodes[v].disk.durable
            if d.current >= epoch and d.holds(zxid):
                held += 1
        if held < self.quorum:
            self.fail(
                f"leader {node.id} commits {fz(zxid)} but only {held} voters hold it durably "
                f"with current epoch >= {epoch} (quorum {self.quorum})"
            )

    # ---- applies ------------------------------------------------------------------

    def on_applied(self, node, txn: Txn) -> None:
        n = node.id
        z = txn.zxid
        pos = self.applied_pos.get(n, 0)
        canon = self.canon
        if pos < len(canon):
            if canon[pos] != z:
                self.fail(
                    f"state machine safety: {n} applies {fz(z)} as #{pos}, "
                    f"another server applied {fz(canon[pos])}"
                )
        else:
            if canon:
                p = canon[-1]
                ep, c = z >> 40, z & 0xFFFFFFFFFF
                if ep == p >> 40:
                    ok = c == (p & 0xFFFFFFFFFF) + 1
                else:
                    ok = ep > p >> 40 and c == 1 and self.epoch_prev.get(ep) == p
                if not ok:
                    self.fail(f"primary order: {fz(z)} committed after {fz(p)}")
            elif z & 0xFFFFFFFFFF != 1:
                self.fail(f"primary order: the first commit is {fz(z)}")
            seen = self.txns.get(z)
            if seen is not None and seen is not txn and seen != txn:
                self.fail(f"{n} applies a txn at {fz(z)} that differs from the logged one")
            for e, end in self.hist_end.items():
                if e > z >> 40 and z > end:
                    self.fail(
                        f"leader completeness: {fz(z)} committed after epoch {e} started "
                        f"with history to {fz(end)}"
                    )
            self.canon_index[z] = len(canon)
            canon.append(z)
        self.applied_pos[n] = pos + 1

    def on_restart(self, node) -> None:
        z = node.tree.last_zxid
        self.applied_pos[node.id] = self.canon_index[z] + 1 if z else 0


def _zx(t: Txn) -> int:
    return t.zxid
