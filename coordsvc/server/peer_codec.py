"""Peer wire codec: ZAB messages and forwarded requests <-> bytes, without pickle.

A small reflective encoder over a whitelist: only the dataclasses named in
``_TYPES`` (ZAB messages, request ops and results, the ensemble's internal
op and forward reply) and a few leaf types are accepted, in either
direction, so a peer can never make this process build an arbitrary object.
Txns travel in the storage codec's bytes, a tree image in the snapshot
format, errors as (code, message, path). The outer form is JSON, except for
the messages that make up nearly all the traffic (Proposal, Inform, Ack,
Commit, Ping, PingAck, ReadIndex, ReadIndexReply): one tag byte, the fixed
fields as big-endian u64, then a txn record or a packed i64 tuple (``_FRAMES``).
A JSON text never starts with one of those tag bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import io
import json
import struct
from typing import Any

from coordsvc.errors import CoordError, error_for_code
from coordsvc.request import ops
from coordsvc.request.ensemble import CreateSessionOp, ForwardReply
from coordsvc.storage.codec import decode_txn, encode_txn
from coordsvc.storage.snapshot import decode_snapshot, dump_snapshot
from coordsvc.tree.datatree import TreeImage
from coordsvc.tree.txn import Txn
from coordsvc.tree.znode import Stat
from coordsvc.zab import messages as zm

__all__ = ["encode", "decode", "PeerCodecError", "WIRE_TYPES"]


class PeerCodecError(ValueError):
    """Bytes from a peer that do not decode to a whitelisted value."""


_MESSAGE_TYPES = (
    zm.Vote,
    zm.FollowerInfo,
    zm.ObserverInfo,
    zm.NewEpoch,
    zm.AckEpoch,
    zm.Diff,
    zm.Trunc,
    zm.Snap,
    zm.NewLeader,
    zm.AckNewLeader,
    zm.UpToDate,
    zm.Proposal,
    zm.Ack,
    zm.Commit,
    zm.Inform,
    zm.Ping,
    zm.PingAck,
    zm.Forward,
    zm.ReadIndex,
    zm.ReadIndexReply,
)
_OTHER_TYPES = (
    ops.Create,
    ops.Delete,
    ops.SetData,
    ops.Check,
    ops.Multi,
    ops.CloseSession,
    ops.CreateResult,
    ops.DeleteResult,
    ops.SetDataResult,
    ops.CheckResult,
    ops.MultiResult,
    ops.Done,
    Stat,
    CreateSessionOp,
    ForwardReply,
)
WIRE_TYPES = _MESSAGE_TYPES + _OTHER_TYPES
_BY_NAME = {t.__name__: t for t in WIRE_TYPES}
_ENUMS = {"Role": zm.Role}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _enc(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b": _b64(bytes(v))}
    if isinstance(v, enum.Enum):
        name = type(v).__name__
        if _ENUMS.get(name) is not type(v):
            raise TypeError(f"enum {name} is not on the peer wire")
        return {"e": [name, v.value]}
    if isinstance(v, (tuple, list)):
        return {"t": [_enc(x) for x in v]}
    if isinstance(v, Txn):
        return {"x": _b64(encode_txn(v))}
    if isinstance(v, TreeImage):
        buf = io.BytesIO()
        dump_snapshot(v, buf, created_ms=0)
        return {"i": _b64(buf.getvalue())}
    if isinstance(v, CoordError):
        return {"err": [v.code, v.message, v.path]}
    cls = type(v)
    if _BY_NAME.get(cls.__name__) is cls:
        fields = {f.name: _enc(getattr(v, f.name)) for f in dataclasses.fields(cls)}
        return {"d": cls.__name__, "f": fields}
    raise TypeError(f"{cls.__name__} is not on the peer wire")


def _dec(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if not isinstance(v, dict) or len(v) not in (1, 2):
        raise PeerCodecError(f"bad value {str(v)[:80]!r}")
    if "b" in v:
        return base64.b64decode(v["b"], validate=True)
    if "t" in v:
        return tuple(_dec(x) for x in v["t"])
    if "e" in v:
        name, value = v["e"]
        if name not in _ENUMS:
            raise PeerCodecError(f"unknown enum {name!r}")
        return _ENUMS[name](value)
    if "x" in v:
        return decode_txn(base64.b64decode(v["x"], validate=True))
    if "i" in v:
        return decode_snapshot(base64.b64decode(v["i"], validate=True), source="peer SNAP")
    if "err" in v:
        code, message, path = v["err"]
        return error_for_code(str(code), str(message), str(path))
    if "d" in v:
        cls = _BY_NAME.get(v["d"])
        if cls is None:
            raise PeerCodecError(f"unknown type {v['d']!r}")
        raw = v.get("f")
        if not isinstance(raw, dict):
            raise PeerCodecError(f"{cls.__name__}: bad fields")
        names = {f.name for f in dataclasses.fields(cls)}
        if not set(raw) <= names:
            raise PeerCodecError(f"{cls.__name__}: unknown fields {sorted(set(raw) - names)}")
        return cls(**{k: _dec(x) for k, x in raw.items()})
    raise PeerCodecError(f"bad value {str(v)[:80]!r}")


# Binary frames: tag byte, the class's fixed fields as big-endian u64, then its
# tail: a txn record (Proposal, Inform) or a packed i64 tuple (touches, ctxs).
_FRAMES: dict[type, tuple[int, tuple[str, ...], str | None]] = {
    zm.Proposal: (1, ("epoch", "prev_zxid"), "txn"),
    zm.Inform: (2, ("epoch", "prev_zxid"), "txn"),
    zm.Ack: (3, ("epoch", "zxid"), None),
    zm.Commit: (4, ("epoch", "zxid"), None),
    zm.Ping: (5, ("epoch", "committed", "last_zxid", "round", "attempt"), None),
    zm.PingAck: (6, ("epoch", "round"), "touches"),
    zm.ReadIndex: (7, ("epoch",), "ctxs"),
    zm.ReadIndexReply: (8, ("epoch", "zxid"), "ctxs"),
}
_BY_TAG: dict[int, type] = {tag: cls for cls, (tag, _, _) in _FRAMES.items()}
_HEADS = {cls: struct.Struct(">B" + "Q" * len(fixed)) for cls, (_, fixed, _) in _FRAMES.items()}
_U64_MAX = (1 << 64) - 1
_I64 = (-(1 << 63), (1 << 63) - 1)


def _framed(value: Any, cls: type) -> bytes | None:
    """The binary frame of ``value``, or None when a field does not fit one (then JSON)."""
    tag, fixed, tail = _FRAMES[cls]
    ints = [getattr(value, name) for name in fixed]
    if not all(type(i) is int and 0 <= i <= _U64_MAX for i in ints):
        return None
    head = _HEADS[cls].pack(tag, *ints)
    if tail is None:
        return head
    if tail == "txn":
        return head + encode_txn(value.txn)
    items = getattr(value, tail)
    if not all(type(i) is int and _I64[0] <= i <= _I64[1] for i in items):
        return None
    return head + struct.pack(f">{len(items)}q", *items)


def encode(value: Any) -> bytes:
    """Bytes of a ZAB message or ForwardReply (TypeError for anything off the whitelist)."""
    cls = type(value)
    if cls in _FRAMES:
        framed = _framed(value, cls)
        if framed is not None:
            return framed
    return json.dumps(_enc(value), separators=(",", ":")).encode()


def _decode_framed(data: bytes) -> Any:
    cls = _BY_TAG[data[0]]
    _, fixed, tail = _FRAMES[cls]
    head = _HEADS[cls]
    if len(data) < head.size:
        raise PeerCodecError(f"{cls.__name__}: truncated ({len(data)} bytes)")
    fields = dict(zip(fixed, head.unpack_from(data)[1:], strict=True))
    rest = data[head.size :]
    if tail is None:
        if rest:
            raise PeerCodecError(f"{cls.__name__}: {len(rest)} trailing bytes")
    elif tail == "txn":
        fields[tail] = decode_txn(rest)
    else:
        if len(rest) % 8:
            raise PeerCodecError(f"{cls.__name__}: {len(rest)} bytes is not a list of i64")
        fields[tail] = struct.unpack(f">{len(rest) // 8}q", rest)
    return cls(**fields)


def decode(data: bytes) -> Any:
    """The value ``encode`` made; PeerCodecError for anything else."""
    try:
        if data and data[0] in _BY_TAG:
            return _decode_framed(data)
        return _dec(json.loads(data))
    except PeerCodecError:
        raise
    except Exception as exc:  # malformed JSON, base64, txn or snapshot bytes
        raise PeerCodecError(f"undecodable peer message: {exc}") from exc
