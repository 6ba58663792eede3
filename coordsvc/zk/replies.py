"""From a coordsvc answer back to the ZooKeeper reply record a client expects.

Every function returns one whole frame (4-byte length, then the record), so
the front end only writes bytes. Numbers a jute field cannot hold (versions
are 32-bit there) wrap as they do in ZooKeeper.
"""

from __future__ import annotations

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.zk.jute import Writer, wrap_int32
from coordsvc.zk.protocol import (
    EVENT_TYPES,
    KEEPER_STATE_SYNC_CONNECTED,
    PASSWORD_BYTES,
    PERM_ALL,
    Err,
    Op,
    Xid,
    err_of,
)
from coordsvc.zk.requests import Plan

__all__ = ["frame", "connected", "expired", "header_only", "notification", "reply"]

_CREATE_WITH_STAT = {Op.CREATE2, Op.CREATE_CONTAINER, Op.CREATE_TTL}


def frame(w: Writer) -> bytes:
    body = w.bytes()
    return len(body).to_bytes(4, "big") + body


def connected(timeout_ms: int, session_id: int, password: bytes) -> bytes:
    """The ConnectResponse of an established session."""
    w = Writer().int(0).int(min(timeout_ms, 2**31 - 1)).long(session_id)
    return frame(w.buffer(password).bool(False))


def expired() -> bytes:
    """The ConnectResponse a ZooKeeper client reads as 'your session has expired'."""
    return frame(Writer().int(0).int(0).long(0).buffer(bytes(PASSWORD_BYTES)).bool(False))


def header_only(xid: int, zxid: int, err: int = Err.OK) -> bytes:
    return frame(Writer().int(xid).long(zxid).int(err))


def notification(event: pb.WatchEvent) -> bytes:
    w = Writer().int(Xid.NOTIFICATION).long(event.zxid).int(Err.OK)
    w.int(EVENT_TYPES[event.type]).int(KEEPER_STATE_SYNC_CONNECTED).string(event.path)
    return frame(w)


def _stat(w: Writer, s: pb.Stat) -> Writer:
    w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime)
    w.int(wrap_int32(s.version)).int(wrap_int32(s.cversion)).int(wrap_int32(s.aversion))
    w.long(s.ephemeral_owner).int(wrap_int32(s.data_length)).int(wrap_int32(s.num_children))
    return w.long(s.pzxid)


def _multi(w: Writer, kinds: tuple[int, ...], results) -> None:
    failed = next(
        (
            i
            for i, r in enumerate(results)
            if r.HasField("error") and r.error.code != pb.RUNTIME_INCONSISTENCY
        ),
        None,
    )
    for i, (kind, r) in enumerate(zip(kinds, results, strict=True)):
        if failed is not None:  # ZooKeeper: OK before the failing op, its error, then rolled back
            if i < failed:
                err = Err.OK
            elif i == failed:
                err = err_of(r.error.code)
            else:
                err = Err.RUNTIME_INCONSISTENCY
            w.int(Op.ERROR).bool(False).int(err).int(err)
            continue
        w.int(kind).bool(False).int(Err.OK)
        if kind == Op.CREATE:
            w.string(r.create.path)
        elif kind in _CREATE_WITH_STAT:
            _stat(w.string(r.create.path), r.create.stat)
        elif kind == Op.SET_DATA:
            _stat(w, r.set_data.stat)
    w.int(-1).bool(True).int(-1)


def _failed_check(resp: pb.Response) -> Err:
    (r,) = resp.multi.results
    return err_of(r.error.code) if r.HasField("error") else Err.OK


def _body(plan: Plan, resp: pb.Response, w: Writer) -> Err:
    """Write the success record of ``plan``'s answer; return the error when there is none."""
    op = plan.op
    if op == Op.CREATE:
        w.string(resp.create.path)
    elif op in _CREATE_WITH_STAT:
        _stat(w.string(resp.create.path), resp.create.stat)
    elif op in (Op.EXISTS, Op.GET_ACL, Op.SET_ACL):
        if not resp.exists.HasField("stat"):
            return Err.NO_NODE
        stat = resp.exists.stat
        if op == Op.SET_ACL:
            if plan.version not in (-1, stat.aversion):
                return Err.BAD_VERSION
        elif op == Op.GET_ACL:
            w.int(1).int(PERM_ALL).string("world").string("anyone")
        _stat(w, stat)
    elif op == Op.GET_DATA:
        _stat(w.buffer(resp.get_data.data), resp.get_data.stat)
    elif op == Op.SET_DATA:
        _stat(w, resp.set_data.stat)
    elif op == Op.GET_CHILDREN:
        w.strings(list(resp.get_children.names))
    elif op == Op.GET_CHILDREN2:
        _stat(w.strings(list(resp.get_children.names)), resp.get_children.stat)
    elif op == Op.SYNC:
        w.string(resp.sync.path)
    elif op == Op.CHECK:
        return _failed_check(resp)
    elif op == Op.MULTI:
        _multi(w, plan.sub_ops, resp.multi.results)
    return Err.OK  # delete, addWatch, removeWatches, closeSession: no record


def reply(xid: int, plan: Plan, resp: pb.Response, override: Err = Err.OK) -> bytes:
    """The frame answering ``plan`` (sent as ``xid``) with ``resp``."""
    if override != Err.OK:
        return header_only(xid, resp.zxid, override)
    if resp.HasField("error"):
        return header_only(xid, resp.zxid, err_of(resp.error.code))
    body = Writer()
    err = _body(plan, resp, body)
    if err != Err.OK:
        return header_only(xid, resp.zxid, err)
    return frame(Writer().int(xid).long(resp.zxid).int(Err.OK).raw(body.bytes()))
