"""sync.choose_sync: DIFF / TRUNC / SNAP, table-tested."""

from __future__ import annotations

import pytest

from coordsvc.tree.txn import make_zxid
from coordsvc.zab.sync import SyncKind, SyncPlan, choose_sync


def z(epoch: int, counter: int) -> int:
    return make_zxid(epoch, counter)


DIFF, TRUNC, SNAP = SyncKind.DIFF, SyncKind.TRUNC, SyncKind.SNAP


@pytest.mark.parametrize(
    ("name", "learner_last", "floor", "leader_last", "held", "prev", "expected"),
    [
        ("empty ensemble", 0, 0, 0, True, 0, SyncPlan(DIFF, 0)),
        ("in step", z(1, 5), 0, z(1, 5), True, z(1, 4), SyncPlan(DIFF, z(1, 5))),
        ("behind, in the log", z(1, 2), 0, z(2, 3), True, z(1, 1), SyncPlan(DIFF, z(1, 2))),
        ("empty learner, full log", 0, 0, z(1, 3), True, 0, SyncPlan(DIFF, 0)),
        (
            "at the leader's snapshot",
            z(1, 4),
            z(1, 4),
            z(1, 9),
            True,
            z(1, 4),
            SyncPlan(DIFF, z(1, 4)),
        ),
        ("behind the purged log", z(1, 2), z(1, 4), z(1, 9), False, 0, SyncPlan(SNAP, 0)),
        ("empty learner, purged log", 0, z(1, 4), z(1, 9), False, 0, SyncPlan(SNAP, 0)),
        # the learner has an uncommitted tail the leader never had
        ("old-epoch tail", z(1, 7), 0, z(2, 3), False, z(1, 5), SyncPlan(TRUNC, z(1, 5))),
        ("ahead in the same epoch", z(1, 7), 0, z(1, 5), False, z(1, 5), SyncPlan(TRUNC, z(1, 5))),
        (
            "tail right above the floor",
            z(1, 7),
            z(1, 5),
            z(2, 3),
            False,
            z(1, 5),
            SyncPlan(TRUNC, z(1, 5)),
        ),
    ],
)
def test_choose_sync(name, learner_last, floor, leader_last, held, prev, expected) -> None:
    assert choose_sync(learner_last, floor, leader_last, held, prev) == expected


@pytest.mark.parametrize(
    ("learner_last", "floor", "leader_last", "held", "prev"),
    [
        (z(1, 3), z(1, 5), z(1, 4), False, 0),  # floor past the log end
        (z(1, 7), z(1, 2), z(2, 3), False, z(1, 1)),  # prev below the floor
        (z(1, 7), 0, z(2, 3), False, z(1, 8)),  # prev not below the learner's last
    ],
)
def test_choose_sync_rejects_impossible_inputs(
    learner_last, floor, leader_last, held, prev
) -> None:
    with pytest.raises(ValueError):
        choose_sync(learner_last, floor, leader_last, held, prev)
