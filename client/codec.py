"""Protobuf <-> SDK values for the session stream, and nothing else.

Requests are built as ``(op_name, message)`` pairs, the name being the
``Request.op`` oneof field; replies are turned into Stat, bytes, names or a
registry exception. Keeping this apart lets the session code stay ignorant of
individual ops and lets the op code stay ignorant of protobuf.
"""

from __future__ import annotations

from typing import Any

from coordsvc.client.errors import CoordError, RolledBackError, RuntimeInconsistency, error_for_code

from coordsvc.tree.znode import Stat
from coordsvc.v1 import coordination_pb2 as pb

__all__ = [
    "OpMessage",
    "stat_from_pb",
    "error_from_pb",
    "consistency_pb",
    "create",
    "delete",
    "set_data",
    "check",
    "multi_op",
    "op_result",
]

#: one request op: the name of its ``Request.op`` field and its message
OpMessage = tuple[str, Any]

_CONSISTENCY = {
    "linearizable": pb.CONSISTENCY_LINEARIZABLE,
    "local": pb.CONSISTENCY_LOCAL,
}


def consistency_pb(consistency: str) -> int:
    """The wire value of a read consistency ("linearizable" or "local")."""
    try:
        return _CONSISTENCY[consistency]
    except KeyError:
        raise ValueError(
            f"consistency must be 'linearizable' or 'local', not {consistency!r}"
        ) from None


def stat_from_pb(msg: pb.Stat) -> Stat:
    """A frozen Stat from its wire form."""
    return Stat(
        czxid=msg.czxid,
        mzxid=msg.mzxid,
        pzxid=msg.pzxid,
        ctime=msg.ctime,
        mtime=msg.mtime,
        version=msg.version,
        cversion=msg.cversion,
        aversion=msg.aversion,
        ephemeral_owner=msg.ephemeral_owner,
        data_length=msg.data_length,
        num_children=msg.num_children,
    )


def error_from_pb(err: pb.Error) -> CoordError:
    """The registry exception for a wire Error (SystemZookeeperError if unknown)."""
    code = pb.ErrorCode.Name(err.code) if err.code in pb.ErrorCode.values() else "SYSTEM_ERROR"
    return error_for_code(code, err.message, err.path)


def _version(version: int) -> dict[str, int]:
    return {} if version == -1 else {"version": version}


def create(
    path: str,
    value: bytes,
    *,
    ephemeral: bool,
    sequence: bool,
    container: bool,
    ttl: int | None,
) -> OpMessage:
    """A create op; ``ttl`` is in milliseconds (None: no TTL)."""
    return "create", pb.CreateRequest(
        path=path,
        data=value,
        ephemeral=ephemeral,
        sequential=sequence,
        container=container,
        ttl_ms=ttl or 0,
    )


def delete(path: str, version: int) -> OpMessage:
    """A delete op; version -1 means any version."""
    return "delete", pb.DeleteRequest(path=path, **_version(version))


def set_data(path: str, value: bytes, version: int) -> OpMessage:
    """A set_data op; version -1 means any version."""
    return "set_data", pb.SetDataRequest(path=path, data=value, **_version(version))


def check(path: str, version: int) -> OpMessage:
    """A check op (multi only); version -1 only checks that the node exists."""
    return "check", pb.CheckRequest(path=path, **_version(version))


def multi_op(op: OpMessage) -> pb.Op:
    """Wrap one create/delete/set_data/check op for a MultiRequest."""
    name, msg = op
    return pb.Op(**{name: msg})


def op_result(res: pb.OpResult) -> Any:
    """One transaction result, kazoo style: path, True, Stat, or an exception.

    A RUNTIME_INCONSISTENCY result (an op undone because another failed)
    becomes RolledBackError so callers can tell it from the real cause.
    """
    kind = res.WhichOneof("result")
    if kind == "create":
        return res.create.path
    if kind == "set_data":
        return stat_from_pb(res.set_data.stat)
    if kind in ("delete", "check"):
        return True
    if kind == "error":
        exc = error_from_pb(res.error)
        if isinstance(exc, RuntimeInconsistency):
            return RolledBackError(exc.message, exc.path)
        return exc
    raise error_for_code("SYSTEM_ERROR", f"empty transaction result {res!r}")
