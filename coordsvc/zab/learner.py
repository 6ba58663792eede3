"""The FOLLOWING and OBSERVING roles (a learner): register, sync, then follow.

A learner registers (FollowerInfo / ObserverInfo with a fresh ``attempt``),
accepts the leader's epoch (persisted before AckEpoch), applies the sync
stream (Diff/Trunc/Snap, then Proposals, then NewLeader: current epoch
persisted before AckNewLeader) and starts serving on UpToDate. Followers
append proposals and ack them after they are durable (one cumulative Ack
per Ready); observers take committed txns from Inform and never ack.

Anything that shows our log is not the prefix we think (a proposal whose
``prev_zxid`` is not our last zxid, a NewLeader past our log end, a ping
showing we missed txns twice in a row) makes us register again, which
re-syncs us; a silent leader (``sync_limit_ticks``) sends us LOOKING, and
so does the transport's word that our link to it broke (``PeerDisconnected``),
at once: a leader whose process died takes its connections with it.

Linearizable reads go to the leader as a ReadIndex batch, one batch out at
a time: reads that arrive meanwhile wait for its reply and go together in
the next (its round still begins after they arrived). An unanswered batch
is sent again after READ_RESEND_TICKS; a second reply for a read is ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordsvc.zab import looking
from coordsvc.zab.errors import InvariantViolation
from coordsvc.zab.messages import (
    Ack,
    AckEpoch,
    AckNewLeader,
    Commit,
    Diff,
    FollowerInfo,
    Forward,
    Inform,
    Message,
    NewEpoch,
    NewLeader,
    NotLeader,
    ObserverInfo,
    Phase,
    Ping,
    PingAck,
    Proposal,
    ReadIndex,
    ReadIndexReply,
    Role,
    Snap,
    Trunc,
    UpToDate,
)
from coordsvc.zab.ready import ReadState

if TYPE_CHECKING:
    from coordsvc.zab.peer import ZabPeer

READ_RESEND_TICKS = 2

__all__ = ["become_learner", "client_write", "client_read", "leader_lost", "LearnerStage"]


class LearnerStage(enum.IntEnum):
    INFO_SENT = 0
    EPOCH_ACKED = 1
    SYNCING = 2  # sync header applied: our log is a prefix of the leader's
    ACKED_NEWLEADER = 3  # current epoch = leader's; our acks count
    SERVING = 4  # UpToDate: broadcast phase


_PHASE = {
    LearnerStage.INFO_SENT: Phase.DISCOVERY,
    LearnerStage.EPOCH_ACKED: Phase.DISCOVERY,
    LearnerStage.SYNCING: Phase.SYNC,
    LearnerStage.ACKED_NEWLEADER: Phase.SYNC,
    LearnerStage.SERVING: Phase.BROADCAST,
}


@dataclass(slots=True)
class LearnerState:
    leader: int
    observer: bool
    stage: LearnerStage = LearnerStage.INFO_SENT
    epoch: int = 0
    heard: int = 0  # last tick the leader was heard from
    progress: int = 0  # last tick this registration moved forward
    ack_due: bool = False
    lag_mark: int = 0  # a ping said the leader had this; we must have it by the next
    reads: list[Any] = field(default_factory=list)
    reads_out: tuple[Any, ...] = ()  # the ReadIndex batch awaiting its reply
    reads_sent: int = 0  # tick it was (last) sent
    touches: set[int] = field(default_factory=set)


def become_learner(p: ZabPeer, leader_id: int, *, observer: bool) -> None:
    role = Role.OBSERVING if observer else Role.FOLLOWING
    p.set_role(role, leader_id, 0, Phase.DISCOVERY)
    p.lead = None
    p.learner = LearnerState(leader_id, observer, heard=p.now)
    p.install_role(_step, _tick, _flush, None, _has_work)
    _register(p)


def _register(p: ZabPeer) -> None:
    """(Re)register with the leader; everything from an older attempt is ignored."""
    s: LearnerState = p.learner
    p.attempt += 1
    s.stage = LearnerStage.INFO_SENT
    s.ack_due = False
    s.lag_mark = 0
    s.progress = p.now
    p.phase = Phase.DISCOVERY
    info = ObserverInfo if s.observer else FollowerInfo
    p.send(s.leader, info(p.accepted_epoch, p.log.last, p.attempt))


def _set_stage(p: ZabPeer, stage: LearnerStage) -> None:
    s: LearnerState = p.learner
    s.stage = stage
    s.progress = p.now
    p.phase = _PHASE[stage]


# ---- local inputs ---------------------------------------------------------------------------


def client_write(p: ZabPeer, payload: Any) -> NotLeader | None:
    s: LearnerState | None = p.learner
    if s is None or s.stage is not LearnerStage.SERVING:
        return NotLeader(p.leader_id)
    p.send(s.leader, Forward(s.epoch, payload))
    return None


def leader_lost(p: ZabPeer) -> None:
    """The link to our leader broke: look for a leader now, not after the silence timeout."""
    looking.become_looking(p)


def client_read(p: ZabPeer, ctx: Any) -> NotLeader | None:
    s: LearnerState | None = p.learner
    if s is None or s.stage is not LearnerStage.SERVING:
        return NotLeader(p.leader_id)
    s.reads.append(ctx)
    return None


# ---- messages from the leader ------------------------------------------------------------------


def _step(p: ZabPeer, sender: int, msg: Message) -> None:
    s: LearnerState = p.learner
    s.heard = p.now
    stage = s.stage
    match msg:
        case NewEpoch(epoch=epoch, attempt=attempt):
            if attempt != p.attempt or stage is not LearnerStage.INFO_SENT:
                return
            if epoch < p.accepted_epoch and not s.observer:
                looking.become_looking(p)  # a leader behind an epoch we promised
                return
            if epoch > p.accepted_epoch:
                p.accepted_epoch = epoch
                p.accepted_from = (epoch, s.leader)
                p.save_epochs()
                fresh = True
            else:  # observers never count, so an older epoch is fine for them
                fresh = p.accepted_from == (epoch, s.leader)
            s.epoch = p.epoch = epoch
            _set_stage(p, LearnerStage.EPOCH_ACKED)
            ack = AckEpoch(epoch, p.current_epoch, p.log.last, attempt, fresh)
            p.send_after_persist(s.leader, ack)
        case Diff() | Trunc() | Snap():
            if msg.attempt != p.attempt or msg.epoch != s.epoch:
                return
            if stage is not LearnerStage.EPOCH_ACKED:
                return
            _on_sync_header(p, msg)
        case Proposal(epoch=epoch, prev_zxid=prev, txn=txn):
            if epoch != s.epoch or stage < LearnerStage.SYNCING:
                return
            if txn.zxid <= p.log.last:
                return  # a duplicate
            if prev != p.log.last:
                _register(p)  # we missed something
                return
            p.append([txn])
            if stage >= LearnerStage.ACKED_NEWLEADER and not s.observer:
                s.ack_due = True
            if stage < LearnerStage.ACKED_NEWLEADER:
                s.progress = p.now
        case NewLeader(epoch=epoch, attempt=attempt, zxid=zxid):
            if attempt != p.attempt or epoch != s.epoch or stage is not LearnerStage.SYNCING:
                return
            if zxid > p.log.last:
                _register(p)  # part of the sync stream was lost
                return
            if p.current_epoch != epoch:
                p.current_epoch = epoch
                p.save_epochs()
            _set_stage(p, LearnerStage.ACKED_NEWLEADER)
            p.send_after_persist(s.leader, AckNewLeader(epoch, attempt, p.log.last))
        case UpToDate(epoch=epoch, attempt=attempt, committed=committed):
            if attempt != p.attempt or epoch != s.epoch:
                return
            if stage is not LearnerStage.ACKED_NEWLEADER:
                return
            _set_stage(p, LearnerStage.SERVING)
            p.commit_to(committed)
        case Commit(epoch=epoch, zxid=zxid):
            if epoch == s.epoch and stage >= LearnerStage.SYNCING:
                p.commit_to(zxid)
        case Inform(epoch=epoch, prev_zxid=prev, txn=txn):
            if epoch != s.epoch or stage < LearnerStage.SYNCING:
                return
            if txn.zxid > p.log.last:
                if prev != p.log.last:
                    _register(p)
                    return
                p.append([txn])
            p.commit_to(txn.zxid)
        case Ping():
            _on_ping(p, msg)
        case ReadIndexReply(epoch=epoch, ctxs=ctxs, zxid=zxid):
            if epoch == s.epoch:
                p._read_states.extend(ReadState(ctx, zxid) for ctx in ctxs)
                if ctxs == s.reads_out:
                    s.reads_out = ()


def _on_sync_header(p: ZabPeer, msg: Diff | Trunc | Snap) -> None:
    log = p.log
    match msg:
        case Diff(zxid=zxid):
            if zxid != log.last:
                _register(p)  # our log moved since we reported it
                return
        case Trunc(zxid=zxid):
            if zxid < log.floor:
                raise InvariantViolation(
                    f"TRUNC to {zxid:#x} is below our snapshot at {log.floor:#x}"
                )
            if zxid > log.last:
                _register(p)
                return
            if not log.holds(zxid):
                # we lack it: everything we hold above our last zxid below it is
                # absent from the leader's log; drop that and report again
                p.truncate(log.prev_before(zxid))
                _register(p)
                return
            p.truncate(zxid)
        case Snap(zxid=zxid, image=image):
            if image is None or image.last_zxid != zxid:
                p.protocol_error(p.learner.leader, msg, "SNAP without a matching image")
                return
            p.install(msg)
    _set_stage(p, LearnerStage.SYNCING)


def _on_ping(p: ZabPeer, ping: Ping) -> None:
    s: LearnerState = p.learner
    if s.epoch and ping.epoch != s.epoch:
        return
    if s.stage >= LearnerStage.SYNCING:
        p.commit_to(ping.committed)
    if s.stage is LearnerStage.SERVING:
        if ping.attempt != p.attempt:
            _register(p)  # the leader holds another registration for us
            return
        if s.lag_mark and p.log.last < s.lag_mark:
            _register(p)  # proposals were lost: two pings in a row say we are behind
            return
        behind = ping.committed if s.observer else ping.last_zxid
        s.lag_mark = behind if behind > p.log.last else 0
    touches = tuple(sorted(s.touches))
    s.touches.clear()
    p.send(s.leader, PingAck(ping.epoch, ping.round, touches))


# ---- timers and flush ------------------------------------------------------------------------------


def _tick(p: ZabPeer) -> None:
    s: LearnerState = p.learner
    limit = p.config.sync_limit_ticks
    if p.now - s.heard > limit:
        looking.become_looking(p)
        return
    if s.reads_out and p.now - s.reads_sent >= READ_RESEND_TICKS:
        _send_reads(p, s.reads_out)  # lost on the way, or the leader was not ready for it
    if s.stage is not LearnerStage.SERVING and p.now - s.progress > max(1, limit // 2):
        # this registration stalled (lost, or sent before the leader knew it
        # leads): start over well before the leader-silence timeout above
        _register(p)


def _has_work(p: ZabPeer) -> bool:
    s: LearnerState = p.learner
    return s.ack_due or _may_send_reads(s)


def _may_send_reads(s: LearnerState) -> bool:
    """Reads wait and no ReadIndex batch is out (one at a time)."""
    return bool(s.reads) and not s.reads_out


def _flush(p: ZabPeer) -> None:
    s: LearnerState = p.learner
    if s.ack_due:
        s.ack_due = False
        p.send_after_persist(s.leader, Ack(s.epoch, p.log.last))
    if _may_send_reads(s):
        _send_reads(p, tuple(s.reads))
        s.reads = []


def _send_reads(p: ZabPeer, ctxs: tuple[Any, ...]) -> None:
    s: LearnerState = p.learner
    s.reads_out, s.reads_sent = ctxs, p.now
    p.send(s.leader, ReadIndex(s.epoch, ctxs))
