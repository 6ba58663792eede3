"""ZabLog: runs of counters, holds/prev_before, storage vs memory, truncate, purge."""

from __future__ import annotations

from bisect import bisect_right

import pytest

from coordsvc.storage.base import InitialState
from coordsvc.tree.txn import CreateTxn, Txn, make_zxid
from coordsvc.zab.errors import InvariantViolation, UsageError
from coordsvc.zab.log import ZabLog


def z(e: int, c: int) -> int:
    return make_zxid(e, c)


def txn(e: int, c: int) -> Txn:
    return Txn(z(e, c), 0, 0, 0, CreateTxn(f"/n{e}_{c}", b""))


class ListStorage:
    def __init__(self, txns=(), floor=0) -> None:
        self.log = list(txns)
        self.floor = floor
        self.reads = 0

    def initial_state(self) -> InitialState:
        last = self.log[-1].zxid if self.log else self.floor
        return InitialState(0, 0, self.floor, None, last)

    def entries(self, lo, hi):
        self.reads += 1
        keys = [t.zxid for t in self.log]
        return self.log[bisect_right(keys, lo) : bisect_right(keys, hi)]


def make(txns=(), floor=0) -> tuple[ZabLog, ListStorage]:
    s = ListStorage(txns, floor)
    return ZabLog(s, s.initial_state()), s


def test_runs_from_storage_and_queries() -> None:
    log, _ = make([txn(1, 1), txn(1, 2), txn(3, 1), txn(3, 2), txn(3, 3)])
    assert log.epoch_runs() == [(1, 1, 2), (3, 1, 3)]
    assert log.holds(0) and log.holds(z(1, 2)) and log.holds(z(3, 3))
    assert not log.holds(z(2, 1)) and not log.holds(z(1, 3)) and not log.holds(z(3, 4))
    assert log.prev_before(z(2, 7)) == z(1, 2)
    assert log.prev_before(z(3, 2)) == z(3, 1)
    assert log.prev_before(z(3, 9)) == z(3, 3)
    assert log.prev_before(z(1, 1)) == 0


def test_entries_mix_storage_and_memory() -> None:
    log, s = make([txn(1, 1), txn(1, 2)])
    log.append([txn(1, 3), txn(1, 4)])
    got = [t.zxid for t in log.entries(z(1, 1), z(1, 4))]
    assert got == [z(1, 2), z(1, 3), z(1, 4)]
    assert [t.zxid for t in log.entries(z(1, 2), z(1, 9))] == [z(1, 3), z(1, 4)]
    assert log.get(z(1, 3)).zxid == z(1, 3)


def test_memory_entries_never_read_from_storage() -> None:
    log, s = make()
    log.append([txn(1, 1), txn(1, 2)])
    s.reads = 0
    assert len(log.entries(0, z(1, 2))) == 2 and s.reads == 0
    s.log = [txn(1, 1), txn(1, 2)]  # the driver persisted them
    log.forget_through(z(1, 2))
    assert len(log.entries(0, z(1, 2))) == 2 and s.reads == 1


@pytest.mark.parametrize(
    "bad",
    [txn(1, 3), txn(2, 2), txn(0, 9)],
    ids=["gap in epoch", "epoch starts past 1", "older epoch"],
)
def test_append_refuses_gaps(bad) -> None:
    log, _ = make([txn(1, 1)])
    with pytest.raises(InvariantViolation):
        log.append([bad])


def test_truncate_after() -> None:
    log, _ = make([txn(1, 1), txn(1, 2)])
    log.append([txn(1, 3), txn(2, 1)])
    log.truncate_after(z(1, 2))
    assert log.last == z(1, 2) and log.epoch_runs() == [(1, 1, 2)]
    assert [t.zxid for t in log.entries(0, z(9, 9))] == [z(1, 1), z(1, 2)]
    log.append([txn(3, 1)])
    assert log.epoch_runs() == [(1, 1, 2), (3, 1, 1)]
    with pytest.raises(InvariantViolation):
        log.truncate_after(z(2, 1))  # not held


def test_truncate_below_memory_floor_stops_reading_storage_past_it() -> None:
    log, s = make([txn(1, 1), txn(1, 2), txn(1, 3)])
    log.truncate_after(z(1, 1))  # the driver has not truncated storage yet
    assert [t.zxid for t in log.entries(0, z(1, 3))] == [z(1, 1)]
    log.append([txn(2, 1)])
    assert [t.zxid for t in log.entries(0, z(9, 9))] == [z(1, 1), z(2, 1)]


def test_reset_and_purge() -> None:
    log, _ = make([txn(1, 1), txn(1, 2), txn(2, 1), txn(2, 2)])
    log.purge_through(z(2, 1))
    assert log.floor == z(2, 1) and log.epoch_runs() == [(2, 2, 2)]
    assert log.holds(z(2, 1)) and not log.holds(z(1, 2))
    with pytest.raises(UsageError):
        log.entries(z(1, 2), z(2, 2))
    log.reset(z(5, 7))
    assert (log.floor, log.last, log.epoch_runs()) == (z(5, 7), z(5, 7), [])
    log.append([txn(5, 8)])
    assert log.epoch_runs() == [(5, 8, 8)]


def test_storage_with_a_gap_is_refused() -> None:
    with pytest.raises(InvariantViolation):
        make([txn(1, 1), txn(1, 3)])
