"""election.py: vote order, the tally, joining an established leader, timeouts."""

from __future__ import annotations

import random

import pytest

from coordsvc.zab.election import Election, VoteValue, election_timeout
from coordsvc.zab.messages import Role, Vote

VOTERS = {1, 2, 3}


def vote(leader, zxid=0, epoch=0, round=1, state=Role.LOOKING) -> Vote:
    return Vote(leader, zxid, epoch, round, state)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (VoteValue(1, 0, 3), VoteValue(2, 0, 1)),  # a later epoch wins over everything
        (VoteValue(1, 5, 1), VoteValue(1, 9, 1)),  # then the longer history
        (VoteValue(1, 5, 1), VoteValue(1, 5, 2)),  # then the higher id
    ],
)
def test_vote_order(a, b) -> None:
    assert a < b


def test_a_better_vote_is_adopted_and_broadcast() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=1)
    out = e.receive(3, vote(3))
    assert out.broadcast and e.vote == VoteValue(0, 0, 3)
    assert out.quorum == VoteValue(0, 0, 3) and not out.complete  # 1 and 3 agree; 2 unknown
    out = e.receive(2, vote(2))
    assert not out.broadcast and out.quorum == VoteValue(0, 0, 3) and out.complete


def test_a_worse_vote_changes_nothing_but_gets_our_vote_back() -> None:
    e = Election(3, VOTERS, VoteValue(0, 0, 3), round=1)
    out = e.receive(1, vote(1))
    assert not out.broadcast and out.quorum is None and e.vote == VoteValue(0, 0, 3)
    # its sender has not seen our vote (our broadcast reached it before it was
    # LOOKING, or was lost): it hears it now, not an election timeout later
    assert out.reply


def test_an_equal_vote_gets_no_answer() -> None:
    e = Election(3, VOTERS, VoteValue(0, 0, 3), round=1)
    out = e.receive(1, vote(3))
    assert not out.reply and not out.broadcast and out.quorum == VoteValue(0, 0, 3)


def test_higher_zxid_beats_higher_id() -> None:
    e = Election(3, VOTERS, VoteValue(1, 4, 3), round=1)
    out = e.receive(1, vote(1, zxid=7, epoch=1))
    assert out.broadcast and e.vote.leader == 1


def test_a_later_round_resets_the_tally() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=1)
    e.receive(2, vote(2))
    out = e.receive(3, vote(2, round=5))
    assert (
        e.round == 5 and out.broadcast and e.recv == {1: VoteValue(0, 0, 2), 3: VoteValue(0, 0, 2)}
    )


def test_an_earlier_round_gets_an_answer_and_is_not_counted() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=4)
    out = e.receive(2, vote(3, round=2))
    assert out.reply and 2 not in e.recv


def test_observers_ask_and_never_count() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=1)
    out = e.receive(4, vote(4))
    assert out.reply and 4 not in e.recv


def test_a_vote_for_a_non_voter_is_a_protocol_error() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=1)
    assert e.receive(2, vote(4)).error


def test_join_needs_a_quorum_and_the_leader_itself() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=9)
    out = e.receive(2, vote(3, epoch=4, state=Role.FOLLOWING))
    assert out.joined is None  # the leader has not said it leads
    out = e.receive(3, vote(3, epoch=4, state=Role.LEADING))
    assert out.joined is not None and out.joined.leader == 3 and out.joined.epoch == 4


def test_join_needs_the_same_established_epoch() -> None:
    e = Election(1, {1, 2, 3, 4, 5}, VoteValue(0, 0, 1), round=1)
    e.receive(3, vote(3, epoch=4, state=Role.LEADING))
    e.receive(2, vote(3, epoch=3, state=Role.FOLLOWING))  # a stale answer
    assert e.receive(4, vote(3, epoch=4, state=Role.FOLLOWING)).joined is None
    assert e.receive(5, vote(3, epoch=4, state=Role.FOLLOWING)).joined is not None


def test_a_leader_still_in_discovery_cannot_be_joined() -> None:
    e = Election(1, VOTERS, VoteValue(0, 0, 1), round=1)
    e.receive(3, vote(3, epoch=0, state=Role.LEADING))
    assert e.receive(2, vote(3, epoch=0, state=Role.FOLLOWING)).joined is None


def test_an_ensemble_of_one_decides_alone() -> None:
    assert Election(1, {1}, VoteValue(0, 0, 1), round=1).decided_alone() == VoteValue(0, 0, 1)
    assert Election(1, VOTERS, VoteValue(0, 0, 1), round=1).decided_alone() is None


def test_election_timeout_is_randomised_within_bounds() -> None:
    rng = random.Random(7)
    seen = {election_timeout(rng, 5) for _ in range(200)}
    assert seen == set(range(5, 10))
