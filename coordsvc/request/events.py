"""Inputs to the pure request pipeline and the actions it asks the driver to do.

Inputs are things that happened (a client connected, a request arrived, time
passed, txns became durable). Actions are imperatives for the I/O shell
(persist these txns, send this reply, notify this session, end that session).
The driver executes actions in the order given: a watch event is always
emitted before the reply that reflects the same change.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordsvc.errors import CoordError
from coordsvc.request.ops import Op, Result
from coordsvc.tree.txn import Txn

__all__ = [
    "Connect",
    "ClientRequest",
    "Ping",
    "Disconnected",
    "Tick",
    "Persisted",
    "PersistFailed",
    "Input",
    "Persist",
    "Connected",
    "ConnectFailed",
    "Reply",
    "Notify",
    "EndSession",
    "Action",
    "WatchEventValue",
    "Published",
]

# ---- inputs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    """A session stream opened: new session when session_id == 0, else resume."""

    conn_id: int
    session_id: int
    password: bytes
    timeout_ms: int
    last_zxid: int


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """One request. session_id 0 means a session-less (unary) request."""

    conn_id: int
    session_id: int
    xid: int
    op: Op


@dataclass(frozen=True, slots=True)
class Ping:
    conn_id: int
    session_id: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A connection went away; its session lives on until its timeout."""

    conn_id: int
    session_id: int


@dataclass(frozen=True, slots=True)
class Tick:
    now_ms: int


@dataclass(frozen=True, slots=True)
class Persisted:
    """Every txn up to and including ``zxid`` is durable."""

    zxid: int


@dataclass(frozen=True, slots=True)
class PersistFailed:
    """Txns handed out for persisting were not written (the store is full).

    Every txn not yet durable is abandoned: its request is answered with
    ``error`` and nothing of it is applied.
    """

    error: CoordError


Input = Connect | ClientRequest | Ping | Disconnected | Tick | Persisted | PersistFailed

# ---- actions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Persist:
    """Make these txns durable (the driver may group many into one sync)."""

    txns: tuple[Txn, ...]


@dataclass(frozen=True, slots=True)
class Connected:
    conn_id: int
    session_id: int
    password: bytes
    timeout_ms: int
    zxid: int
    last_xid: int = 0  # the highest write xid kept for the session: continue above it


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    conn_id: int
    error: CoordError


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to (conn_id, xid); exactly one of result/error is set."""

    conn_id: int
    session_id: int
    xid: int
    zxid: int
    result: Result | None = None
    error: CoordError | None = None


@dataclass(frozen=True, slots=True)
class WatchEventValue:
    type: str  # NODE_CREATED | NODE_DELETED | NODE_DATA_CHANGED | NODE_CHILDREN_CHANGED
    path: str
    zxid: int


@dataclass(frozen=True, slots=True)
class Notify:
    """Deliver a watch event to a session (on whatever connection it has)."""

    session_id: int
    event: WatchEventValue


@dataclass(frozen=True, slots=True)
class EndSession:
    """The session is over (closed or expired): finish its stream with ``error``."""

    session_id: int
    error: CoordError | None


@dataclass(frozen=True, slots=True)
class Published:
    """Every watch event a committed txn caused, for resumable watch streams."""

    zxid: int
    events: tuple[WatchEventValue, ...]


Action = Persist | Connected | ConnectFailed | Reply | Notify | EndSession | Published
