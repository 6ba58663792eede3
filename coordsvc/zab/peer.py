"""ZabPeer: one server's ZAB state machine (etcd raft's shape, ZAB's phases).

``step(input)`` takes a peer message or a local input, ``ready()`` bundles
what the driver must do (see ``ready.py`` for the loop), ``advance(ready)``
says it was done. Each role is a set of functions in its own module
(``looking``, ``leader``, ``learner``); ``become_*`` installs them in
``_step``/``_tick``/``_flush``/``_on_durable``. This module holds what all
roles share: the epoch rules applied before the role step, the outbox,
the log, and durability tracking.

Durability: every Ready with storage work carries a ``persist_mark``; the
core remembers what the log end and epochs were at that Ready, and when
``Persisted(mark)`` comes back those become the durable values. The leader
counts itself in a quorum only from durable values. Acks and epoch acks
travel in ``send_after_persist``, so a learner never acks what it has not
synced.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from coordsvc.storage.base import InitialState
from coordsvc.tree.txn import Txn
from coordsvc.zab import leader, learner, looking
from coordsvc.zab.election import RandomSource, VoteValue
from coordsvc.zab.errors import InvariantViolation, PeerProtocolError, UsageError
from coordsvc.zab.log import LogStorage, ZabLog
from coordsvc.zab.messages import (
    LEADER_MESSAGES,
    LEARNER_MESSAGES,
    ClientRead,
    ClientWrite,
    FollowerInfo,
    Input,
    LogPurged,
    Message,
    NewEpoch,
    NotLeader,
    ObserverInfo,
    PeerDisconnected,
    Persisted,
    Phase,
    Propose,
    Received,
    Role,
    Snap,
    Tick,
    Touched,
    Vote,
)
from coordsvc.zab.ready import Epochs, PeerState, ReadState, Ready

__all__ = ["ZabConfig", "ZabPeer"]


@dataclass(frozen=True, slots=True)
class ZabConfig:
    """One server's view of the ensemble and its timers (all in ticks)."""

    id: int
    voters: frozenset[int]
    observers: frozenset[int] = frozenset()
    election_ticks: int = 10  # LOOKING: resend votes after [n, 2n) ticks
    heartbeat_ticks: int = 1  # LEADING: ping learners this often
    sync_limit_ticks: int = 5  # a learner or a quorum silent this long is lost
    max_batch: int = 1000  # proposals per Ready

    def __post_init__(self) -> None:
        object.__setattr__(self, "voters", frozenset(self.voters))
        object.__setattr__(self, "observers", frozenset(self.observers))

    def validate(self) -> None:
        if not self.voters:
            raise ValueError("an ensemble needs at least one voter")
        if self.voters & self.observers:
            raise ValueError(f"ids both voter and observer: {sorted(self.voters & self.observers)}")
        if self.id not in self.voters | self.observers:
            raise ValueError(f"server {self.id} is neither a voter nor an observer")
        if not 0 < self.heartbeat_ticks < self.sync_limit_ticks:
            raise ValueError("need 0 < heartbeat_ticks < sync_limit_ticks")
        if self.election_ticks < 1 or self.max_batch < 1:
            raise ValueError("election_ticks and max_batch must be positive")

    @property
    def peers(self) -> frozenset[int]:
        return self.voters | self.observers

    @property
    def init_limit_ticks(self) -> int:
        """How long a new leader may take to reach broadcast before it gives up."""
        return 2 * self.sync_limit_ticks + self.election_ticks


