"""How a leader brings one learner in line: DIFF, TRUNC or SNAP (pure, table-tested).

Facts it relies on (each proven by the simulator's checkers):
- a zxid names one txn ensemble-wide (one leader per epoch), and two logs
  that hold the same zxid hold identical prefixes up to it;
- within one epoch a log holds a contiguous run of counters;
- the leader holds every committed txn (leader completeness).

So a learner whose last zxid is in the leader's log is a prefix of it
(DIFF); a learner whose last zxid is not in the leader's log holds txns the
leader never had, hence uncommitted ones, and drops them (TRUNC to the
leader's last zxid below the learner's); a learner behind the leader's
retained log gets the leader's tree (SNAP). The leader's log "starts" at
``floor``: entries at or below it were purged, and a zxid equal to ``floor``
counts as held (the snapshot there includes it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["SyncKind", "SyncPlan", "choose_sync"]


class SyncKind(enum.Enum):
    DIFF = "DIFF"
    TRUNC = "TRUNC"
    SNAP = "SNAP"


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """DIFF: send entries after ``zxid``. TRUNC: truncate the learner to ``zxid``, then
    send entries after it. SNAP: send the leader's tree, then entries after it
    (``zxid`` is unused, 0)."""

    kind: SyncKind
    zxid: int


def choose_sync(
    learner_last: int,
    floor: int,
    leader_last: int,
    learner_last_held: bool,
    leader_prev: int,
) -> SyncPlan:
    """The plan for a learner whose log ends at ``learner_last``.

    ``floor``/``leader_last`` bound the leader's retained log;
    ``learner_last_held`` says whether the leader's log holds ``learner_last``
    (or it equals ``floor``); ``leader_prev`` is the leader's last zxid below
    ``learner_last`` (``floor`` counting as held).
    """
    if floor > leader_last:
        raise ValueError(f"floor {floor:#x} is past the log end {leader_last:#x}")
    if learner_last == leader_last or (learner_last_held and floor <= learner_last < leader_last):
        return SyncPlan(SyncKind.DIFF, learner_last)
    if learner_last < floor:
        return SyncPlan(SyncKind.SNAP, 0)
    # learner_last > floor and not held: the learner has txns the leader never had
    if not floor <= leader_prev < learner_last:
        raise ValueError(
            f"previous zxid {leader_prev:#x} is not in [{floor:#x}, {learner_last:#x})"
        )
    return SyncPlan(SyncKind.TRUNC, leader_prev)
