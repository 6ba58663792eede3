"""Txn <-> protobuf ``TxnRecord``: the one encoding of a txn, on disk and between servers.

The core works with frozen dataclasses (``coordsvc.tree.txn``); this module is
the only place that knows how they look as ``coordsvc.v1.TxnRecord``. The log
stores these bytes (with a checksum added by the store), and the same message
will carry proposals between servers, so nothing here is LMDB-specific.

Decoding is strict: a record without a body, a MultiTxn step that is not a
znode operation, or bytes that do not parse raise ``CodecError``.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from coordsvc.tree.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
    TxnBody,
)
from coordsvc.tree.znode import NodeKind
from coordsvc.v1 import storage_pb2 as pb

__all__ = [
    "CodecError",
    "encode_txn",
    "decode_txn",
    "txn_to_proto",
    "txn_from_proto",
    "kind_to_proto",
    "kind_from_proto",
]

_KIND_TO_PROTO = {
    NodeKind.PERSISTENT: pb.NODE_KIND_PERSISTENT,
    NodeKind.EPHEMERAL: pb.NODE_KIND_EPHEMERAL,
    NodeKind.CONTAINER: pb.NODE_KIND_CONTAINER,
    NodeKind.TTL: pb.NODE_KIND_TTL,
}
_KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}

ZnodeOp = CreateTxn | DeleteTxn | SetDataTxn | CheckTxn


class CodecError(ValueError):
    """Bytes or a message that are not a valid txn record."""


def kind_to_proto(kind: NodeKind) -> int:
    """The ``coordsvc.v1.NodeKind`` number of ``kind``."""
    return _KIND_TO_PROTO[kind]


def kind_from_proto(value: int) -> NodeKind:
    """The NodeKind of a ``coordsvc.v1.NodeKind`` number; CodecError if unknown."""
    try:
        return _KIND_FROM_PROTO[value]
    except KeyError:
        raise CodecError(f"unknown node kind {value}") from None


# ---- encode -------------------------------------------------------------------


def _fill_op(msg: pb.MultiTxnOp | pb.TxnRecord, body: ZnodeOp) -> None:
    match body:
        case CreateTxn():
            msg.create.SetInParent()
            c = msg.create
            c.path = body.path
            c.data = body.data
            c.kind = _KIND_TO_PROTO[body.kind]
            c.ephemeral_owner = body.ephemeral_owner
            c.ttl_ms = body.ttl_ms
        case DeleteTxn():
            msg.delete.SetInParent()
            msg.delete.path = body.path
        case SetDataTxn():
            msg.set_data.SetInParent()
            msg.set_data.path = body.path
            msg.set_data.data = body.data
            msg.set_data.version = body.version
        case CheckTxn():
            msg.check.SetInParent()
            msg.check.path = body.path
            msg.check.version = body.version
        case _:
            raise CodecError(f"not a znode operation: {body!r}")


def txn_to_proto(txn: Txn) -> pb.TxnRecord:
    """The TxnRecord message for ``txn``; CodecError if a value does not fit."""
    rec = pb.TxnRecord()
    try:
        rec.zxid = txn.zxid
        rec.time_ms = txn.time_ms
        rec.session_id = txn.session_id
        rec.xid = txn.xid
        body = txn.body
        match body:
            case CreateTxn() | DeleteTxn() | SetDataTxn() | CheckTxn():
                _fill_op(rec, body)
            case MultiTxn(txns=ops):
                rec.multi.SetInParent()
                for op in ops:
                    _fill_op(rec.multi.ops.add(), op)
            case CreateSessionTxn():
                rec.create_session.SetInParent()
                rec.create_session.session_id = body.session_id
                rec.create_session.timeout_ms = body.timeout_ms
                rec.create_session.password = body.password
            case CloseSessionTxn():
                rec.close_session.SetInParent()
                rec.close_session.session_id = body.session_id
                rec.close_session.paths.extend(body.paths)
            case _:
                raise CodecError(f"unknown txn body {body!r}")
    except (ValueError, TypeError) as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"txn {txn.zxid:#x} cannot be encoded: {exc}") from exc
    return rec


def encode_txn(txn: Txn) -> bytes:
    """``txn`` as the bytes of a TxnRecord."""
    return txn_to_proto(txn).SerializeToString()


# ---- decode -------------------------------------------------------------------


def _op_from_proto(msg: pb.MultiTxnOp | pb.TxnRecord, which: str | None) -> ZnodeOp:
    match which:
        case "create":
            c = msg.create
            return CreateTxn(
                path=c.path,
                data=c.data,
                kind=kind_from_proto(c.kind),
                ephemeral_owner=c.ephemeral_owner,
                ttl_ms=c.ttl_ms,
            )
        case "delete":
            return DeleteTxn(path=msg.delete.path)
        case "set_data":
            s = msg.set_data
            return SetDataTxn(path=s.path, data=s.data, version=s.version)
        case "check":
            return CheckTxn(path=msg.check.path, version=msg.check.version)
    raise CodecError(f"not a znode operation: {which!r}")


def _body_from_proto(rec: pb.TxnRecord) -> TxnBody:
    which = rec.WhichOneof("body")
    match which:
        case "multi":
            return MultiTxn(tuple(_op_from_proto(op, op.WhichOneof("op")) for op in rec.multi.ops))
        case "create_session":
            s = rec.create_session
            return CreateSessionTxn(
                session_id=s.session_id, timeout_ms=s.timeout_ms, password=s.password
            )
        case "close_session":
            s = rec.close_session
            return CloseSessionTxn(session_id=s.session_id, paths=tuple(s.paths))
        case None:
            raise CodecError(f"txn record {rec.zxid:#x} has no body")
    return _op_from_proto(rec, which)


def txn_from_proto(rec: pb.TxnRecord) -> Txn:
    """The Txn a TxnRecord message describes; CodecError if it is incomplete."""
    return Txn(
        zxid=rec.zxid,
        time_ms=rec.time_ms,
        session_id=rec.session_id,
        xid=rec.xid,
        body=_body_from_proto(rec),
    )


def decode_txn(data: bytes) -> Txn:
    """Parse the bytes of a TxnRecord; CodecError if they are not one."""
    rec = pb.TxnRecord()
    try:
        rec.ParseFromString(data)
    except DecodeError as exc:
        raise CodecError(f"not a txn record: {exc}") from exc
    return txn_from_proto(rec)
