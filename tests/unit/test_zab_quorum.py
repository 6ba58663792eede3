"""quorum.py against dumb references (etcd's quick test, with hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordsvc.zab.quorum import (
    VoteResult,
    committed_zxid,
    has_quorum,
    quorum_size,
    vote_result,
)

voter_sets = st.sets(st.integers(1, 9), min_size=1, max_size=7)


def dumb_committed(acks: dict[int, int], voters: set[int]) -> int:
    """The largest value that at least a majority of voters has reached."""
    best = 0
    for z in [0, *acks.values()]:
        if sum(1 for v in voters if acks.get(v, 0) >= z) * 2 > len(voters):
            best = max(best, z)
    return best


@given(voters=voter_sets, data=st.data())
def test_committed_zxid_matches_a_dumb_reference(voters, data) -> None:
    ids = st.integers(0, 12)  # some acks come from non-voters
    acks = data.draw(st.dictionaries(ids, st.integers(0, 1 << 45), max_size=10))
    assert committed_zxid(acks, voters) == dumb_committed(acks, voters)


@given(voters=voter_sets, data=st.data())
def test_committed_zxid_ignores_non_voters(voters, data) -> None:
    acks = data.draw(st.dictionaries(st.sampled_from(sorted(voters)), st.integers(0, 99)))
    outsider = max(voters) + 1
    assert committed_zxid({**acks, outsider: 10**9}, voters) == committed_zxid(acks, voters)


@pytest.mark.parametrize(
    ("acks", "voters", "expected"),
    [
        ({}, {1}, 0),
        ({1: 5}, {1}, 5),
        ({1: 5}, {1, 2, 3}, 0),
        ({1: 5, 2: 3}, {1, 2, 3}, 3),
        ({1: 5, 2: 3, 3: 9}, {1, 2, 3}, 5),
        ({1: 7, 2: 7, 3: 1, 4: 1}, {1, 2, 3, 4}, 1),  # 4 voters: need 3
        ({1: 7, 2: 7, 3: 7, 4: 1, 5: 0}, {1, 2, 3, 4, 5}, 7),
    ],
)
def test_committed_zxid_table(acks, voters, expected) -> None:
    assert committed_zxid(acks, voters) == expected


@given(voters=voter_sets, data=st.data())
def test_vote_result_matches_a_dumb_reference(voters, data) -> None:
    votes = data.draw(st.dictionaries(st.integers(0, 12), st.booleans()))
    yes = sum(1 for v, ok in votes.items() if ok and v in voters)
    no = sum(1 for v, ok in votes.items() if not ok and v in voters)
    q = len(voters) // 2 + 1
    expected = (
        VoteResult.WON
        if yes >= q
        else VoteResult.LOST
        if no > len(voters) - q
        else VoteResult.PENDING
    )
    assert vote_result(votes, voters) is expected


def test_quorum_sizes() -> None:
    assert [quorum_size(set(range(n))) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]
    assert has_quorum([1, 2, 99], {1, 2, 3})
    assert not has_quorum([1, 99, 98], {1, 2, 3})
    with pytest.raises(ValueError):
        quorum_size(set())
