"""The LOOKING role: run fast leader election until we lead, follow or observe.

On entry a node bumps its round and votes for itself (observers vote for no
one and only ask), sends its vote to every voter, and waits a randomised
timeout before sending it again (votes may be lost). ``Election`` does the
tally; this module only sends and switches roles. A registration
(FollowerInfo) that reaches us before we decided, from a voter that decided
first, is kept and taken if we come to lead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordsvc.zab import leader, learner
from coordsvc.zab.election import Election, VoteValue, election_timeout
from coordsvc.zab.messages import Message, Phase, Role, Vote

if TYPE_CHECKING:
    from coordsvc.zab.peer import ZabPeer

__all__ = ["become_looking", "on_vote"]


def become_looking(p: ZabPeer) -> None:
    p.set_role(Role.LOOKING, None, 0, Phase.ELECTION)
    p.lead = None
    p.learner = None
    p.vote = None
    p.early_infos.clear()
    p.round += 1
    candidate = VoteValue(p.current_epoch, p.log.last, p.id) if p.is_voter else None
    p.election = Election(p.id, p.voters, candidate, p.round)
    p.install_role(_step_looking, _tick_looking)
    p.decide_at = None
    p.looking_deadline = p.now + election_timeout(p.rng, p.config.election_ticks)
    _broadcast(p)
    decided = p.election.decided_alone()
    if decided is not None:
        _decide(p, decided)


def on_vote(p: ZabPeer, sender: int, msg: Vote) -> None:
    e: Election = p.election
    out = e.receive(sender, msg)
    if out.error:
        p.protocol_error(sender, msg, out.error)
        return
    p.round = e.round
    if out.reply:
        p.send(sender, _my_vote(p))
    if out.broadcast:
        _broadcast(p)
    if out.joined is not None:
        _decide(p, out.joined)
    elif out.quorum is not None:
        if out.complete:
            _decide(p, out.quorum)
        elif p.decide_at is None:
            p.decide_at = p.now + 1  # a better vote may still be in flight


def _step_looking(p: ZabPeer, sender: int, msg: Message) -> None:
    return None  # LOOKING only listens to votes (handled before the role step)


def _tick_looking(p: ZabPeer) -> None:
    if p.decide_at is not None and p.now >= p.decide_at:
        p.decide_at = None
        value = p.election.tally()
        if value is not None:
            _decide(p, value)
            return
    if p.now >= p.looking_deadline:
        _broadcast(p)
        p.looking_deadline = p.now + election_timeout(p.rng, p.config.election_ticks)


def _my_vote(p: ZabPeer) -> Vote:
    v = p.election.vote
    if v is None:  # an observer with no vote yet: ask, naming itself
        return Vote(p.id, p.log.last, p.current_epoch, p.round, Role.LOOKING)
    return Vote(v.leader, v.zxid, v.epoch, p.round, Role.LOOKING)


def _broadcast(p: ZabPeer) -> None:
    p.broadcast_voters(_my_vote(p))


def _decide(p: ZabPeer, value: VoteValue) -> None:
    p.vote = value
    p.election = None
    early, p.early_infos = p.early_infos, {}
    if value.leader == p.id:
        leader.become_leading(p, early)
    else:
        learner.become_learner(p, value.leader, observer=not p.is_voter)
