"""Request validation: the checks that need no tree (paths, sizes, argument shapes).

Every server runs this on every request before anything else, so a bad
request is refused with a precise error and never reaches the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordsvc.errors import (
    BadArgumentsError,
    CoordError,
    DataTooLargeError,
    InvalidTTLError,
)
from coordsvc.request.ops import (
    LINEARIZABLE,
    LOCAL,
    AddWatch,
    Check,
    CloseSession,
    Create,
    Delete,
    Exists,
    GetChildren,
    GetData,
    Multi,
    Op,
    RemoveWatches,
    SetData,
    Sync,
)
from coordsvc.tree.paths import validate_path

__all__ = ["Limits", "validate", "invalid_op", "MAX_TTL_MS", "REMOVE_KINDS"]

MAX_TTL_MS = (1 << 40) - 1
REMOVE_KINDS = ("any", "data", "children", "persistent", "persistent_recursive")


@dataclass(frozen=True, slots=True)
class Limits:
    max_data_bytes: int = 1 << 20
    max_multi_ops: int = 1000


def _version(v: int, path: str) -> None:
    if not isinstance(v, int) or v < -1:
        raise BadArgumentsError(f"version must be -1 or a non-negative integer, got {v!r}", path)


def _data(data: bytes, limits: Limits, path: str) -> int:
    if not isinstance(data, bytes | bytearray):
        raise BadArgumentsError("data must be bytes", path)
    if len(data) > limits.max_data_bytes:
        raise DataTooLargeError(
            f"data of {len(data)} bytes exceeds the limit of {limits.max_data_bytes} bytes", path
        )
    return len(data)


def _consistency(c: str, path: str) -> None:
    if c not in (LINEARIZABLE, LOCAL):
        raise BadArgumentsError(f"consistency must be {LINEARIZABLE!r} or {LOCAL!r}", path)


def _create(op: Create, limits: Limits) -> int:
    validate_path(op.path, sequential=op.sequential)
    if op.path == "/" and not op.sequential:
        raise BadArgumentsError("the root node always exists", op.path)
    if op.ephemeral and op.container:
        raise BadArgumentsError("a node cannot be both ephemeral and a container", op.path)
    if op.ttl_ms < 0 or op.ttl_ms > MAX_TTL_MS:
        raise InvalidTTLError(f"ttl must be between 1 and {MAX_TTL_MS} ms", op.path)
    if op.ttl_ms and (op.ephemeral or op.container):
        raise InvalidTTLError("a TTL is only allowed on persistent nodes", op.path)
    return _data(op.data, limits, op.path)


def invalid_op(
    ops: tuple[Create | Delete | SetData | Check, ...], limits: Limits, *, has_session: bool
) -> tuple[int, CoordError] | None:
    """The first op of a multi that is malformed, with its error (answered per op)."""
    for i, sub in enumerate(ops):
        try:
            validate(sub, limits, has_session=has_session)
        except CoordError as err:
            return i, err
    return None


def validate(op: Op, limits: Limits, *, has_session: bool) -> None:
    """Raise the CoordError that ``op`` deserves, or return None if it is well formed.

    For a multi this checks only the whole (its size, its op kinds); each
    op's own problems are found by ``invalid_op`` and answered per op.
    """
    match op:
        case Create():
            _create(op, limits)
            if op.ephemeral and not has_session:
                raise BadArgumentsError("ephemeral nodes need a session", op.path)
        case Delete():
            validate_path(op.path)
            _version(op.version, op.path)
            if op.path == "/":
                raise BadArgumentsError("the root node cannot be deleted", op.path)
        case SetData():
            validate_path(op.path)
            _version(op.version, op.path)
            _data(op.data, limits, op.path)
        case Check():
            validate_path(op.path)
            _version(op.version, op.path)
        case Multi(ops=ops):
            if len(ops) > limits.max_multi_ops:
                raise BadArgumentsError(f"a multi may hold at most {limits.max_multi_ops} ops")
            total = 0
            for sub in ops:
                if not isinstance(sub, Create | Delete | SetData | Check):
                    raise BadArgumentsError(f"{type(sub).__name__} cannot be part of a multi")
                if isinstance(sub, Create | SetData) and isinstance(sub.data, bytes | bytearray):
                    total += len(sub.data)
            if total > limits.max_data_bytes:
                raise DataTooLargeError(
                    f"multi carries {total} bytes, over the limit of {limits.max_data_bytes}"
                )
        case Exists() | GetData():
            validate_path(op.path)
            _consistency(op.consistency, op.path)
            if op.watch and not has_session:
                raise BadArgumentsError("watches need a session", op.path)
        case GetChildren():
            validate_path(op.path)
            _consistency(op.consistency, op.path)
            if op.watch and not has_session:
                raise BadArgumentsError("watches need a session", op.path)
        case Sync():
            validate_path(op.path)
        case AddWatch():
            validate_path(op.path)
            if not has_session:
                raise BadArgumentsError("watches need a session", op.path)
        case RemoveWatches():
            validate_path(op.path)
            if op.kind not in REMOVE_KINDS:
                raise BadArgumentsError(f"unknown watch kind {op.kind!r}", op.path)
            if not has_session:
                raise BadArgumentsError("watches need a session", op.path)
        case CloseSession():
            if not has_session:
                raise BadArgumentsError("there is no session to close")
        case _:
            raise BadArgumentsError(f"unknown request {type(op).__name__}")
