"""From a ZooKeeper request to the coordsvc request it means.

``decode(op, body)`` returns a ``Plan``: the ``pb.Request`` to run (or an
error to answer with at once) plus what the reply encoder needs to know about
the original call. Reads are ``CONSISTENCY_LOCAL``: ZooKeeper's own semantics
(a client that wants the latest calls ``sync`` first). Nothing here holds
state; the front end numbers the requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.zk.jute import JuteError, Reader
from coordsvc.zk.protocol import PERM_ALL, Err, Op

__all__ = ["Plan", "SetWatches", "decode", "open_acl"]

LOCAL = pb.CONSISTENCY_LOCAL

_CREATES = {Op.CREATE, Op.CREATE2, Op.CREATE_CONTAINER, Op.CREATE_TTL}
_UNSUPPORTED = {
    Op.RECONFIG,
    Op.CHECK_WATCHES,
    Op.DELETE_CONTAINER,
    Op.MULTI_READ,
    Op.SASL,
    Op.GET_EPHEMERALS,
    Op.GET_ALL_CHILDREN_NUMBER,
    Op.WHO_AM_I,
}
# ZooKeeper's WatcherType numbers -> coordsvc's
_WATCHER_TYPES = {
    1: pb.WATCHER_TYPE_CHILDREN,
    2: pb.WATCHER_TYPE_DATA,
    3: pb.WATCHER_TYPE_ANY,
    4: pb.WATCHER_TYPE_PERSISTENT,
    5: pb.WATCHER_TYPE_PERSISTENT_RECURSIVE,
}
_ADD_WATCH_MODES = {0: pb.WATCH_MODE_PERSISTENT, 1: pb.WATCH_MODE_PERSISTENT_RECURSIVE}


@dataclass(frozen=True, slots=True)
class Plan:
    """One ZooKeeper call: what to run and how to answer it."""

    op: int  # ZooKeeper's op code: chooses the reply record
    request: pb.Request | None = None  # None: answered with ``refuse`` at once
    refuse: Err = Err.OK
    why: str = ""  # for the log, when refused
    version: int = -1  # setACL's expected aversion
    sub_ops: tuple[int, ...] = ()  # a multi's op codes, for its result records


@dataclass(frozen=True, slots=True)
class SetWatches:
    """A reconnecting client's watches, to be set again (or fired if missed)."""

    relative_zxid: int
    data: list[str] = field(default_factory=list)
    exist: list[str] = field(default_factory=list)
    child: list[str] = field(default_factory=list)
    persistent: list[str] = field(default_factory=list)
    persistent_recursive: list[str] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, err: Err, why: str) -> None:
        super().__init__(why)
        self.err = err


def open_acl(acl: list[tuple[int, str, str]]) -> bool:
    """True when ``acl`` grants everything to everyone (coordsvc enforces no ACLs yet)."""
    return any(
        perms & PERM_ALL == PERM_ALL and (s, i) == ("world", "anyone") for perms, s, i in acl
    )


def _acl(r: Reader) -> list[tuple[int, str, str]]:
    return [(r.int(), r.string(), r.string()) for _ in range(r.count())]


def _require_open(acl: list[tuple[int, str, str]]) -> None:
    if not open_acl(acl):
        raise _Refused(
            Err.INVALID_ACL, "only world:anyone with every permission is accepted (no ACLs yet)"
        )


def _create(op: int, r: Reader) -> pb.CreateRequest:
    path, data, acl, flags = r.string(), r.buffer() or b"", _acl(r), r.int()
    ttl = r.long() if op == Op.CREATE_TTL else 0
    _require_open(acl)
    if flags not in range(7):
        raise _Refused(Err.BAD_ARGUMENTS, f"unknown create mode {flags}")
    if (flags in (5, 6)) != (op == Op.CREATE_TTL):
        raise _Refused(Err.BAD_ARGUMENTS, "a TTL mode goes with createTTL, and only it")
    if op == Op.CREATE_CONTAINER and flags != 4:
        raise _Refused(Err.BAD_ARGUMENTS, "createContainer needs the CONTAINER mode")
    return pb.CreateRequest(
        path=path,
        data=data,
        ephemeral=flags in (1, 3),
        sequential=flags in (2, 3, 6),
        container=flags == 4,
        ttl_ms=ttl if flags in (5, 6) else 0,
    )


