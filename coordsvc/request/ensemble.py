"""The request pipeline of one member of a replicated ensemble (still pure: no I/O).

``EnsemblePipeline`` is the standalone ``Pipeline`` with the write path routed
through the ZAB core instead of assigning zxids itself:

* A leader preps a write against its overlay as before and hands the txn body
  to ``zab.propose`` (the runner steps its ZabPeer), which returns the zxid
  synchronously or NotLeader.
* A follower or observer does not prep: it hands ``(origin, session_id, xid,
  op)`` to ``zab.forward`` (ZabPeer's ClientWrite); the leader's runner feeds
  it back to the leader's pipeline as ``ForwardedRequest``. A forwarded write
  the leader refuses (a CoordError, a failed multi, NotLeader) comes back to
  the origin as ``ForwardReply`` -> ``ForwardedReply``.
* Commits arrive as ``Committed(txns)``; the server holding the request finds
  it by ``(session_id, xid)`` (a follower never learns the zxid of a write it
  forwarded). Session-less writes get a server-unique negative xid.
* New sessions are CreateSessionTxns proposed through the leader (a follower
  forwards a ``CreateSessionOp``); only the leader's SessionTracker expires
  sessions; followers report touched sessions through ``zab.touch``.
* Linearizable reads and syncs ask ``zab.read(ctx)`` for a read index and wait
  for ``ReadIndexReady(ctx, zxid)`` and the tree to reach it; ``consistency
  ="local"`` reads are answered from the local tree at once.
* Losing leadership or broadcast (``RoleChanged``) fails every outstanding
  write and read with ConnectionLoss; a node not serving refuses requests.
* A resent write (same session and xid, see ``tree/retries.py``) is answered from
  its first application: at once when this server has applied it, by riding
  on the first attempt when that is still in flight here or at the leader,
  or with the result the leader recorded (``ForwardReply`` with its zxid,
  answered once this server has applied that zxid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from coordsvc.errors import ConnectionLoss, CoordError, SessionExpiredError
from coordsvc.request.events import Action, Connect, ConnectFailed, Input, Ping
from coordsvc.request.ops import (
    LOCAL,
    AddWatch,
    CloseSession,
    MultiResult,
    Op,
    RemoveWatches,
    Result,
)
from coordsvc.request.pipeline import Pipeline, _Origin, _Pending
from coordsvc.request.prep import Overlay, prep_close_session, prep_write
from coordsvc.session.tracker import clamp_timeout
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.txn import CloseSessionTxn, CreateSessionTxn, DeleteTxn, Txn

__all__ = [
    "EnsemblePipeline",
    "ZabPort",
    "CreateSessionOp",
    "RoleChanged",
    "Committed",
    "ForwardedRequest",
    "ForwardedReply",
    "ReadIndexReady",
    "Touched",
    "ForwardReply",
    "NOT_SERVING",
]

NOT_SERVING = "this server is not in a serving ensemble (no leader in broadcast)"


class ZabPort(Protocol):
    """What the pipeline asks of the replication core (the runner steps its ZabPeer)."""

    def propose(self, body: Any, session_id: int, xid: int, time_ms: int) -> int | Any:
        """The zxid of the new txn, or a NotLeader value."""
        ...

    def forward(self, payload: tuple[int, int, int, Op]) -> Any | None:
        """Send a write to the leader; a NotLeader value when there is none."""
        ...

    def read(self, ctx: int) -> Any | None:
        """Ask for a read index; a NotLeader value when it cannot be had."""
        ...

    def touch(self, session_ids: tuple[int, ...]) -> None: ...


# ---- the internal op, inputs and actions of ensemble mode -------------------------


@dataclass(frozen=True, slots=True)
class CreateSessionOp:
    """A new session picked by the server the client connected to (forwarded to the leader)."""

    session_id: int
    timeout_ms: int
    password: bytes


@dataclass(frozen=True, slots=True)
class RoleChanged:
    leading: bool
    serving: bool
    leader: int | None


@dataclass(frozen=True, slots=True)
class Committed:
    txns: tuple[Txn, ...]


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    """(Leader) a write a learner's client sent."""

    origin: int
    session_id: int
    xid: int
    op: Op


@dataclass(frozen=True, slots=True)
class ForwardedReply:
    """(Origin) the leader answered our forwarded write without a new txn.

    Refused (``error``, a failed multi's ``result``), or a resent write's
    first result with the ``zxid`` it was applied at.
    """

    session_id: int
    xid: int
    result: Result | None
    error: CoordError | None
    zxid: int = 0


