"""Majority math, nothing else (etcd's quorum package, for zxids).

Only voters count; ids outside ``voters`` (observers, strangers) are ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping

__all__ = ["quorum_size", "has_quorum", "committed_zxid", "VoteResult", "vote_result"]


def quorum_size(voters: Collection[int]) -> int:
    """A strict majority of ``voters``."""
    if not voters:
        raise ValueError("an ensemble needs at least one voter")
    return len(voters) // 2 + 1


def has_quorum(ids: Iterable[int], voters: Collection[int]) -> bool:
    """True when the voters among ``ids`` are a majority of ``voters``."""
    return len(set(ids) & set(voters)) >= quorum_size(voters)


def committed_zxid(acks: Mapping[int, int], voters: Collection[int]) -> int:
    """The highest zxid that a majority of voters has acked (0 when none has).

    ``acks`` maps a voter to the highest zxid it holds durably; acks are
    cumulative, so a voter that acked z holds everything before z too.
    """
    held = sorted((acks.get(v, 0) for v in set(voters)), reverse=True)
    return held[quorum_size(voters) - 1]


class VoteResult(enum.Enum):
    PENDING = "PENDING"  # neither outcome is decided yet
    WON = "WON"  # a majority said yes
    LOST = "LOST"  # a majority can no longer say yes


def vote_result(votes: Mapping[int, bool], voters: Collection[int]) -> VoteResult:
    """The outcome of a yes/no vote among ``voters`` (missing voters have not answered)."""
    members = set(voters)
    q = quorum_size(members)
    yes = sum(1 for v, ok in votes.items() if ok and v in members)
    no = sum(1 for v, ok in votes.items() if not ok and v in members)
    if yes >= q:
        return VoteResult.WON
    if len(members) - no < q:
        return VoteResult.LOST
    return VoteResult.PENDING
