"""The request pipeline of one server: validate, prep, propose, apply, answer.

A pure state machine in the sans-I/O style: the driver calls ``step(input)``
and performs the returned actions in order. Writes become txns with the next
zxid and are handed out as ``Persist``; once ``Persisted(zxid)`` comes back
they commit (an ensemble of one: the leader's own durable write is the
quorum), are applied to the tree, fire watches and are answered. Requests of
one session are answered in the order they were sent, and a session reads
its own writes: a read waits behind that session's pending writes.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from coordsvc.errors import (
    CompactedError,
    ConnectionLoss,
    CoordError,
    NoNodeError,
    SessionExpiredError,
    ThrottledError,
)
from coordsvc.request.events import (
    Action,
    ClientRequest,
    Connect,
    Connected,
    ConnectFailed,
    Disconnected,
    EndSession,
    Input,
    Notify,
    Persist,
    Persisted,
    PersistFailed,
    Ping,
    Published,
    Reply,
    Tick,
    WatchEventValue,
)
from coordsvc.request.ops import (
    AddWatch,
    Child,
    CloseSession,
    Done,
    Exists,
    ExistsResult,
    GetChildren,
    GetChildrenResult,
    GetData,
    GetDataResult,
    Multi,
    MultiResult,
    Op,
    RemoveWatches,
    Result,
    Sync,
    SyncResult,
    is_write,
)
from coordsvc.request.prep import (
    Overlay,
    failed_multi,
    prep_close_session,
    prep_reap,
    prep_write,
)
from coordsvc.request.validate import Limits, invalid_op, validate
from coordsvc.session.tracker import SessionTracker, clamp_timeout
from coordsvc.storage.base import InitialState
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    Txn,
    make_zxid,
    zxid_counter,
    zxid_epoch,
)
from coordsvc.tree.watches import CHILD, DATA, KINDS, PERSISTENT, PERSISTENT_RECURSIVE, WatchTable

__all__ = ["Pipeline", "PipelineConfig", "pipeline_config"]

_REMOVE_KINDS = {
    "any": KINDS,
    "data": (DATA,),
    "children": (CHILD,),
    "persistent": (PERSISTENT,),
    "persistent_recursive": (PERSISTENT_RECURSIVE,),
}


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    server_id: int = 1
    tick_ms: int = 2000
    min_session_timeout_ms: int | None = None  # None: 2 ticks
    max_session_timeout_ms: int | None = None  # None: 20 ticks
    max_data_bytes: int = 1 << 20
    max_pending_per_session: int = 10_000
    history_txns: int = 100_000  # txns of watch history kept for resumable watches

    @property
    def min_timeout_ms(self) -> int:
        return self.min_session_timeout_ms or 2 * self.tick_ms

    @property
    def max_timeout_ms(self) -> int:
        return self.max_session_timeout_ms or 20 * self.tick_ms


def pipeline_config(server_cfg) -> PipelineConfig:
    """The PipelineConfig of a server's settings (anything with the same field names)."""
    return PipelineConfig(
        server_id=server_cfg.server_id,
        tick_ms=server_cfg.tick_ms,
        min_session_timeout_ms=server_cfg.min_session_timeout_ms,
        max_session_timeout_ms=server_cfg.max_session_timeout_ms,
        max_data_bytes=server_cfg.max_data_bytes,
    )


@dataclass(slots=True)
class _Pending:
    """One request waiting for its turn to be answered."""

    conn_id: int
    session_id: int
    xid: int
    op: Op | None = None
    zxid: int = 0  # write: its txn; sync: the barrier to reach
    waiting: bool = False  # a write not yet applied
    result: Result | None = None
    error: CoordError | None = None
    ready: bool = False  # the answer is already decided
    barrier: bool = False  # a read waiting for its read index (ensemble mode)
    retry: bool = False  # a resent write: answered from its first application at zxid


@dataclass(slots=True)
class _Origin:
    key: int
    entry: _Pending | None = None
    connect: tuple[int, int, bytes, int] | None = None  # conn, sid, password, timeout
    reap: str | None = None


@dataclass(slots=True)
class _Queues:
    by_key: dict[int, deque[_Pending]] = field(default_factory=dict)

    def push(self, key: int, entry: _Pending) -> None:
        self.by_key.setdefault(key, deque()).append(entry)

    def __len__(self) -> int:
        return sum(len(q) for q in self.by_key.values())


