"""The LEADING role: discovery, synchronisation, then broadcast.

Discovery: wait for FollowerInfo from a quorum (counting ourselves), take
epoch = 1 + the highest accepted epoch among them, persist it as our accepted
epoch and send NewEpoch after that. A quorum of *fresh* AckEpochs (a learner
acks a given epoch freshly once) plus our own durable accepted epoch makes
the epoch ours alone. Any AckEpoch whose (current epoch, last zxid) is ahead
of ours means we might miss committed txns: we give up and look again.

Sync: fix our log as the epoch's initial history, persist current epoch,
bring each learner in line (``sync.choose_sync``) and send NewLeader. A
quorum of AckNewLeader (ourselves once our current epoch and history are
durable) establishes us: the history is committed and we broadcast.

Broadcast: Propose assigns zxid (epoch, counter+1); proposals go out in
batches of up to ``max_batch`` per Ready, and while the previous batch is
neither durable here nor acked by any follower new ones wait for it (under
load a batch is everything that came in during one sync, with no delay when
the leader is idle, and a slow disk on the leader alone stalls nothing);
the commit point is the highest zxid a
quorum of synced voters acked (ours: the durable log end), handed out
strictly in order; followers get Commit, observers Inform. A linearizable
read waits for a heartbeat round begun after it arrived and answered by a
quorum; one such round is out at a time and the next takes every read that
came in meanwhile (the reads' batch grows with the load). A leader that
no longer hears a quorum within ``sync_limit_ticks`` (or is told its links to
them broke, ``PeerDisconnected``) steps down.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordsvc.tree.txn import ZXID_COUNTER_BITS, Txn, make_zxid
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
    Propose,
    ReadIndex,
    ReadIndexReply,
    Role,
    Snap,
    Trunc,
    UpToDate,
)
from coordsvc.zab.quorum import committed_zxid, has_quorum
from coordsvc.zab.ready import ReadState
from coordsvc.zab.sync import SyncKind, choose_sync

if TYPE_CHECKING:
    from coordsvc.zab.peer import ZabPeer

__all__ = ["become_leading", "propose", "client_read", "Stage", "LeaderState"]

MAX_EPOCH = (1 << 24) - 1
MAX_COUNTER = (1 << ZXID_COUNTER_BITS) - 1


class Stage(enum.IntEnum):
    """Where one learner is with us."""

    INFO = 0  # registered; our epoch not chosen yet
    EPOCH_SENT = 1  # NewEpoch sent
    EPOCH_ACKED = 2  # AckEpoch in; waiting for sync to start
    SYNCING = 3  # sync stream and NewLeader sent
    SYNCED = 4  # AckNewLeader in: its acks count


@dataclass(slots=True)
class LearnerInfo:
    id: int
    observer: bool
    attempt: int
    accepted_epoch: int
    last_zxid: int
    stage: Stage = Stage.INFO
    acked: int = 0
    heard: int = 0
    ping_round: int = 0


@dataclass(slots=True)
class LeaderState:
    deadline: int
    epoch: int = 0
    learners: dict[int, LearnerInfo] = field(default_factory=dict)
    fresh: set[int] = field(default_factory=set)
    history_end: int = 0
    counter: int = 0
    queued: deque[Txn] = field(default_factory=deque)
    next_ping: int = 0
    round: int = 0
    reads_waiting: list[tuple[int | None, Any]] = field(default_factory=list)
    reads: deque[tuple[int, int, list[tuple[int | None, Any]]]] = field(default_factory=deque)


def become_leading(
    p: ZabPeer, early: Mapping[int, FollowerInfo | ObserverInfo] | None = None
) -> None:
    """Lead; ``early`` are registrations that reached us while we were still
    LOOKING (a learner that decided first), taken as if they arrived now."""
    p.set_role(Role.LEADING, p.id, 0, Phase.DISCOVERY)
    lead = p.lead = LeaderState(deadline=p.now + p.config.init_limit_ticks)
    p.install_role(_step, _tick, _flush, _on_durable, _has_work)
    for sender, info in sorted((early or {}).items()):
        _on_info(p, sender, info)
        if p.lead is not lead:
            return  # a registration made us step down
    _check_discovery(p)


# ---- local inputs ---------------------------------------------------------------------


def propose(p: ZabPeer, inp: Propose) -> int | NotLeader:
    lead: LeaderState = p.lead
    if p.phase is not Phase.BROADCAST:
        return NotLeader(None)
    if lead.counter >= MAX_COUNTER:  # the counter ran out: a new epoch is needed
        looking.become_looking(p)
        return NotLeader(None)
    lead.counter += 1
    zxid = make_zxid(lead.epoch, lead.counter)
    lead.queued.append(Txn(zxid, inp.time_ms, inp.session_id, inp.xid, inp.body))
    return zxid


def client_read(p: ZabPeer, ctx: Any) -> NotLeader | None:
    if p.phase is not Phase.BROADCAST:
        return NotLeader(None)
    p.lead.reads_waiting.append((None, ctx))
    return None


def learner_lost(p: ZabPeer, pid: int) -> None:
    """The transport says our link with ``pid`` broke: it must answer a ping by the next tick.

    Only a hint: the learner is pinged now and, if it is in fact fine, is
    heard again before the next tick. If not, it counts as silent then, and
    a leader left without a quorum steps down a tick later instead of after
    ``sync_limit_ticks`` of silence.
    """
    lead: LeaderState = p.lead
    ln = lead.learners.get(pid) if lead is not None else None
    if ln is None:
        return
    ln.heard = min(ln.heard, p.now - p.config.sync_limit_ticks)
    p.send(pid, Ping(lead.epoch, p.applied, p.log.last, lead.round, ln.attempt))


# ---- messages ----------------------------------------------------------------------------


def _step(p: ZabPeer, sender: int, msg: Message) -> None:
    lead: LeaderState = p.lead
    ln = lead.learners.get(sender)
    if ln is not None:
        ln.heard = p.now
    match msg:
        case FollowerInfo() | ObserverInfo():
            _on_info(p, sender, msg)
        case AckEpoch():
            if ln is None or ln.stage is not Stage.EPOCH_SENT or msg.attempt != ln.attempt:
                return
            if msg.epoch != lead.epoch:
                return
            ln.last_zxid = msg.last_zxid
            ln.stage = Stage.EPOCH_ACKED
            if p.phase is Phase.DISCOVERY:
                if (msg.current_epoch, msg.last_zxid) > (p.current_epoch, p.log.last):
                    looking.become_looking(p)  # it may hold committed txns we lack
                    return
                if msg.fresh and not ln.observer:
                    lead.fresh.add(sender)
                _check_epoch_quorum(p)
            else:
                _start_sync(p, ln)
        case AckNewLeader():
            if ln is None or ln.stage is not Stage.SYNCING or msg.attempt != ln.attempt:
                return
            if msg.epoch != lead.epoch:
                return
            if msg.zxid > p.log.last:
                raise InvariantViolation(f"{sender} acked {msg.zxid:#x} past our log end")
            ln.stage = Stage.SYNCED
            ln.acked = msg.zxid
            if p.phase is Phase.SYNC:
                _check_established(p)
            elif p.phase is Phase.BROADCAST:
                p.send(sender, UpToDate(lead.epoch, ln.attempt, p.applied))
                _advance_commit(p)
        case Ack():
            if ln is None or msg.epoch != lead.epoch or ln.stage is not Stage.SYNCED:
                return
            if ln.observer:
                p.protocol_error(sender, msg, "an observer acked a proposal")
                return
            if msg.zxid > p.log.last:
                raise InvariantViolation(f"{sender} acked {msg.zxid:#x} past our log end")
            if msg.zxid > ln.acked:
                ln.acked = msg.zxid
                _advance_commit(p)
        case PingAck():
            if ln is None or msg.epoch != lead.epoch:
                return
            p._touched.extend(msg.touches)
            if msg.round > ln.ping_round and ln.stage is Stage.SYNCED:
                ln.ping_round = msg.round
                _check_reads(p)
        case Forward():
            if p.phase is Phase.BROADCAST and ln is not None and msg.epoch == lead.epoch:
                p._forwarded.append((sender, msg.payload))
        case ReadIndex():
            if p.phase is Phase.BROADCAST and ln is not None and ln.stage is Stage.SYNCED:
                lead.reads_waiting.extend((sender, ctx) for ctx in msg.ctxs)


def _on_info(p: ZabPeer, sender: int, msg: FollowerInfo | ObserverInfo) -> None:
    lead: LeaderState = p.lead
    observer = type(msg) is ObserverInfo
    if observer != (sender in p.config.observers):
        p.protocol_error(sender, msg, "registered in the wrong role")
        return
    old = lead.learners.get(sender)
    if old is not None and old.attempt == msg.attempt:
        return  # a duplicate
    if not observer and lead.epoch and msg.accepted_epoch > lead.epoch:
        # a voter promised a later (never established) epoch and will refuse
        # ours for good: step down so the next epoch is above its promise
        p.epoch_floor = max(p.epoch_floor, msg.accepted_epoch)
        looking.become_looking(p)
        return
    ln = LearnerInfo(sender, observer, msg.attempt, msg.accepted_epoch, msg.last_zxid, heard=p.now)
    lead.learners[sender] = ln
    lead.fresh.discard(sender)
    if lead.epoch == 0:
        _check_discovery(p)
    else:
        # after our accepted epoch is durable (FIFO behind its write)
        p.send_after_persist(sender, NewEpoch(lead.epoch, ln.attempt))
        ln.stage = Stage.EPOCH_SENT


# ---- phases ---------------------------------------------------------------------------------


def _check_discovery(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    if lead.epoch:
        return  # chosen already
    voters = [ln.id for ln in lead.learners.values() if not ln.observer]
    if not has_quorum([p.id, *voters], p.voters):
        return
    seen = (ln.accepted_epoch for ln in lead.learners.values())
    epoch = 1 + max(p.accepted_epoch, p.epoch_floor, *seen)
    if epoch > MAX_EPOCH:
        raise InvariantViolation(f"epoch {epoch} does not fit in 24 bits")
    lead.epoch = p.epoch = p.accepted_epoch = epoch
    p.save_epochs()
    for ln in lead.learners.values():
        p.send_after_persist(ln.id, NewEpoch(epoch, ln.attempt))
        ln.stage = Stage.EPOCH_SENT


def _check_epoch_quorum(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    if p.phase is not Phase.DISCOVERY or not lead.epoch or p.durable_accepted < lead.epoch:
        return
    if not has_quorum([p.id, *lead.fresh], p.voters):
        return
    # the epoch is ours: fix the initial history and bring everyone in line
    p.phase = Phase.SYNC
    lead.history_end = p.log.last
    p.current_epoch = lead.epoch
    p.save_epochs()
    for ln in lead.learners.values():
        if ln.stage is Stage.EPOCH_ACKED:
            _start_sync(p, ln)
    _check_established(p)


def _start_sync(p: ZabPeer, ln: LearnerInfo) -> None:
    lead: LeaderState = p.lead
    log = p.log
    last = ln.last_zxid
    prev = log.prev_before(last) if last > log.floor else log.floor
    plan = choose_sync(last, log.floor, log.last, log.holds(last), prev)
    if plan.kind is SyncKind.SNAP:
        start = p.tree_zxid
        p.send(ln.id, Snap(lead.epoch, ln.attempt, start))
    elif plan.kind is SyncKind.TRUNC:
        start = plan.zxid
        p.send(ln.id, Trunc(lead.epoch, ln.attempt, start))
    else:
        start = plan.zxid
        p.send(ln.id, Diff(lead.epoch, ln.attempt, start))
    prev = start
    for txn in log.entries(start, log.last):
        p.send(ln.id, Proposal(lead.epoch, prev, txn))
        prev = txn.zxid
    p.send(ln.id, NewLeader(lead.epoch, ln.attempt, log.last))
    ln.stage = Stage.SYNCING


def _check_established(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    if p.phase is not Phase.SYNC:
        return
    if p.durable_current != lead.epoch or p.durable_log_end < lead.history_end:
        return
    synced = [
        ln.id for ln in lead.learners.values() if ln.stage is Stage.SYNCED and not ln.observer
    ]
    if not has_quorum([p.id, *synced], p.voters):
        return
    p.phase = Phase.BROADCAST
    lead.next_ping = p.now
    _advance_commit(p)
    for ln in lead.learners.values():
        if ln.stage is Stage.SYNCED:
            p.send(ln.id, UpToDate(lead.epoch, ln.attempt, p.applied))


def _advance_commit(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    if p.phase is not Phase.BROADCAST:
        return
    acks = {ln.id: ln.acked for ln in lead.learners.values() if ln.stage is Stage.SYNCED}
    acks[p.id] = p.durable_log_end if p.durable_current == lead.epoch else 0
    zxid = committed_zxid(acks, p.voters)
    before = p.applied
    if zxid <= before:
        return
    txns = p.commit_to(zxid)
    # one message object per txn for every learner: the transport encodes it once
    commit = Commit(lead.epoch, zxid)
    informs: list[Inform] = []
    for ln in lead.learners.values():
        if ln.stage < Stage.SYNCING:
            continue
        if ln.observer:
            if not informs:
                prevs = (before, *(t.zxid for t in txns[:-1]))
                informs = [Inform(lead.epoch, pz, t) for pz, t in zip(prevs, txns, strict=True)]
            for inform in informs:
                p.send(ln.id, inform)
        else:
            p.send(ln.id, commit)


def _check_reads(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    while lead.reads:
        rnd, zxid, batch = lead.reads[0]
        confirmed = [
            ln.id
            for ln in lead.learners.values()
            if ln.stage is Stage.SYNCED and not ln.observer and ln.ping_round >= rnd
        ]
        if not has_quorum([p.id, *confirmed], p.voters):
            return
        lead.reads.popleft()
        remote: dict[int, list[Any]] = {}
        for origin, ctx in batch:
            if origin is None:
                p._read_states.append(ReadState(ctx, zxid))
            else:
                remote.setdefault(origin, []).append(ctx)
        for origin, ctxs in remote.items():
            p.send(origin, ReadIndexReply(lead.epoch, tuple(ctxs), zxid))


# ---- timers, durability, flush ------------------------------------------------------------------


def _tick(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    cfg = p.config
    if p.phase is not Phase.BROADCAST:
        if p.now >= lead.deadline:
            looking.become_looking(p)
            return
    else:
        alive = [
            ln.id
            for ln in lead.learners.values()
            if ln.stage is Stage.SYNCED
            and not ln.observer
            and p.now - ln.heard <= cfg.sync_limit_ticks
        ]
        if not has_quorum([p.id, *alive], p.voters):
            looking.become_looking(p)  # lost the quorum: stop taking writes
            return
    if p.now >= lead.next_ping:
        lead.next_ping = p.now + cfg.heartbeat_ticks
        _ping_all(p)


def _ping_all(p: ZabPeer) -> None:
    lead: LeaderState = p.lead
    for ln in lead.learners.values():
        p.send(ln.id, Ping(lead.epoch, p.applied, p.log.last, lead.round, ln.attempt))


def _on_durable(p: ZabPeer) -> None:
    if p.phase is Phase.DISCOVERY:
        _check_epoch_quorum(p)
    if p.phase is Phase.SYNC:
        _check_established(p)
    if p.phase is Phase.BROADCAST:
        _advance_commit(p)


def _has_work(p: ZabPeer) -> bool:
    lead: LeaderState = p.lead
    return _may_propose(p) or _may_start_round(lead)


def _may_propose(p: ZabPeer) -> bool:
    """Writes are queued and the last batch is durable here or acked by a follower."""
    if not p.lead.queued:
        return False
    if not p.appending():
        return True
    last = p.log.last
    return any(
        ln.acked >= last
        for ln in p.lead.learners.values()
        if ln.stage is Stage.SYNCED and not ln.observer
    )


def _may_start_round(lead: LeaderState) -> bool:
    """Reads wait and no read-index round is out (one at a time: the next takes them all)."""
    return bool(lead.reads_waiting) and not lead.reads


def _flush(p: ZabPeer) -> None:
    """At ready(): send out a batch of queued proposals and start a read-index round."""
    lead: LeaderState = p.lead
    if _may_propose(p):
        n = min(len(lead.queued), p.config.max_batch)
        batch = [lead.queued.popleft() for _ in range(n)]
        prev = p.log.last
        p.append(batch)
        followers = [
            ln.id for ln in lead.learners.values() if ln.stage >= Stage.SYNCING and not ln.observer
        ]
        for txn in batch:
            proposal = Proposal(lead.epoch, prev, txn)  # one object: encoded once
            for fid in followers:
                p.send(fid, proposal)
            prev = txn.zxid
    if _may_start_round(lead):
        lead.round += 1
        lead.reads.append((lead.round, p.applied, lead.reads_waiting))
        lead.reads_waiting = []
        for ln in lead.learners.values():
            if ln.stage is Stage.SYNCED and not ln.observer:
                p.send(ln.id, Ping(lead.epoch, p.applied, p.log.last, lead.round, ln.attempt))
        _check_reads(p)
