"""The core's view of its txn log: durable records in Storage plus an in-memory tail.

As in etcd's raft the core only *reads* storage; the driver writes it. The
log is ``floor`` (the newest snapshot or purge point: entries at or below it
may be gone, and the zxid ``floor`` itself counts as held) followed by runs
of contiguous counters, one run per epoch, in increasing epoch order. The
runs make "do I hold zxid z" and "my last zxid below z" cheap without
reading storage.

Entries at or below ``mem_floor`` are read from storage; entries above it
are kept in memory (every entry not yet durable, plus durable entries not
yet applied). The core never reads storage above ``mem_floor``, so a
truncation or an append the driver has not performed yet is never seen
half-done.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Protocol

from coordsvc.storage.base import InitialState
from coordsvc.tree.txn import Txn, make_zxid, zxid_counter, zxid_epoch
from coordsvc.zab.errors import InvariantViolation, UsageError

__all__ = ["LogStorage", "ZabLog"]


class LogStorage(Protocol):
    """The read side of ``coordsvc.storage.base.Storage`` the core needs."""

    def initial_state(self) -> InitialState: ...

    def entries(self, lo: int, hi: int) -> Sequence[Txn]:
        """Txns with lo < zxid <= hi, in zxid order."""
        ...


def _zxid(t: Txn) -> int:
    return t.zxid


class ZabLog:
    """floor + runs of txns; reads storage below ``mem_floor``, memory above."""

    def __init__(self, storage: LogStorage, initial: InitialState) -> None:
        self._storage = storage
        self.floor = initial.snapshot_zxid
        self.last = max(initial.last_zxid, self.floor)
        self._runs: list[list[int]] = []  # [epoch, first counter, last counter]
        self._mem: list[Txn] = []
        self.mem_floor = self.last
        if self.last > self.floor:
            self._check_append_all(storage.entries(self.floor, self.last), rebuild=True)

    # ---- queries ----------------------------------------------------------

    def holds(self, zxid: int) -> bool:
        """True when the log holds ``zxid`` (``floor`` counts as held)."""
        if zxid == self.floor:
            return True
        if zxid < self.floor or zxid > self.last:
            return False
        ep, c = zxid_epoch(zxid), zxid_counter(zxid)
        for run_ep, first, last in reversed(self._runs):
            if run_ep == ep:
                return first <= c <= last
            if run_ep < ep:
                return False
        return False

    def prev_before(self, zxid: int) -> int:
        """The largest held zxid below ``zxid`` (``floor`` counts); needs zxid > floor."""
        if zxid <= self.floor:
            raise UsageError(f"no entry below {zxid:#x}: floor is {self.floor:#x}")
        ep, c = zxid_epoch(zxid), zxid_counter(zxid)
        for run_ep, first, last in reversed(self._runs):
            if run_ep < ep:
                return make_zxid(run_ep, last)
            if run_ep == ep and first < c:
                return make_zxid(run_ep, min(last, c - 1))
        return self.floor

    def epoch_runs(self) -> list[tuple[int, int, int]]:
        """(epoch, first counter, last counter) of each run, oldest first."""
        return [tuple(r) for r in self._runs]  # type: ignore[misc]

    def entries(self, lo: int, hi: int) -> list[Txn]:
        """Txns with lo < zxid <= hi, in order; ``lo`` must not be below ``floor``."""
        if lo < self.floor:
            raise UsageError(f"entries after {lo:#x} asked, log starts after {self.floor:#x}")
        hi = min(hi, self.last)
        if lo >= hi:
            return []
        out: list[Txn] = []
        if lo < self.mem_floor:
            out.extend(self._storage.entries(lo, min(hi, self.mem_floor)))
        if hi > self.mem_floor:
            mem = self._mem
            i = bisect_right(mem, max(lo, self.mem_floor), key=_zxid)
            j = bisect_right(mem, hi, key=_zxid)
            out.extend(mem[i:j])
        return out

    def get(self, zxid: int) -> Txn:
        got = self.entries(zxid - 1, zxid) if zxid > self.floor else []
        if not got or got[0].zxid != zxid:
            raise InvariantViolation(f"log entry {zxid:#x} is missing")
        return got[0]

    # ---- changes ------------------------------------------------------------

    def append(self, txns: Iterable[Txn]) -> None:
        """Append txns; each must be the next counter of the last epoch or open a later one."""
        self._check_append_all(txns, rebuild=False)

    def _check_append_all(self, txns: Iterable[Txn], *, rebuild: bool) -> None:
        last = self.floor if rebuild else self.last
        runs = self._runs
        for t in txns:
            z = t.zxid
            ep, c = zxid_epoch(z), zxid_counter(z)
            last_ep = zxid_epoch(last)
            if ep == last_ep and z > last:
                ok = c == zxid_counter(last) + 1
            else:
                ok = ep > last_ep and c == 1
            if not ok:
                raise InvariantViolation(f"log gap: {z:#x} cannot follow {last:#x}")
            if runs and runs[-1][0] == ep:
                runs[-1][2] = c
            else:
                runs.append([ep, c, c])
            if not rebuild:
                self._mem.append(t)
            last = z
        self.last = last

    def truncate_after(self, zxid: int) -> None:
        """Drop every entry after ``zxid``, which the log must hold."""
        if not self.holds(zxid):
            raise InvariantViolation(f"truncate to {zxid:#x}, which the log does not hold")
        ep, c = zxid_epoch(zxid), zxid_counter(zxid)
        runs = self._runs
        while runs and (runs[-1][0] > ep or (runs[-1][0] == ep and runs[-1][1] > c)):
            runs.pop()
        if runs and runs[-1][0] == ep:
            runs[-1][2] = min(runs[-1][2], c)
        self.last = zxid
        if zxid < self.mem_floor:
            self.mem_floor = zxid
            self._mem.clear()
        else:
            del self._mem[bisect_right(self._mem, zxid, key=_zxid) :]

    def reset(self, zxid: int) -> None:
        """Start over at a snapshot at ``zxid``: an empty log with that floor."""
        self.floor = self.last = self.mem_floor = zxid
        self._runs.clear()
        self._mem.clear()

    def purge_through(self, zxid: int) -> None:
        """The driver purged entries through ``zxid`` (a snapshot there covers them)."""
        if zxid > self.last:
            raise UsageError(f"purge through {zxid:#x}, past the log end {self.last:#x}")
        if zxid <= self.floor:
            return
        if not self.holds(zxid):
            raise InvariantViolation(f"purge through {zxid:#x}, which the log does not hold")
        ep, c = zxid_epoch(zxid), zxid_counter(zxid)
        runs = self._runs
        while runs and (runs[0][0] < ep or (runs[0][0] == ep and runs[0][2] <= c)):
            runs.pop(0)
        if runs and runs[0][0] == ep:
            runs[0][1] = c + 1
        self.floor = zxid
        if zxid > self.mem_floor:
            self.forget_through(zxid)

    def forget_through(self, zxid: int) -> None:
        """Drop in-memory entries through ``zxid`` (durable: storage holds them now)."""
        if zxid <= self.mem_floor:
            return
        mem = self._mem
        i = bisect_right(mem, zxid, key=_zxid)
        if i:
            self.mem_floor = mem[i - 1].zxid
            del mem[:i]
        if zxid >= self.last:
            self.mem_floor = self.last

    def __repr__(self) -> str:
        runs = ", ".join(f"{e}:{a}-{b}" for e, a, b in self._runs)
        return f"ZabLog(floor={self.floor:#x}, last={self.last:#x}, runs=[{runs}])"