class Pipeline:
    """validate -> prep -> propose -> (persisted) -> apply -> answer, for one server."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        initial: InitialState | None = None,
        log: Iterable[Txn] = (),
        now_ms: int = 0,
        rng=None,
        clock: Callable[[], int] | None = None,
        tree: DataTree | None = None,
    ) -> None:
        self.config = config
        self.limits = Limits(max_data_bytes=config.max_data_bytes)
        self.tree = tree if tree is not None else DataTree()
        for txn in log:
            if txn.zxid > self.tree.last_zxid:
                self.tree.apply(txn)
        self.watches = WatchTable()
        self.tracker = SessionTracker(config.tick_ms)
        self._overlay = Overlay(self.tree)
        self._rng = rng
        self._clock = clock
        self._now = now_ms
        last = self.tree.last_zxid
        prior_epoch = max(zxid_epoch(last), initial.current_epoch if initial else 0)
        self.epoch = prior_epoch + 1
        self._counter = 0
        self._last_proposed = last
        self._uncommitted: deque[Txn] = deque()
        self._origins: dict[int, _Origin] = {}
        self._inflight: dict[tuple[int, int], int] = {}  # (session, xid) -> zxid, not applied
        self._queues = _Queues()
        self._sync_keys: set[int] = set()
        self._closing: set[int] = set()
        self._reaping: set[str] = set()
        self._history: deque[tuple[int, tuple[WatchEventValue, ...]]] = deque()
        self._history_floor = last
        sid_base = ((now_ms << 24) & ((1 << 64) - 1)) >> 8
        self._next_session_id = ((config.server_id & 0x7F) << 56) | sid_base
        for sid, rec in self.tree.sessions.items():
            self.tracker.add(sid, rec.timeout_ms, now_ms)

    # ---- public -------------------------------------------------------------

    @property
    def last_applied_zxid(self) -> int:
        return self.tree.last_zxid

    @property
    def last_proposed_zxid(self) -> int:
        return self._last_proposed

    def now_ms(self) -> int:
        return self._clock() if self._clock is not None else self._now

    def step(self, inp: Input) -> list[Action]:
        """Handle one input; return the actions to perform, in order."""
        out: list[Action] = []
        match inp:
            case ClientRequest():
                self._on_request(inp, out)
            case Persisted(zxid=zxid):
                self._on_persisted(zxid, out)
            case Connect():
                self._on_connect(inp, out)
            case Ping(session_id=sid):
                if sid in self.tree.sessions and sid not in self._closing:
                    self.tracker.touch(sid, self.now_ms())
            case Tick(now_ms=now):
                self._now = now
                self._on_tick(now, out)
            case PersistFailed(error=error):
                self._on_persist_failed(error, out)
            case Disconnected():
                pass  # the session lives on until its timeout
            case _:
                raise TypeError(f"unknown input {inp!r}")
        return out

    def history_since(self, zxid: int) -> list[tuple[int, tuple[WatchEventValue, ...]]]:
        """Watch events of txns after ``zxid``; CompactedError if no longer kept."""
        if zxid < self._history_floor:
            raise CompactedError(
                f"zxid {zxid:#x} is older than the retained history (from {self._history_floor:#x})"
            )
        return [(z, evs) for z, evs in self._history if z > zxid]

    def check_session(self, session_id: int, password: bytes) -> bool:
        """True when the session is live (not closing) and ``password`` is its password."""
        rec = self.tree.sessions.get(session_id)
        return (
            rec is not None
            and session_id not in self._closing
            and hmac.compare_digest(rec.password, password)
        )

    def sessions_listing(self) -> list[tuple[int, int, int]]:
        """(session_id, timeout_ms, ephemeral count) of every live session."""
        return sorted(
            (sid, rec.timeout_ms, len(self.tree.ephemerals(sid)))
            for sid, rec in self.tree.sessions.items()
        )

    @property
    def pending_requests(self) -> int:
        return len(self._queues)

    # ---- inputs -------------------------------------------------------------

    def _behind(self, c: Connect, out: list[Action]) -> bool:
        """Refuse a client that has seen more than this server (no going back in time).

        Checked before the session, so a lagging server that has not yet
        applied the session's creation sends the client on instead of
        calling its session expired; and before making a new session too.
        """
        if c.last_zxid <= self.last_applied_zxid:
            return False
        err = ConnectionLoss(
            f"client has seen zxid {c.last_zxid:#x}, this server only {self.last_applied_zxid:#x}"
        )
        out.append(ConnectFailed(c.conn_id, err))
        return True

    def _on_connect(self, c: Connect, out: list[Action]) -> None:
        if self._behind(c, out):
            return
        if c.session_id == 0:
            sid = self._new_session_id()
            password = self._rng.randbytes(16) if self._rng is not None else sid.to_bytes(16, "big")
            cfg = self.config
            timeout = clamp_timeout(c.timeout_ms, cfg.min_timeout_ms, cfg.max_timeout_ms)
            origin = _Origin(key=sid, connect=(c.conn_id, sid, password, timeout))
            self._propose(CreateSessionTxn(sid, timeout, password), sid, 0, {}, origin, out)
            return
        rec = self.tree.sessions.get(c.session_id)
        if not self.check_session(c.session_id, c.password):
            err = SessionExpiredError(f"session {c.session_id:#x} has expired or is unknown")
            out.append(ConnectFailed(c.conn_id, err))
            return
        self.tracker.touch(c.session_id, self.now_ms())
        out.append(
            Connected(
                c.conn_id,
                c.session_id,
                rec.password,
                rec.timeout_ms,
                self.last_applied_zxid,
                self.tree.retries.last_xid(c.session_id),
            )
        )

    def _on_request(self, r: ClientRequest, out: list[Action]) -> None:
        sid = r.session_id
        key = sid if sid else -r.conn_id
        entry = _Pending(r.conn_id, sid, r.xid, r.op)
        queue = self._queues.by_key.get(key)
        if queue is not None and len(queue) >= self.config.max_pending_per_session:
            # refused, but answered in its turn so replies stay in request order
            entry.error, entry.ready = ThrottledError("too many outstanding requests"), True
            self._queues.push(key, entry)
            self._drain(key, out)
            return
        self._queues.push(key, entry)
        try:
            if sid:
                if sid not in self.tree.sessions or sid in self._closing:
                    raise SessionExpiredError(f"session {sid:#x} has expired")
                self.tracker.touch(sid, self.now_ms())
            validate(r.op, self.limits, has_session=bool(sid))
            bad = (
                invalid_op(r.op.ops, self.limits, has_session=bool(sid))
                if isinstance(r.op, Multi)
                else None
            )
            if bad is not None:  # a malformed op of a multi is answered per op
                entry.result, entry.ready = failed_multi(r.op, *bad), True
            elif is_write(r.op):
                self._prep_and_propose(key, entry, out)
            else:
                self._start_read(key, entry)
        except CoordError as err:
            entry.error, entry.ready = err, True
        self._drain(key, out)

    def _prep_and_propose(self, key: int, entry: _Pending, out: list[Action]) -> None:
        sid = entry.session_id
        if self._answer_resent(entry):
            return
        if isinstance(entry.op, CloseSession):
            body, changes = prep_close_session(self._overlay, sid)
            self._closing.add(sid)
        else:
            body, changes = prep_write(self._overlay, entry.op, sid)
            if isinstance(body, MultiResult):  # a failed multi: answered, not proposed
                entry.result, entry.ready = body, True
                return
        entry.waiting = True
        self._propose(body, sid, entry.xid, changes, _Origin(key, entry), out)

    def _answer_resent(self, entry: _Pending) -> bool:
        """True when ``entry`` resends a write already applied or in flight.

        An applied one is answered at once with its first result and zxid; one
        in flight waits for its zxid and is answered from its application.
        """
        if not entry.session_id or entry.xid <= 0 or isinstance(entry.op, CloseSession):
            return False
        key = (entry.session_id, entry.xid)
        done = self.tree.retries.lookup(*key)
        if done is not None:
            entry.result, entry.zxid, entry.ready = done.result, done.zxid, True
            return True
        zxid = self._inflight.get(key)
        if zxid is None:
            return False
        entry.retry, entry.zxid = True, zxid
        return True

    def _start_read(self, key: int, entry: _Pending) -> None:
        """A read: a sync waits until what was proposed before it is applied."""
        if isinstance(entry.op, Sync):
            entry.zxid = self._last_proposed
            self._sync_keys.add(key)

    def _on_persisted(self, zxid: int, out: list[Action]) -> None:
        while self._uncommitted and self._uncommitted[0].zxid <= zxid:
            self._apply(self._uncommitted.popleft(), out)
        for key in list(self._sync_keys):
            self._drain(key, out)

    def _on_persist_failed(self, error: CoordError, out: list[Action]) -> None:
        """Abandon every txn not yet durable; zxids resume after the last durable one."""
        aborted = list(self._uncommitted)
        self._uncommitted.clear()
        self._overlay.clear()
        last = self.tree.last_zxid
        self._last_proposed = last
        self._counter = zxid_counter(last) if zxid_epoch(last) == self.epoch else 0
        now = self.now_ms()
        for txn in aborted:
            self._inflight.pop((txn.session_id, txn.xid), None)
            origin = self._origins.pop(txn.zxid, None)
            body = txn.body
            if isinstance(body, CloseSessionTxn):
                self._closing.discard(body.session_id)
                rec = self.tree.sessions.get(body.session_id)
                if rec is not None:  # it expires again on a later tick
                    self.tracker.add(body.session_id, rec.timeout_ms, now)
            if origin is None:
                continue
            if origin.connect is not None:
                out.append(ConnectFailed(origin.connect[0], error))
            elif origin.reap is not None:
                self._reaping.discard(origin.reap)
            elif origin.entry is not None:
                entry = origin.entry
                entry.error, entry.zxid, entry.waiting, entry.ready = error, 0, False, True
        for key, queue in list(self._queues.by_key.items()):
            for entry in queue:
                if isinstance(entry.op, Sync) and entry.zxid > last:
                    entry.zxid = last
                elif entry.retry and entry.zxid > last:  # its first attempt failed with it
                    entry.error, entry.zxid, entry.retry, entry.ready = error, 0, False, True
            self._drain(key, out)

    def _on_tick(self, now: int, out: list[Action]) -> None:
        for sid in self.tracker.expired(now):
            if sid in self.tree.sessions and sid not in self._closing:
                body, changes = prep_close_session(self._overlay, sid)
                self._closing.add(sid)
                self._propose(body, sid, 0, changes, _Origin(key=sid), out)
        for path in self.tree.reap_candidates(now):
            if path in self._reaping:
                continue
            decided = prep_reap(self._overlay, path)
            if decided is not None:
                self._reaping.add(path)
                self._propose(decided[0], 0, 0, decided[1], _Origin(key=0, reap=path), out)

    # ---- propose and apply --------------------------------------------------

    def _propose(self, body, sid: int, xid: int, changes, origin: _Origin, out) -> None:
        self._counter += 1
        zxid = make_zxid(self.epoch, self._counter)
        txn = Txn(zxid, self.now_ms(), sid, xid, body)
        self._overlay.record(changes, zxid)
        self._last_proposed = zxid
        self._uncommitted.append(txn)
        self._origins[zxid] = origin
        if sid and xid > 0:
            self._inflight[(sid, xid)] = zxid
        if origin.entry is not None:
            origin.entry.zxid = zxid
        out.append(Persist((txn,)))

    def _apply(self, txn: Txn, out: list[Action]) -> None:
        body = txn.body
        if isinstance(body, CloseSessionTxn):
            self.watches.remove_session(body.session_id)
        applied = self.tree.apply(txn)
        self._overlay.applied(txn.zxid)
        self._inflight.pop((txn.session_id, txn.xid), None)
        events = tuple(WatchEventValue(t, p, txn.zxid) for t, p in applied.triggers)
        for ev in events:
            for sid in self.watches.trigger(ev.type, ev.path):
                out.append(Notify(sid, ev))
        if events:
            out.append(Published(txn.zxid, events))
            self._remember(txn.zxid, events)
        origin = self._origins.pop(txn.zxid, None)
        if isinstance(body, CreateSessionTxn):
            self.tracker.add(body.session_id, body.timeout_ms, self.now_ms())
            if origin is not None and origin.connect is not None:
                conn_id, sid, password, timeout = origin.connect
                out.append(Connected(conn_id, sid, password, timeout, txn.zxid))
            return
        if isinstance(body, CloseSessionTxn):
            sid = body.session_id
            self.tracker.remove(sid)
            self._closing.discard(sid)
            if origin is not None and origin.entry is not None:
                self._finish(origin, applied.result, out)
                out.append(EndSession(sid, None))
            else:
                out.append(EndSession(sid, SessionExpiredError(f"session {sid:#x} expired")))
            return
        if origin is not None:
            if origin.reap is not None:
                self._reaping.discard(origin.reap)
            elif origin.entry is not None:
                self._finish(origin, applied.result, out)

    def _finish(self, origin: _Origin, result: Result, out: list[Action]) -> None:
        entry = origin.entry
        entry.result, entry.waiting, entry.ready = result, False, True
        self._drain(origin.key, out)

    def _remember(self, zxid: int, events: tuple[WatchEventValue, ...]) -> None:
        self._history.append((zxid, events))
        while len(self._history) > self.config.history_txns:
            self._history_floor = self._history.popleft()[0]

    # ---- answers ------------------------------------------------------------

    def _drain(self, key: int, out: list[Action]) -> None:
        """Answer the session's requests from the front, stopping at the first not ready."""
        queue = self._queues.by_key.get(key)
        while queue:
            head = queue[0]
            if head.waiting:
                return
            if not head.ready and (head.barrier or head.zxid > self.last_applied_zxid):
                return
            queue.popleft()
            if not head.ready:
                self._read(head)
            out.append(self._reply(head))
        self._queues.by_key.pop(key, None)
        self._sync_keys.discard(key)

    def _reply(self, e: _Pending) -> Reply:
        zxid = e.zxid if (e.result is not None and e.zxid) else self.last_applied_zxid
        return Reply(e.conn_id, e.session_id, e.xid, zxid, e.result, e.error)

    def _read(self, e: _Pending) -> None:
        """Answer a read from the local tree, registering its watch."""
        e.ready = True
        if e.retry:
            self._answer_retry(e)
            return
        e.zxid = 0
        op, sid, tree = e.op, e.session_id, self.tree
        try:
            match op:
                case Exists(path=path, watch=watch):
                    node = tree.get(path)
                    e.result = ExistsResult(node.stat() if node is not None else None)
                    if watch:
                        self.watches.add(sid, path, DATA)
                case GetData(path=path, watch=watch):
                    node = tree.get(path)
                    if node is None:
                        raise NoNodeError(f"node {path} does not exist", path)
                    e.result = GetDataResult(node.data, node.stat())
                    if watch:
                        self.watches.add(sid, path, DATA)
                case GetChildren(path=path, watch=watch, include_data=include_data):
                    node = tree.get(path)
                    if node is None:
                        raise NoNodeError(f"node {path} does not exist", path)
                    names = tuple(tree.children(path))
                    children: tuple[Child, ...] = ()
                    if include_data:
                        kids = ((n, tree.get(tree.child_path(path, n))) for n in names)
                        children = tuple(Child(n, k.data, k.stat()) for n, k in kids)
                    e.result = GetChildrenResult(names, node.stat(), children)
                    if watch:
                        self.watches.add(sid, path, CHILD)
                case Sync(path=path):
                    e.result = SyncResult(path)
                case AddWatch(path=path, recursive=recursive):
                    self.watches.add(sid, path, PERSISTENT_RECURSIVE if recursive else PERSISTENT)
                    e.result = Done()
                case RemoveWatches(path=path, kind=kind):
                    self.watches.remove(sid, path, _REMOVE_KINDS[kind])
                    e.result = Done()
                case _:
                    raise TypeError(f"not a read: {op!r}")
        except CoordError as err:
            e.error = err

    def _answer_retry(self, e: _Pending) -> None:
        """A resent write whose first attempt is now applied: answer with that result."""
        done = self.tree.retries.lookup(e.session_id, e.xid)
        if done is not None:
            e.result, e.zxid = done.result, done.zxid
        elif e.result is None:  # nothing kept and no answer from the leader: try again
            e.error, e.zxid = ConnectionLoss("the first attempt's result is unknown; retry"), 0

    # ---- helpers ------------------------------------------------------------

    def _new_session_id(self) -> int:
        while True:
            sid = self._next_session_id
            self._next_session_id += 1
            if sid not in self.tree.sessions and sid != 0:
                return sid