def _multi(r: Reader) -> tuple[pb.MultiRequest, tuple[int, ...]]:
    ops: list[pb.Op] = []
    kinds: list[int] = []
    while True:
        kind, done, _err = r.int(), r.bool(), r.int()
        if done:
            return pb.MultiRequest(ops=ops), tuple(kinds)
        if kind in _CREATES:
            ops.append(pb.Op(create=_create(kind, r)))
        elif kind == Op.DELETE:
            ops.append(pb.Op(delete=pb.DeleteRequest(path=r.string(), version=r.int())))
        elif kind == Op.SET_DATA:
            path, data, version = r.string(), r.buffer() or b"", r.int()
            ops.append(pb.Op(set_data=pb.SetDataRequest(path=path, data=data, version=version)))
        elif kind == Op.CHECK:
            ops.append(pb.Op(check=pb.CheckRequest(path=r.string(), version=r.int())))
        else:
            raise _Refused(Err.BAD_ARGUMENTS, f"op {kind} cannot be part of a multi")
        kinds.append(kind)


def _decode(op: int, r: Reader) -> Plan | SetWatches:
    if op in _CREATES:
        return Plan(op, pb.Request(create=_create(op, r)))
    match op:
        case Op.DELETE:
            return Plan(op, pb.Request(delete=pb.DeleteRequest(path=r.string(), version=r.int())))
        case Op.EXISTS:
            path, watch = r.string(), r.bool()
            req = pb.ExistsRequest(path=path, watch=watch, consistency=LOCAL)
            return Plan(op, pb.Request(exists=req))
        case Op.GET_DATA:
            path, watch = r.string(), r.bool()
            req = pb.GetDataRequest(path=path, watch=watch, consistency=LOCAL)
            return Plan(op, pb.Request(get_data=req))
        case Op.SET_DATA:
            path, data, version = r.string(), r.buffer() or b"", r.int()
            req = pb.SetDataRequest(path=path, data=data, version=version)
            return Plan(op, pb.Request(set_data=req))
        case Op.GET_CHILDREN | Op.GET_CHILDREN2:
            path, watch = r.string(), r.bool()
            req = pb.GetChildrenRequest(path=path, watch=watch, consistency=LOCAL)
            return Plan(op, pb.Request(get_children=req))
        case Op.SYNC:
            return Plan(op, pb.Request(sync=pb.SyncRequest(path=r.string())))
        case Op.GET_ACL:
            req = pb.ExistsRequest(path=r.string(), consistency=LOCAL)
            return Plan(op, pb.Request(exists=req))
        case Op.SET_ACL:
            path, acl, version = r.string(), _acl(r), r.int()
            _require_open(acl)
            req = pb.ExistsRequest(path=path, consistency=LOCAL)
            return Plan(op, pb.Request(exists=req), version=version)
        case Op.CHECK:
            check = pb.CheckRequest(path=r.string(), version=r.int())
            multi = pb.MultiRequest(ops=[pb.Op(check=check)])
            return Plan(op, pb.Request(multi=multi), sub_ops=(Op.CHECK,))
        case Op.MULTI:
            multi, kinds = _multi(r)
            return Plan(op, pb.Request(multi=multi), sub_ops=kinds)
        case Op.ADD_WATCH:
            path, mode = r.string(), r.int()
            if mode not in _ADD_WATCH_MODES:
                raise _Refused(Err.BAD_ARGUMENTS, f"unknown addWatch mode {mode}")
            req = pb.AddWatchRequest(path=path, mode=_ADD_WATCH_MODES[mode])
            return Plan(op, pb.Request(add_watch=req))
        case Op.REMOVE_WATCHES:
            path, kind = r.string(), r.int()
            if kind not in _WATCHER_TYPES:
                raise _Refused(Err.BAD_ARGUMENTS, f"unknown watcher type {kind}")
            req = pb.RemoveWatchesRequest(path=path, type=_WATCHER_TYPES[kind])
            return Plan(op, pb.Request(remove_watches=req))
        case Op.CLOSE_SESSION:
            return Plan(op, pb.Request(close_session=pb.CloseSessionRequest()))
        case Op.SET_WATCHES | Op.SET_WATCHES2:
            rel, data, exist, child = r.long(), r.strings(), r.strings(), r.strings()
            more = (r.strings(), r.strings()) if op == Op.SET_WATCHES2 else ([], [])
            return SetWatches(rel, data, exist, child, *more)
    if op in _UNSUPPORTED:
        raise _Refused(Err.UNIMPLEMENTED, f"op {Op(op).name} is not supported")
    raise _Refused(Err.UNIMPLEMENTED, f"unknown op {op}")


def decode(op: int, body: bytes) -> Plan | SetWatches:
    """The Plan (or SetWatches) of a request body; malformed input is refused, never run."""
    try:
        return _decode(op, Reader(body))
    except _Refused as refused:
        return Plan(op, refuse=refused.err, why=str(refused))
    except JuteError as exc:
        return Plan(op, refuse=Err.MARSHALLING_ERROR, why=str(exc))
