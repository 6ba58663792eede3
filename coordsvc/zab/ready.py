"""What the ZAB core asks its driver to do: one ``Ready`` per batch, in a fixed order.

The driver loop (``tests/sim`` and ``server/runner.py`` both follow it)::

    while peer.has_ready():
        rd = peer.ready()
        # 1. storage work, in this order, queued behind earlier Readys' work
        #    (one FIFO writer): install_snapshot, truncate_after, persist, then
        #    epochs (or all of it in one atomic write). If install_snapshot is
        #    set, also replace the in-memory tree with its image now.
        # 2. send send_now (fill Snap.image from the tree as it is now).
        # 3. apply committed, in order, to the tree.
        # 4. peer.advance(rd)
        # later, once rd's storage work (and all before it) is durable:
        #    send send_after_persist, then step(Persisted(rd.persist_mark)).

Epochs go last: the current epoch vouches for the log (a node claims its
history is the epoch's by it in elections and discovery), so it must never
be durable while the txns it vouches for are not; a crash that tears the
batch must leave the old epoch with a partial log, not the new epoch with one.

``send_after_persist`` may be non-empty in a Ready without storage work of
its own; its messages still wait for all storage work handed out before.
A driver that syncs several Readys at once may report only the last mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordsvc.tree.txn import Txn
from coordsvc.zab.errors import PeerProtocolError
from coordsvc.zab.messages import Message, Phase, Role, Snap

__all__ = ["Ready", "PeerState", "Epochs", "ReadState"]


@dataclass(frozen=True, slots=True)
class PeerState:
    """Role, leader and phase; in a Ready only when it changed (etcd's SoftState)."""

    role: Role
    leader: int | None
    epoch: int  # the epoch followed or led; 0 until known
    phase: Phase

    @property
    def serving(self) -> bool:
        """True in broadcast: health SERVING, client requests accepted."""
        return self.phase is Phase.BROADCAST


@dataclass(frozen=True, slots=True)
class Epochs:
    """Both epochs, to persist together (accepted before AckEpoch, current before AckNewLeader)."""

    accepted: int
    current: int


@dataclass(frozen=True, slots=True)
class ReadState:
    """Serve read ``ctx`` once the tree has applied through ``zxid``."""

    ctx: Any
    zxid: int


Send = tuple[int, Message]


@dataclass(frozen=True, slots=True)
class Ready:
    persist_mark: int = 0  # 0: no storage work; else report Persisted(mark) when durable
    install_snapshot: Snap | None = None  # reset tree and log to the snapshot
    truncate_after: int | None = None  # drop log records after this zxid
    persist: tuple[Txn, ...] = ()  # append, in order, one sync for the batch
    epochs: Epochs | None = None  # persist both epochs, after the appends
    send_now: tuple[Send, ...] = ()
    send_after_persist: tuple[Send, ...] = ()
    committed: tuple[Txn, ...] = ()  # apply in this order (zxids strictly increase)
    state: PeerState | None = None
    read_states: tuple[ReadState, ...] = ()
    forwarded: tuple[tuple[int, Any], ...] = ()  # (learner id, payload): writes to prep
    touched: tuple[int, ...] = ()  # session ids heard of through learners
    protocol_errors: tuple[PeerProtocolError, ...] = field(default=())

    @property
    def must_sync(self) -> bool:
        """True when the storage work must be synced before send_after_persist goes out."""
        return self.persist_mark != 0

    def __bool__(self) -> bool:
        return bool(
            self.persist_mark
            or self.send_now
            or self.send_after_persist
            or self.committed
            or self.state
            or self.read_states
            or self.forwarded
            or self.touched
            or self.protocol_errors
        )
