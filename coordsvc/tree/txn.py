"""Txns: the deterministic, already-decided changes that every replica applies.

The leader's prep step turns a client request into a txn; ``apply`` is a
pure function of (tree, txn). Everything a replica needs is in the txn: the
final path of a sequential node, the owner of an ephemeral, the new version,
the leader's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordsvc.tree.znode import NodeKind

__all__ = [
    "CreateTxn",
    "DeleteTxn",
    "SetDataTxn",
    "CheckTxn",
    "MultiTxn",
    "CreateSessionTxn",
    "CloseSessionTxn",
    "Txn",
    "TxnBody",
    "ZXID_COUNTER_BITS",
    "make_zxid",
    "zxid_epoch",
    "zxid_counter",
]

ZXID_COUNTER_BITS = 40
_COUNTER_MASK = (1 << ZXID_COUNTER_BITS) - 1


def make_zxid(epoch: int, counter: int) -> int:
    """A zxid: a 24-bit epoch over a 40-bit counter."""
    return (epoch << ZXID_COUNTER_BITS) | counter


def zxid_epoch(zxid: int) -> int:
    return zxid >> ZXID_COUNTER_BITS


def zxid_counter(zxid: int) -> int:
    return zxid & _COUNTER_MASK


@dataclass(frozen=True, slots=True)
class CreateTxn:
    path: str  # final path, sequence suffix included
    data: bytes
    kind: NodeKind = NodeKind.PERSISTENT
    ephemeral_owner: int = 0
    ttl_ms: int = 0


@dataclass(frozen=True, slots=True)
class DeleteTxn:
    path: str


@dataclass(frozen=True, slots=True)
class SetDataTxn:
    path: str
    data: bytes
    version: int  # the node's new version


@dataclass(frozen=True, slots=True)
class CheckTxn:
    path: str
    version: int


@dataclass(frozen=True, slots=True)
class MultiTxn:
    txns: tuple[CreateTxn | DeleteTxn | SetDataTxn | CheckTxn, ...]


@dataclass(frozen=True, slots=True)
class CreateSessionTxn:
    session_id: int
    timeout_ms: int
    password: bytes


@dataclass(frozen=True, slots=True)
class CloseSessionTxn:
    session_id: int
    paths: tuple[str, ...]  # the session's ephemerals, deepest first, decided at prep


TxnBody = (
    CreateTxn | DeleteTxn | SetDataTxn | CheckTxn | MultiTxn | CreateSessionTxn | CloseSessionTxn
)


@dataclass(frozen=True, slots=True)
class Txn:
    """A txn with its header: zxid, the leader's clock, and who asked for it."""

    zxid: int
    time_ms: int
    session_id: int
    xid: int
    body: TxnBody
