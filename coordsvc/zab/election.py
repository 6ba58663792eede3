"""Fast leader election, pure: the vote order and one node's tally.

A vote proposes a leader by (epoch, last zxid, server id): the leader's
current epoch first, then its last zxid, then the id as a tie-break, so
the node with the most recent history wins. Election rounds let a node that
started late catch up: a higher round resets the tally, a lower one is
answered with our vote, and so is a vote of our round that is worse than
ours (its sender has not seen ours yet). A node that is no longer LOOKING
answers with the vote it settled on; a LOOKING node joins an existing
leader once a quorum of voters report the same settled vote and the leader
itself reports LEADING, all naming the same leader and the same established
epoch (the vote field ``epoch`` carries that epoch in such answers). The
election does not need to pick the best leader for safety: discovery
refuses a leader whose history is behind a quorum member's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from coordsvc.zab.messages import Role, Vote
from coordsvc.zab.quorum import quorum_size

__all__ = ["VoteValue", "Election", "Outcome", "election_timeout", "RandomSource"]


class RandomSource(Protocol):
    """What the core needs of an injected ``random.Random``."""

    def randrange(self, start: int, stop: int | None = ..., step: int = ...) -> int: ...


@dataclass(frozen=True, order=True, slots=True)
class VoteValue:
    """A proposed leader; compares by (epoch, zxid, leader)."""

    epoch: int
    zxid: int
    leader: int

    @classmethod
    def of(cls, vote: Vote) -> VoteValue:
        return cls(vote.epoch, vote.zxid, vote.leader)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a vote changed: broadcast our new vote, answer the sender, a quorum
    for our vote (``quorum``: decide now if ``complete``, else after a short wait
    in case a better vote is in flight), or an established leader to join."""

    broadcast: bool = False
    reply: bool = False
    quorum: VoteValue | None = None
    complete: bool = False  # every voter's vote is in
    joined: VoteValue | None = None
    error: str | None = None


def election_timeout(rng: RandomSource, election_ticks: int) -> int:
    """A timeout in [election_ticks, 2*election_ticks): spreads out retries."""
    return election_ticks + rng.randrange(election_ticks)


class Election:
    """One LOOKING node's tally for one election (state only; sending is the caller's)."""

    def __init__(
        self, me: int, voters: Collection[int], candidate: VoteValue | None, round: int
    ) -> None:
        self.me = me
        self.voters = frozenset(voters)
        self.quorum = quorum_size(self.voters)
        self.round = round
        self.candidate = candidate  # our own bid; None for an observer
        self.vote = candidate
        self.recv: dict[int, VoteValue] = {}  # LOOKING voters' votes in this round
        self.settled: dict[int, tuple[VoteValue, Role]] = {}  # non-LOOKING voters' answers
        if candidate is not None:
            self.recv[me] = candidate

    def decided_alone(self) -> VoteValue | None:
        """Our own vote already is a quorum (an ensemble of one)."""
        return self.tally() if self.complete() else None

    def complete(self) -> bool:
        """Every voter's vote of this round is in."""
        return len(self.recv) == len(self.voters)

    def receive(self, sender: int, msg: Vote) -> Outcome:
        if sender not in self.voters:
            # an observer looking for the leader: answer, never count it
            return Outcome(reply=msg.state is Role.LOOKING)
        value = VoteValue.of(msg)
        if value.leader not in self.voters:
            return Outcome(error=f"vote for {value.leader}, not a voter")
        if msg.state is not Role.LOOKING:
            if msg.state is Role.OBSERVING:
                return Outcome(error="a voter reports OBSERVING")
            self.settled[sender] = (value, msg.state)
            return Outcome(joined=self._join(value))
        broadcast = reply = False
        if msg.round > self.round:
            self.round = msg.round
            self.recv.clear()
            self.vote = value if self.candidate is None else max(self.candidate, value)
            broadcast = True
        elif msg.round < self.round:
            return Outcome(reply=True)
        elif self.vote is None or value > self.vote:
            self.vote = value
            broadcast = True
        elif value < self.vote:
            # it has not seen our better vote (it would have taken it): our
            # broadcast reached it before it was LOOKING, or was lost. Tell it
            # now rather than at our next resend, an election timeout away.
            reply = True
        self.recv[sender] = value
        if self.me in self.voters and self.vote is not None:
            self.recv[self.me] = self.vote
        return Outcome(
            broadcast=broadcast, reply=reply, quorum=self.tally(), complete=self.complete()
        )

    def tally(self) -> VoteValue | None:
        """Our vote, if a quorum of this round's votes agree with it."""
        vote = self.vote
        if vote is None:
            return None
        if sum(1 for v in self.recv.values() if v == vote) >= self.quorum:
            return vote
        return None

    def _join(self, value: VoteValue) -> VoteValue | None:
        """Join ``value.leader`` if it leads epoch ``value.epoch`` with a quorum behind it."""
        if value.epoch == 0:
            return None  # not established yet: keep electing
        own = self.settled.get(value.leader)
        if own is None or own[1] is not Role.LEADING or own[0].epoch != value.epoch:
            return None
        key = (value.leader, value.epoch)
        support = sum(1 for v, _ in self.settled.values() if (v.leader, v.epoch) == key)
        if support >= self.quorum:
            self.vote = own[0]
            return own[0]
        return None
