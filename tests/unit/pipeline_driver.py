"""A tiny synchronous driver for Pipeline, for tests.

It performs the actions the way the real runner does, minus the I/O:
``Persist`` txns are "written" either at once (auto_persist) or when the
test calls ``persist()``, which feeds ``Persisted(zxid)`` back. Every action
is kept, in order, in ``actions``.
"""

from __future__ import annotations

import itertools

from coordsvc.request.events import (
    Action,
    ClientRequest,
    Connect,
    Connected,
    Input,
    Persist,
    Persisted,
    Ping,
    Reply,
    Tick,
)
from coordsvc.request.ops import Op
from coordsvc.request.pipeline import Pipeline, PipelineConfig
from coordsvc.tree.txn import Txn

__all__ = ["Driver"]


class Driver:
    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        pipeline: Pipeline | None = None,
        auto_persist: bool = True,
        now_ms: int = 0,
        first_xid: int = 1,
    ) -> None:
        self.pipeline = pipeline or Pipeline(config or PipelineConfig(), now_ms=now_ms)
        self.auto_persist = auto_persist
        self.actions: list[Action] = []
        self.log: list[Txn] = []  # every txn handed out, in order
        self.unpersisted: list[Txn] = []
        self.conn_of: dict[int, int] = {}  # session id -> its connection
        self._conn_ids = itertools.count(1)
        self._xids = itertools.count(first_xid)  # xids never repeat within a session

    # ---- raw stepping -------------------------------------------------------

    def step(self, inp: Input) -> list[Action]:
        """Feed one input; perform Persist (at once if auto_persist); return all actions."""
        out = self._step(inp)
        if self.auto_persist and self.unpersisted:
            out += self.persist()
        return out

    def _step(self, inp: Input) -> list[Action]:
        out = self.pipeline.step(inp)
        self.actions += out
        for action in out:
            if isinstance(action, Persist):
                self.log += action.txns
                self.unpersisted += action.txns
        return out

    def persist(self, count: int | None = None) -> list[Action]:
        """Make the oldest ``count`` (default: all) unpersisted txns durable."""
        if not self.unpersisted:
            return []
        n = len(self.unpersisted) if count is None else count
        upto = self.unpersisted[n - 1].zxid
        del self.unpersisted[:n]
        return self._step(Persisted(upto))

    # ---- conveniences -------------------------------------------------------

    def connect(self, timeout_ms: int = 10_000) -> tuple[int, bytes]:
        """Open a new session (persisting everything pending); return (id, password)."""
        conn = next(self._conn_ids)
        out = self._step(Connect(conn, 0, b"", timeout_ms, 0)) + self.persist()
        (c,) = [a for a in out if isinstance(a, Connected)]
        assert c.conn_id == conn
        self.conn_of[c.session_id] = conn
        return c.session_id, c.password

    def resume(self, session_id: int, password: bytes, last_zxid: int = 0) -> list[Action]:
        conn = next(self._conn_ids)
        out = self.step(Connect(conn, session_id, password, 10_000, last_zxid))
        if any(isinstance(a, Connected) for a in out):
            self.conn_of[session_id] = conn
        return out

    def send(
        self, session_id: int, op: Op, *, conn_id: int | None = None, xid: int | None = None
    ) -> int:
        """Send a request (a resend when ``xid`` is given); return its xid."""
        xid = next(self._xids) if xid is None else xid
        conn = conn_id if conn_id is not None else self.conn_of.get(session_id, 999)
        self.step(ClientRequest(conn, session_id, xid, op))
        return xid

    def call(self, session_id: int, op: Op) -> Reply:
        """Send a request, persist whatever it needs, and return its reply."""
        xid = self.send(session_id, op)
        self.persist()
        return self.reply(xid)

    def ok(self, session_id: int, op: Op):
        """call() that must succeed; returns the result."""
        reply = self.call(session_id, op)
        assert reply.error is None, reply.error
        return reply.result

    def tick(self, now_ms: int) -> list[Action]:
        return self.step(Tick(now_ms))

    def ping(self, session_id: int) -> list[Action]:
        return self.step(Ping(self.conn_of.get(session_id, 999), session_id))

    # ---- inspecting ---------------------------------------------------------

    def replies(self) -> list[Reply]:
        return [a for a in self.actions if isinstance(a, Reply)]

    def reply(self, xid: int) -> Reply:
        (r,) = [r for r in self.replies() if r.xid == xid]
        return r

    def of_type(self, kind: type, actions: list[Action] | None = None) -> list:
        return [a for a in (self.actions if actions is None else actions) if isinstance(a, kind)]

    @property
    def tree(self):
        return self.pipeline.tree