@dataclass(frozen=True, slots=True)
class ReadIndexReady:
    ctx: int
    zxid: int


@dataclass(frozen=True, slots=True)
class Touched:
    """(Leader) sessions learners heard from."""

    session_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ForwardReply:
    """Action: send the answer of a refused forwarded write back to ``origin``."""

    origin: int
    session_id: int
    xid: int
    result: Result | None
    error: CoordError | None
    zxid: int = 0  # set when answering a resent write from its first application

    def arrived(self) -> ForwardedReply:
        """The pipeline input this reply becomes on its origin server."""
        return ForwardedReply(self.session_id, self.xid, self.result, self.error, self.zxid)


_LOCAL_READS = (AddWatch, RemoveWatches)


class EnsemblePipeline(Pipeline):
    """A Pipeline whose writes, sessions and linearizable reads go through ZAB."""

    def __init__(self, config, *, zab: ZabPort, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._zab = zab
        self.server_id = config.server_id
        self.leading = False
        self.serving = False
        self.leader: int | None = None
        self._pending: dict[tuple[int, int], _Origin] = {}  # (session, xid) -> origin
        self._also: dict[tuple[int, int], list[_Origin]] = {}  # resends riding on a pending one
        self._reads: dict[int, tuple[int, _Pending]] = {}  # read ctx -> (key, entry)
        self._next_ctx = 0
        self._unique = 0

    # ---- public -------------------------------------------------------------

    def step(self, inp: Input | Any) -> list[Action]:
        out: list[Action] = []
        match inp:
            case Committed(txns=txns):
                for txn in txns:
                    if txn.zxid > self.tree.last_zxid:
                        self._apply_committed(txn, out)
                for key in list(self._sync_keys):
                    self._drain(key, out)
            case ForwardedRequest():
                self._on_forwarded(inp, out)
            case ForwardedReply(session_id=sid, xid=xid, result=result, error=error, zxid=zxid):
                for origin in self._take((sid, xid)):
                    if zxid and result is not None:
                        self._await_applied(origin, zxid, result, out)
                    else:
                        self._refused(origin, result, error, out)
            case ReadIndexReady(ctx=ctx, zxid=zxid):
                got = self._reads.pop(ctx, None)
                if got is not None:
                    key, entry = got
                    entry.barrier, entry.zxid = False, zxid
                    self._drain(key, out)
            case Touched(session_ids=sids):
                now = self.now_ms()
                for sid in sids:
                    if sid in self.tree.sessions and sid not in self._closing:
                        self.tracker.touch(sid, now)
            case RoleChanged():
                self._on_role(inp, out)
            case Ping(session_id=sid):
                out = super().step(inp)
                if not self.leading and sid:
                    self._zab.touch((sid,))
            case _:
                out = super().step(inp)
        return out

    def reset_tree(self, tree: DataTree) -> None:
        """A SNAP replaced the tree: start over from it (outstanding work was failed)."""
        self.tree = tree
        self._overlay = Overlay(tree)
        self._inflight.clear()
        self._history.clear()
        self._history_floor = tree.last_zxid
        self._last_proposed = max(self._last_proposed, tree.last_zxid)
        now = self.now_ms()
        for sid, rec in tree.sessions.items():
            self.tracker.add(sid, rec.timeout_ms, now)

    # ---- inputs -------------------------------------------------------------

    def _on_role(self, r: RoleChanged, out: list[Action]) -> None:
        lost = (self.leading and not r.leading) or (self.serving and not r.serving)
        lost = lost or (self.leader != r.leader)
        self.leading, self.serving, self.leader = r.leading, r.serving, r.leader
        if lost:
            self._fail_outstanding(out)
        if r.leading and r.serving:  # the new leader owns expiry: a fresh deadline for all
            now = self.now_ms()
            for sid, rec in self.tree.sessions.items():
                self.tracker.add(sid, rec.timeout_ms, now)

    def _fail_outstanding(self, out: list[Action]) -> None:
        pending, self._pending = self._pending, {}
        also, self._also = self._also, {}
        reads, self._reads = self._reads, {}
        self._overlay.clear()
        self._inflight.clear()
        self._closing.clear()
        self._reaping.clear()
        err = ConnectionLoss("the leader changed; retry")
        for origin in [*pending.values(), *(o for os in also.values() for o in os)]:
            self._refused(origin, None, err, out)
        for key, entry in reads.values():
            entry.barrier, entry.error, entry.ready = False, err, True
            self._drain(key, out)
        last = self.last_applied_zxid
        for key, queue in list(self._queues.by_key.items()):
            for entry in queue:  # resends riding on a proposal that may never commit
                if entry.retry and not entry.ready and entry.result is None and entry.zxid > last:
                    entry.error, entry.zxid, entry.retry, entry.ready = err, 0, False, True
            self._drain(key, out)

    def _on_connect(self, c: Connect, out: list[Action]) -> None:
        if not self.serving:
            out.append(ConnectFailed(c.conn_id, ConnectionLoss(NOT_SERVING)))
            return
        if self._behind(c, out):
            return
        if c.session_id != 0:
            super()._on_connect(c, out)
            if not self.leading and self.check_session(c.session_id, c.password):
                self._zab.touch((c.session_id,))
            return
        sid = self._new_session_id()
        password = self._rng.randbytes(16) if self._rng is not None else sid.to_bytes(16, "big")
        cfg = self.config
        timeout = clamp_timeout(c.timeout_ms, cfg.min_timeout_ms, cfg.max_timeout_ms)
        origin = _Origin(key=sid, connect=(c.conn_id, sid, password, timeout))
        self._submit(CreateSessionOp(sid, timeout, password), sid, 0, origin, out)

    def _on_request(self, r, out: list[Action]) -> None:
        if not self.serving:
            key = r.session_id if r.session_id else -r.conn_id
            entry = _Pending(r.conn_id, r.session_id, r.xid, r.op)
            entry.error, entry.ready = ConnectionLoss(NOT_SERVING), True
            self._queues.push(key, entry)
            self._drain(key, out)
            return
        if r.session_id and not self.leading:
            self._zab.touch((r.session_id,))
        super()._on_request(r, out)

    def _start_read(self, key: int, entry: _Pending) -> None:
        op = entry.op
        if isinstance(op, _LOCAL_READS) or getattr(op, "consistency", None) == LOCAL:
            return  # answered from the local tree at once
        self._next_ctx += 1
        ctx = self._next_ctx
        if self._zab.read(ctx) is not None:
            entry.error, entry.ready = ConnectionLoss(NOT_SERVING), True
            return
        entry.barrier = True
        self._reads[ctx] = (key, entry)
        self._sync_keys.add(key)

    def _prep_and_propose(self, key: int, entry: _Pending, out: list[Action]) -> None:
        sid = entry.session_id
        xid = entry.xid if sid else self._unique_xid()
        if isinstance(entry.op, CloseSession):
            self._closing.add(sid)
        entry.waiting = True
        self._submit(entry.op, sid, xid, _Origin(key, entry), out)

    def _on_forwarded(self, f: ForwardedRequest, out: list[Action]) -> None:
        origin = _Origin(key=0)
        if isinstance(f.op, CloseSession):
            if f.session_id in self._closing:
                return  # already being closed: its commit answers the origin
            self._closing.add(f.session_id)
        self._submit(f.op, f.session_id, f.xid, origin, out, forwarded_from=f.origin)

    def _on_tick(self, now: int, out: list[Action]) -> None:
        if self.leading and self.serving:
            super()._on_tick(now, out)

    # ---- the write path -----------------------------------------------------

    def _submit(self, op, sid: int, xid: int, origin: _Origin, out, *, forwarded_from=None):
        """Propose (leader) or forward (learner) one write; refuse it on failure."""
        if self._resent(op, sid, xid, origin, out, forwarded_from):
            return
        if not self.leading:
            if self._zab.forward((self.server_id, sid, xid, op)) is not None:
                self._refused(origin, None, ConnectionLoss(NOT_SERVING), out)
                return
            self._pending[(sid, xid)] = origin
            return
        try:
            body, changes = self._prep(op, sid)
        except CoordError as err:
            self._answer(origin, forwarded_from, sid, xid, None, err, out)
            return
        if isinstance(body, MultiResult):
            self._answer(origin, forwarded_from, sid, xid, body, None, out)
            return
        zxid = self._zab.propose(body, sid, xid, self.now_ms())
        if not isinstance(zxid, int):
            self._answer(origin, forwarded_from, sid, xid, None, ConnectionLoss(NOT_SERVING), out)
            return
        self._overlay.record(changes, zxid)
        self._last_proposed = zxid
        if sid and xid > 0:
            self._inflight[(sid, xid)] = zxid
        if forwarded_from is None:
            self._pending[(sid, xid)] = origin

    def _resent(self, op, sid: int, xid: int, origin: _Origin, out, forwarded_from) -> bool:
        """True when (sid, xid) is a write already applied or in flight: answered as such."""
        if not sid or xid <= 0 or isinstance(op, (CreateSessionOp, CloseSession)):
            return False
        key = (sid, xid)
        done = self.tree.retries.lookup(sid, xid)
        if done is not None:
            self._answer(origin, forwarded_from, sid, xid, done.result, None, out, done.zxid)
            return True
        if key in self._pending and origin.entry is not None:  # the first attempt is ours
            self._also.setdefault(key, []).append(origin)
            return True
        zxid = self._inflight.get(key) if self.leading else None
        if zxid is None:
            return False
        if origin.entry is not None:  # answered when its first attempt is applied
            self._await_applied(origin, zxid, None, out)
        # else: forwarded; its own server answers it when the first attempt commits
        return True

    def _await_applied(self, origin: _Origin, zxid: int, result, out: list[Action]) -> None:
        """Answer a resent write once this server has applied its first attempt at ``zxid``."""
        entry = origin.entry
        if entry is None:
            return
        entry.retry, entry.zxid, entry.result = True, zxid, result
        entry.waiting, entry.ready = False, False
        self._drain(origin.key, out)

    def _take(self, key: tuple[int, int]) -> list[_Origin]:
        """The origin waiting on (session, xid) and any resends riding on it."""
        first = self._pending.pop(key, None)
        rest = self._also.pop(key, [])
        return ([first] if first is not None else []) + rest

    def _prep(self, op, sid: int):
        if isinstance(op, CreateSessionOp):
            return CreateSessionTxn(op.session_id, op.timeout_ms, op.password), {}
        if sid and (
            sid not in self.tree.sessions
            or (sid in self._closing and not isinstance(op, CloseSession))
        ):
            raise SessionExpiredError(f"session {sid:#x} has expired")
        if isinstance(op, CloseSession):
            return prep_close_session(self._overlay, sid)
        return prep_write(self._overlay, op, sid)

    def _answer(self, origin, forwarded_from, sid, xid, result, error, out, zxid=0) -> None:
        if forwarded_from is not None and forwarded_from != self.server_id:
            out.append(ForwardReply(forwarded_from, sid, xid, result, error, zxid))
            if isinstance(error, CoordError) and sid in self._closing:
                self._closing.discard(sid)
            return
        self._refused(origin, result, error, out, zxid)

    def _refused(self, origin: _Origin, result, error, out: list[Action], zxid: int = 0) -> None:
        """Answer a write that will not commit (here), or a resend applied here at ``zxid``."""
        if origin.connect is not None:
            out.append(ConnectFailed(origin.connect[0], error or ConnectionLoss(NOT_SERVING)))
            return
        entry = origin.entry
        if entry is None:
            return
        if isinstance(entry.op, CloseSession) and error is not None:
            self._closing.discard(entry.session_id)
        entry.result, entry.error = result, error
        entry.zxid, entry.waiting, entry.ready = zxid, False, True
        self._drain(origin.key, out)

    def _propose(self, body, sid: int, xid: int, changes, origin: _Origin, out) -> None:
        """Leader-made txns (expiry, reaping) go straight to the core."""
        zxid = self._zab.propose(body, sid, xid, self.now_ms())
        if not isinstance(zxid, int):
            if isinstance(body, CloseSessionTxn):
                self._closing.discard(body.session_id)
            if origin.reap is not None:
                self._reaping.discard(origin.reap)
            return
        self._overlay.record(changes, zxid)
        self._last_proposed = zxid

    def _apply_committed(self, txn: Txn, out: list[Action]) -> None:
        origin = self._pending.pop((txn.session_id, txn.xid), None)
        if origin is not None:
            self._origins[txn.zxid] = origin
        riders = self._also.pop((txn.session_id, txn.xid), ())
        body = txn.body
        if isinstance(body, DeleteTxn) and txn.session_id == 0 and txn.xid == 0:
            self._reaping.discard(body.path)
        self._last_proposed = max(self._last_proposed, txn.zxid)
        self._apply(txn, out)
        for rider in riders:
            self._await_applied(rider, txn.zxid, None, out)

    def _unique_xid(self) -> int:
        self._unique += 1
        return -(((self.server_id & 0xFFFFFF) << 40) | self._unique)
