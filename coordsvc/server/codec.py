"""Protobuf <-> coordsvc value conversion: the only place wire messages meet the core.

Decoders turn wire requests into ``coordsvc.request.ops`` values and raise
``BadArgumentsError`` for anything malformed; encoders turn results, errors,
Stats and watch events back into wire messages. Every function is pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from coordsvc.errors import BadArgumentsError, CoordError, error_for_code
from coordsvc.request import ops
from coordsvc.request.events import WatchEventValue
from coordsvc.tree.znode import Stat
from coordsvc.v1 import coordination_pb2 as pb

__all__ = [
    "stat_to_pb",
    "stat_from_pb",
    "error_to_pb",
    "error_from_pb",
    "event_to_pb",
    "event_from_pb",
    "events_to_pb",
    "create_from_pb",
    "delete_from_pb",
    "set_data_from_pb",
    "check_from_pb",
    "exists_from_pb",
    "get_data_from_pb",
    "get_children_from_pb",
    "multi_from_pb",
    "sync_from_pb",
    "op_from_request",
    "request_field",
    "result_to_pb",
    "response_to_pb",
    "DONE_FIELDS",
]

_ERROR_NAMES = frozenset(pb.ErrorCode.DESCRIPTOR.values_by_name)
_STAT_FIELDS = tuple(f.name for f in pb.Stat.DESCRIPTOR.fields)

_CONSISTENCY = {pb.CONSISTENCY_LINEARIZABLE: ops.LINEARIZABLE, pb.CONSISTENCY_LOCAL: ops.LOCAL}
_WATCH_MODE = {pb.WATCH_MODE_PERSISTENT: False, pb.WATCH_MODE_PERSISTENT_RECURSIVE: True}
_WATCHER_TYPE = {
    pb.WATCHER_TYPE_ANY: "any",
    pb.WATCHER_TYPE_CHILDREN: "children",
    pb.WATCHER_TYPE_DATA: "data",
    pb.WATCHER_TYPE_PERSISTENT: "persistent",
    pb.WATCHER_TYPE_PERSISTENT_RECURSIVE: "persistent_recursive",
}

# Response oneof fields whose result value is the empty ``Done``.
DONE_FIELDS = frozenset({"add_watch", "remove_watches", "close_session"})


# ---- Stat, errors, events -------------------------------------------------


def stat_to_pb(stat: Stat) -> pb.Stat:
    """The wire Stat of a core Stat."""
    return pb.Stat(**{name: getattr(stat, name) for name in _STAT_FIELDS})


def stat_from_pb(msg: pb.Stat) -> Stat:
    """The core Stat of a wire Stat."""
    return Stat(**{name: getattr(msg, name) for name in _STAT_FIELDS})


def error_to_pb(err: CoordError) -> pb.Error:
    """The wire Error of a CoordError (unknown codes travel as SYSTEM_ERROR)."""
    code = err.code if err.code in _ERROR_NAMES else "SYSTEM_ERROR"
    return pb.Error(code=pb.ErrorCode.Value(code), message=err.message, path=err.path)


def error_from_pb(msg: pb.Error) -> CoordError:
    """The registered CoordError of a wire Error."""
    return error_for_code(pb.ErrorCode.Name(msg.code), msg.message, msg.path)


def event_to_pb(event: WatchEventValue) -> pb.WatchEvent:
    """The wire WatchEvent of a core watch event."""
    return pb.WatchEvent(type=pb.EventType.Value(event.type), path=event.path, zxid=event.zxid)


def event_from_pb(msg: pb.WatchEvent) -> WatchEventValue:
    """The core watch event of a wire WatchEvent."""
    return WatchEventValue(type=pb.EventType.Name(msg.type), path=msg.path, zxid=msg.zxid)


# ---- requests -> ops ------------------------------------------------------


def _version(msg) -> int:
    return msg.version if msg.HasField("version") else -1


def _lookup(table: dict, value: int, what: str):
    try:
        return table[value]
    except KeyError:
        raise BadArgumentsError(f"unknown {what} {value}") from None


def create_from_pb(msg: pb.CreateRequest) -> ops.Create:
    return ops.Create(
        path=msg.path,
        data=msg.data,
        ephemeral=msg.ephemeral,
        sequential=msg.sequential,
        container=msg.container,
        ttl_ms=msg.ttl_ms,
    )


def delete_from_pb(msg: pb.DeleteRequest) -> ops.Delete:
    return ops.Delete(path=msg.path, version=_version(msg))


def set_data_from_pb(msg: pb.SetDataRequest) -> ops.SetData:
    return ops.SetData(path=msg.path, data=msg.data, version=_version(msg))


def check_from_pb(msg: pb.CheckRequest) -> ops.Check:
    return ops.Check(path=msg.path, version=_version(msg))


def exists_from_pb(msg: pb.ExistsRequest) -> ops.Exists:
    consistency = _lookup(_CONSISTENCY, msg.consistency, "consistency")
    return ops.Exists(path=msg.path, watch=msg.watch, consistency=consistency)


def get_data_from_pb(msg: pb.GetDataRequest) -> ops.GetData:
    consistency = _lookup(_CONSISTENCY, msg.consistency, "consistency")
    return ops.GetData(path=msg.path, watch=msg.watch, consistency=consistency)


def get_children_from_pb(msg: pb.GetChildrenRequest) -> ops.GetChildren:
    consistency = _lookup(_CONSISTENCY, msg.consistency, "consistency")
    return ops.GetChildren(
        path=msg.path, watch=msg.watch, include_data=msg.include_data, consistency=consistency
    )


_MULTI_OPS = {
    "create": create_from_pb,
    "delete": delete_from_pb,
    "set_data": set_data_from_pb,
    "check": check_from_pb,
}


def multi_from_pb(msg: pb.MultiRequest) -> ops.Multi:
    """A Multi; an Op with nothing set is BAD_ARGUMENTS."""
    out: list[ops.MultiOp] = []
    for i, op in enumerate(msg.ops):
        which = op.WhichOneof("op")
        if which not in _MULTI_OPS:
            raise BadArgumentsError(f"multi op {i} has no operation set")
        out.append(_MULTI_OPS[which](getattr(op, which)))
    return ops.Multi(ops=tuple(out))


def sync_from_pb(msg: pb.SyncRequest) -> ops.Sync:
    return ops.Sync(path=msg.path)


def _add_watch_from_pb(msg: pb.AddWatchRequest) -> ops.AddWatch:
    return ops.AddWatch(path=msg.path, recursive=_lookup(_WATCH_MODE, msg.mode, "watch mode"))


def _remove_watches_from_pb(msg: pb.RemoveWatchesRequest) -> ops.RemoveWatches:
    return ops.RemoveWatches(path=msg.path, kind=_lookup(_WATCHER_TYPE, msg.type, "watcher type"))


def _close_session_from_pb(msg: pb.CloseSessionRequest) -> ops.CloseSession:
    return ops.CloseSession()


_REQUEST_OPS = {
    "create": create_from_pb,
    "delete": delete_from_pb,
    "exists": exists_from_pb,
    "get_data": get_data_from_pb,
    "set_data": set_data_from_pb,
    "get_children": get_children_from_pb,
    "multi": multi_from_pb,
    "sync": sync_from_pb,
    "add_watch": _add_watch_from_pb,
    "remove_watches": _remove_watches_from_pb,
    "close_session": _close_session_from_pb,
}


def request_field(msg: pb.Request) -> str | None:
    """The name of the op set in a Request (None when none is set)."""
    return msg.WhichOneof("op")


def op_from_request(msg: pb.Request) -> ops.Op:
    """The op carried by a session-stream Request; BAD_ARGUMENTS when none is set."""
    which = msg.WhichOneof("op")
    if which not in _REQUEST_OPS:
        raise BadArgumentsError(f"request {msg.xid} has no operation set")
    return _REQUEST_OPS[which](getattr(msg, which))


# ---- results -> responses -------------------------------------------------


def _create_to_pb(r: ops.CreateResult) -> pb.CreateResponse:
    return pb.CreateResponse(path=r.path, stat=stat_to_pb(r.stat))


def _exists_to_pb(r: ops.ExistsResult) -> pb.ExistsResponse:
    return pb.ExistsResponse() if r.stat is None else pb.ExistsResponse(stat=stat_to_pb(r.stat))


def _get_data_to_pb(r: ops.GetDataResult) -> pb.GetDataResponse:
    return pb.GetDataResponse(data=r.data, stat=stat_to_pb(r.stat))


def _set_data_to_pb(r: ops.SetDataResult) -> pb.SetDataResponse:
    return pb.SetDataResponse(stat=stat_to_pb(r.stat))


def _get_children_to_pb(r: ops.GetChildrenResult) -> pb.GetChildrenResponse:
    children = [pb.Child(name=c.name, data=c.data, stat=stat_to_pb(c.stat)) for c in r.children]
    return pb.GetChildrenResponse(names=list(r.names), stat=stat_to_pb(r.stat), children=children)


def _op_result_to_pb(r: object) -> pb.OpResult:
    if isinstance(r, CoordError):
        return pb.OpResult(error=error_to_pb(r))
    if isinstance(r, ops.CreateResult):
        return pb.OpResult(create=_create_to_pb(r))
    if isinstance(r, ops.DeleteResult):
        return pb.OpResult(delete=pb.DeleteResponse())
    if isinstance(r, ops.SetDataResult):
        return pb.OpResult(set_data=_set_data_to_pb(r))
    if isinstance(r, ops.CheckResult):
        return pb.OpResult(check=pb.CheckResponse())
    raise TypeError(f"not a multi op result: {r!r}")


def _multi_to_pb(r: ops.MultiResult) -> pb.MultiResponse:
    return pb.MultiResponse(results=[_op_result_to_pb(x) for x in r.results])


_RESULTS = {
    ops.CreateResult: ("create", _create_to_pb),
    ops.DeleteResult: ("delete", lambda r: pb.DeleteResponse()),
    ops.ExistsResult: ("exists", _exists_to_pb),
    ops.GetDataResult: ("get_data", _get_data_to_pb),
    ops.SetDataResult: ("set_data", _set_data_to_pb),
    ops.GetChildrenResult: ("get_children", _get_children_to_pb),
    ops.MultiResult: ("multi", _multi_to_pb),
    ops.SyncResult: ("sync", lambda r: pb.SyncResponse(path=r.path)),
}

_DONE_MESSAGES = {
    "add_watch": pb.AddWatchResponse,
    "remove_watches": pb.RemoveWatchesResponse,
    "close_session": pb.CloseSessionResponse,
}


def result_to_pb(result: ops.Result, field: str | None = None):
    """``(response_field, message)`` of a result.

    ``Done`` carries no type of its own, so its field (add_watch,
    remove_watches or close_session) must be given.
    """
    if isinstance(result, ops.Done):
        if field not in _DONE_MESSAGES:
            raise TypeError(f"Done needs one of {sorted(_DONE_MESSAGES)}, got {field!r}")
        return field, _DONE_MESSAGES[field]()
    try:
        name, encode = _RESULTS[type(result)]
    except KeyError:
        raise TypeError(f"not a result: {result!r}") from None
    return name, encode(result)


def response_to_pb(
    xid: int,
    zxid: int,
    result: ops.Result | None = None,
    error: CoordError | None = None,
    field: str | None = None,
) -> pb.Response:
    """The session-stream Response for one reply (``field`` as for result_to_pb)."""
    if error is not None:
        return pb.Response(xid=xid, zxid=zxid, error=error_to_pb(error))
    if result is None:
        raise TypeError("a reply needs a result or an error")
    name, msg = result_to_pb(result, field)
    return pb.Response(xid=xid, zxid=zxid, **{name: msg})


def events_to_pb(events: Iterable[WatchEventValue]) -> list[pb.WatchEvent]:
    """Wire WatchEvents of core events, in order."""
    return [event_to_pb(e) for e in events]
