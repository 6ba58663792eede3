"""Kept write results <-> protobuf ``KeptResult``: how the retry table sits in a snapshot.

A committed write answers with one of four results (a multi with one per op);
this module is the only place that knows their stored form. Decoding is
strict: an answer of no known kind raises ``CodecError``.
"""

from __future__ import annotations

import dataclasses

from coordsvc.request.ops import CheckResult, CreateResult, DeleteResult, MultiResult, SetDataResult
from coordsvc.storage.codec import CodecError
from coordsvc.tree.retries import KeptResult
from coordsvc.tree.znode import Stat
from coordsvc.v1 import storage_pb2 as pb

__all__ = ["kept_to_proto", "kept_from_proto"]

_STAT_FIELDS = tuple(f.name for f in dataclasses.fields(Stat))


def _stat_to(stat: Stat, msg: pb.KeptStat) -> None:
    for name in _STAT_FIELDS:
        setattr(msg, name, getattr(stat, name))


def _stat_from(msg: pb.KeptStat) -> Stat:
    return Stat(**{name: getattr(msg, name) for name in _STAT_FIELDS})


def _answer_to(result, msg: pb.KeptAnswer) -> None:
    match result:
        case CreateResult(path=path, stat=stat):
            msg.create.path = path
            _stat_to(stat, msg.create.stat)
        case SetDataResult(stat=stat):
            _stat_to(stat, msg.set_data)
        case DeleteResult():
            msg.delete = True
        case CheckResult():
            msg.check = True
        case MultiResult(results=results, failed=False):
            msg.multi.SetInParent()
            for r in results:
                _answer_to(r, msg.multi.results.add())
        case _:
            raise CodecError(f"not the result of a committed write: {result!r}")


def _answer_from(msg: pb.KeptAnswer):
    match msg.WhichOneof("kind"):
        case "create":
            return CreateResult(msg.create.path, _stat_from(msg.create.stat))
        case "set_data":
            return SetDataResult(_stat_from(msg.set_data))
        case "delete":
            return DeleteResult()
        case "check":
            return CheckResult()
        case "multi":
            return MultiResult(tuple(_answer_from(r) for r in msg.multi.results))
        case other:
            raise CodecError(f"kept answer of unknown kind {other!r}")


def kept_to_proto(session_id: int, xid: int, kept: KeptResult) -> pb.KeptResult:
    msg = pb.KeptResult(session_id=session_id, xid=xid, zxid=kept.zxid, time_ms=kept.time_ms)
    _answer_to(kept.result, msg.answer)
    return msg


def kept_from_proto(msg: pb.KeptResult) -> tuple[int, int, KeptResult]:
    """(session id, xid, kept result) of a stored entry."""
    return msg.session_id, msg.xid, KeptResult(msg.zxid, msg.time_ms, _answer_from(msg.answer))