class ZabPeer:
    """A pure ZAB state machine: messages and ticks in, a Ready of actions out."""

    def __init__(
        self,
        config: ZabConfig,
        storage: LogStorage,
        rng: RandomSource,
        *,
        initial: InitialState | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.id = config.id
        self.voters: Collection[int] = config.voters
        self.is_voter = config.id in config.voters
        self.rng = rng
        if initial is None:
            initial = storage.initial_state()
        self.log = ZabLog(storage, initial)
        self.accepted_epoch = initial.accepted_epoch
        self.current_epoch = initial.current_epoch
        self.applied = initial.snapshot_zxid  # last zxid handed out to apply
        self.now = 0  # ticks seen
        # role
        self.role = Role.LOOKING
        self.leader_id: int | None = None
        self.epoch = 0
        self.phase = Phase.ELECTION
        self.vote: VoteValue | None = None  # the vote we settled on
        self.round = 0  # election round
        # registrations with a leader; a random base per process, so a restarted
        # learner's registrations never look like duplicates of older ones
        self.attempt = rng.randrange(1 << 16) << 16
        self.accepted_from: tuple[int, int] | None = None  # (epoch, leader) acked in memory
        self.epoch_floor = 0  # highest accepted epoch a learner reported (in memory)
        self.election = None
        # registrations that reached us while LOOKING, from voters that decided
        # before us: taken as if they arrived now if we come to lead
        self.early_infos: dict[int, FollowerInfo | ObserverInfo] = {}
        self.looking_deadline = 0
        self.decide_at: int | None = None
        self.lead = None
        self.learner = None
        self._step: Callable[[ZabPeer, int, Message], None] = _drop
        self._tick: Callable[[ZabPeer], None] = _noop
        self._flush: Callable[[ZabPeer], None] = _noop
        self._on_durable: Callable[[ZabPeer], None] = _noop
        self._has_work: Callable[[ZabPeer], bool] = _nothing
        # durability
        self._next_mark = 1
        self._inflight: deque[list[int]] = deque()  # [mark, log end, accepted, current]
        self.durable_log_end = self.log.last
        self.durable_accepted = self.accepted_epoch
        self.durable_current = self.current_epoch
        self._tree_zxid = self.applied  # the driver's tree, as of the last advance
        # the Ready being gathered
        self._send_now: list[tuple[int, Message]] = []
        self._send_after: list[tuple[int, Message]] = []
        self._persist: list[Txn] = []
        self._truncate: int | None = None
        self._install: Snap | None = None
        self._epochs_dirty = False
        self._committed: list[Txn] = []
        self._read_states: list[ReadState] = []
        self._forwarded: list[tuple[int, Any]] = []
        self._touched: list[int] = []
        self._errors: list[PeerProtocolError] = []
        self._reported: PeerState | None = None
        self._ready_out: Ready | None = None
        self._ready_log_end = 0
        looking.become_looking(self)

    # ---- public ------------------------------------------------------------------

    @property
    def last_zxid(self) -> int:
        return self.log.last

    @property
    def committed_zxid(self) -> int:
        """The highest zxid known committed and handed out to apply."""
        return self.applied

    def state(self) -> PeerState:
        return PeerState(self.role, self.leader_id, self.epoch, self.phase)

    def step(self, inp: Input) -> int | NotLeader | None:
        """Take one input. Propose returns the zxid or NotLeader; ClientWrite and
        ClientRead return NotLeader when they cannot be taken; the rest None."""
        if self._ready_out is not None:
            raise UsageError("step() after ready() and before advance()")
        match inp:
            case Received(sender=sender, message=msg):
                self._receive(sender, msg)
            case Tick():
                self.now += 1
                self._tick(self)
            case Persisted(mark=mark):
                self._persisted(mark)
            case Propose():
                if self.role is Role.LEADING:
                    return leader.propose(self, inp)
                return NotLeader(self.leader_id)
            case ClientWrite(payload=payload):
                if self.role is Role.LEADING and self.phase is Phase.BROADCAST:
                    self._forwarded.append((self.id, payload))
                    return None
                return learner.client_write(self, payload)
            case ClientRead(ctx=ctx):
                if self.role is Role.LEADING:
                    return leader.client_read(self, ctx)
                return learner.client_read(self, ctx)
            case Touched(session_ids=sids):
                if self.role is Role.LEADING:
                    self._touched.extend(sids)
                elif self.learner is not None:
                    self.learner.touches.update(sids)
            case PeerDisconnected(peer=pid):
                if self.learner is not None and pid == self.leader_id:
                    learner.leader_lost(self)
                elif self.role is Role.LEADING:
                    leader.learner_lost(self, pid)
            case LogPurged(zxid=zxid):
                if zxid > self._tree_zxid:
                    raise UsageError(f"purge through {zxid:#x}, past the applied {self.applied:#x}")
                self.log.purge_through(zxid)
            case _:
                raise UsageError(f"not an input: {inp!r}")
        return None

    def has_ready(self) -> bool:
        if self._ready_out is not None:
            return True
        return bool(
            self._send_now
            or self._send_after
            or self._persist
            or self._truncate is not None
            or self._install is not None
            or self._epochs_dirty
            or self._committed
            or self._read_states
            or self._forwarded
            or self._touched
            or self._errors
            or self._reported != self.state()
            or self._has_work(self)
        )

    def ready(self) -> Ready:
        """What to do now; the same Ready until ``advance`` is called."""
        if self._ready_out is not None:
            return self._ready_out
        self._flush(self)
        storage_work = bool(
            self._persist
            or self._truncate is not None
            or self._install is not None
            or self._epochs_dirty
        )
        state = self.state()
        rd = Ready(
            persist_mark=self._next_mark if storage_work else 0,
            install_snapshot=self._install,
            truncate_after=self._truncate,
            epochs=Epochs(self.accepted_epoch, self.current_epoch) if self._epochs_dirty else None,
            persist=tuple(self._persist),
            send_now=tuple(self._send_now),
            send_after_persist=tuple(self._send_after),
            committed=tuple(self._committed),
            state=state if state != self._reported else None,
            read_states=tuple(self._read_states),
            forwarded=tuple(self._forwarded),
            touched=tuple(self._touched),
            protocol_errors=tuple(self._errors),
        )
        self._ready_out = rd
        self._ready_log_end = self.log.last
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver did ``rd``: storage work queued, send_now sent, committed applied."""
        if rd is not self._ready_out:
            raise UsageError("advance() with a Ready that is not the one ready() returned")
        if rd.persist_mark:
            rec = [rd.persist_mark, self._ready_log_end, self.accepted_epoch, self.current_epoch]
            self._inflight.append(rec)
            self._next_mark += 1
        if rd.committed:
            self._tree_zxid = rd.committed[-1].zxid
        elif rd.install_snapshot is not None:
            self._tree_zxid = rd.install_snapshot.zxid
        if rd.state is not None:
            self._reported = rd.state
        self._send_now.clear()
        self._send_after.clear()
        self._persist.clear()
        self._truncate = None
        self._install = None
        self._epochs_dirty = False
        self._committed.clear()
        self._read_states.clear()
        self._forwarded.clear()
        self._touched.clear()
        self._errors.clear()
        self._ready_out = None
        self.log.forget_through(min(self.durable_log_end, self._tree_zxid))

    # ---- for the role modules ------------------------------------------------------

    def send(self, to: int, msg: Message) -> None:
        self._send_now.append((to, msg))

    def send_after_persist(self, to: int, msg: Message) -> None:
        self._send_after.append((to, msg))

    def broadcast_voters(self, msg: Message) -> None:
        for v in sorted(self.voters):
            if v != self.id:
                self._send_now.append((v, msg))

    def protocol_error(self, sender: int, msg: Message, reason: str) -> None:
        self._errors.append(PeerProtocolError(sender, msg, reason))

    def append(self, txns: list[Txn]) -> None:
        self.log.append(txns)
        self._persist.extend(txns)

    def save_epochs(self) -> None:
        self._epochs_dirty = True

    def truncate(self, zxid: int) -> None:
        """Drop the log after ``zxid`` (never below what was applied)."""
        if zxid < self.applied:
            raise InvariantViolation(
                f"truncate to {zxid:#x} would drop applied (committed) txns up to {self.applied:#x}"
            )
        self.log.truncate_after(zxid)
        if self._persist and self._persist[-1].zxid > zxid:
            self._persist = [t for t in self._persist if t.zxid <= zxid]
        if self._install is None and zxid < self._handed_log_end():
            self._truncate = zxid if self._truncate is None else min(self._truncate, zxid)
        self._cap_durable(zxid)

    def install(self, snap: Snap) -> None:
        """Reset tree and log to the snapshot ``snap`` (never behind what was applied)."""
        if snap.zxid < self.applied:
            raise InvariantViolation(
                f"snapshot at {snap.zxid:#x} is behind the applied {self.applied:#x}"
            )
        self.log.reset(snap.zxid)
        self._persist.clear()
        self._truncate = None
        self._install = snap
        self._committed.clear()  # none pending: commits only follow the sync header
        self.applied = snap.zxid
        self._cap_durable(snap.zxid)

    def commit_to(self, zxid: int) -> list[Txn]:
        """Hand out everything through ``zxid`` (capped at the log end) to apply."""
        zxid = min(zxid, self.log.last)
        if zxid <= self.applied:
            return []
        txns = self.log.entries(self.applied, zxid)
        if not txns or txns[-1].zxid != zxid:
            raise InvariantViolation(f"commit to {zxid:#x}: log entries missing")
        self._committed.extend(txns)
        self.applied = zxid
        return txns

    @property
    def tree_zxid(self) -> int:
        """The zxid the driver's tree is at while it sends this Ready's send_now."""
        return self._tree_zxid

    def set_role(self, role: Role, leader_id: int | None, epoch: int, phase: Phase) -> None:
        self.role, self.leader_id, self.epoch, self.phase = role, leader_id, epoch, phase

    def install_role(
        self,
        step: Callable[[ZabPeer, int, Message], None],
        tick: Callable[[ZabPeer], None],
        flush: Callable[[ZabPeer], None] = None,  # type: ignore[assignment]
        on_durable: Callable[[ZabPeer], None] = None,  # type: ignore[assignment]
        has_work: Callable[[ZabPeer], bool] = None,  # type: ignore[assignment]
    ) -> None:
        self._step, self._tick = step, tick
        self._flush = flush or _noop
        self._on_durable = on_durable or _noop
        self._has_work = has_work or _nothing

    def answer_vote(self, to: int) -> None:
        """Tell a LOOKING node which leader we settled on and the epoch it
        established (0 while still in discovery: not joinable yet)."""
        if self.leader_id is None:
            return
        self.send(to, Vote(self.leader_id, self.log.last, self.epoch, self.round, self.role))

    # ---- internals ---------------------------------------------------------------------

    def appending(self) -> bool:
        """Txns handed to storage in an earlier Ready are not durable yet."""
        return self._handed_log_end() > self.durable_log_end

    def _handed_log_end(self) -> int:
        """The log end the driver's storage will have once it did every Ready so far."""
        if self._inflight:
            return self._inflight[-1][1]
        return self.durable_log_end

    def _cap_durable(self, zxid: int) -> None:
        for rec in self._inflight:
            rec[1] = min(rec[1], zxid)
        self.durable_log_end = min(self.durable_log_end, zxid)

    def _persisted(self, mark: int) -> None:
        if mark >= self._next_mark or mark < 1:
            raise UsageError(
                f"Persisted({mark}) but the last mark handed out is {self._next_mark - 1}"
            )
        moved = False
        while self._inflight and self._inflight[0][0] <= mark:
            _, self.durable_log_end, self.durable_accepted, self.durable_current = (
                self._inflight.popleft()
            )
            moved = True
        if moved:
            self._on_durable(self)

    def _receive(self, sender: int, msg: Message) -> None:
        if sender == self.id or sender not in self.config.peers:
            self.protocol_error(sender, msg, "not a peer of this ensemble")
            return
        if type(msg) is Vote:
            if self.role is Role.LOOKING:
                looking.on_vote(self, sender, msg)
            elif msg.state is Role.LOOKING and self.role is not Role.OBSERVING:
                self.answer_vote(sender)
            return
        if isinstance(msg, LEADER_MESSAGES):
            if sender in self.config.observers:
                self.protocol_error(sender, msg, "leader message from an observer")
            elif self.learner is not None and sender == self.leader_id:
                self._step(self, sender, msg)
            elif (
                self.role is not Role.LOOKING
                and type(msg) is not NewEpoch
                and msg.epoch > max(self.accepted_epoch, self.epoch)
            ):
                # an established leader of a later epoch exists: we are behind
                looking.become_looking(self)
            return
        if isinstance(msg, LEARNER_MESSAGES):
            if self.role is Role.LEADING:
                self._step(self, sender, msg)
            elif self.role is Role.LOOKING and type(msg) in (FollowerInfo, ObserverInfo):
                # it elected us before we decided: keep its registration for when we lead
                self.early_infos[sender] = msg
            return
        self.protocol_error(sender, msg, "unknown message")


def _drop(peer: ZabPeer, sender: int, msg: Message) -> None:
    return None


def _noop(peer: ZabPeer) -> None:
    return None


def _nothing(peer: ZabPeer) -> bool:
    return False
