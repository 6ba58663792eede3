"""Client requests and their results, as plain values (no protobuf here).

The server codec maps the wire messages onto these; the pure pipeline
validates them, turns writes into txns and answers with the result values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordsvc.errors import CoordError
from coordsvc.tree.znode import Stat

__all__ = [
    "LINEARIZABLE",
    "LOCAL",
    "Create",
    "Delete",
    "SetData",
    "Check",
    "Multi",
    "Exists",
    "GetData",
    "GetChildren",
    "Sync",
    "AddWatch",
    "RemoveWatches",
    "CloseSession",
    "Op",
    "WriteOp",
    "ReadOp",
    "MultiOp",
    "CreateResult",
    "DeleteResult",
    "SetDataResult",
    "CheckResult",
    "ExistsResult",
    "GetDataResult",
    "Child",
    "GetChildrenResult",
    "MultiResult",
    "SyncResult",
    "Done",
    "Result",
    "is_write",
]

LINEARIZABLE = "linearizable"
LOCAL = "local"


# ---- writes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Create:
    path: str
    data: bytes = b""
    ephemeral: bool = False
    sequential: bool = False
    container: bool = False
    ttl_ms: int = 0


@dataclass(frozen=True, slots=True)
class Delete:
    path: str
    version: int = -1


@dataclass(frozen=True, slots=True)
class SetData:
    path: str
    data: bytes
    version: int = -1


@dataclass(frozen=True, slots=True)
class Check:
    path: str
    version: int = -1


MultiOp = Create | Delete | SetData | Check


@dataclass(frozen=True, slots=True)
class Multi:
    ops: tuple[MultiOp, ...]


@dataclass(frozen=True, slots=True)
class CloseSession:
    pass


# ---- reads and session-local requests -------------------------------------


@dataclass(frozen=True, slots=True)
class Exists:
    path: str
    watch: bool = False
    consistency: str = LINEARIZABLE


@dataclass(frozen=True, slots=True)
class GetData:
    path: str
    watch: bool = False
    consistency: str = LINEARIZABLE


@dataclass(frozen=True, slots=True)
class GetChildren:
    path: str
    watch: bool = False
    include_data: bool = False
    consistency: str = LINEARIZABLE


@dataclass(frozen=True, slots=True)
class Sync:
    path: str


@dataclass(frozen=True, slots=True)
class AddWatch:
    path: str
    recursive: bool = False


@dataclass(frozen=True, slots=True)
class RemoveWatches:
    path: str
    kind: str = "any"  # any | data | children | persistent | persistent_recursive


WriteOp = Create | Delete | SetData | Multi | CloseSession
ReadOp = Exists | GetData | GetChildren | Sync | AddWatch | RemoveWatches
Op = WriteOp | ReadOp

_WRITES = (Create, Delete, SetData, Multi, CloseSession)


def is_write(op: Op) -> bool:
    """True for requests that become txns."""
    return isinstance(op, _WRITES)


# ---- results --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateResult:
    path: str
    stat: Stat


@dataclass(frozen=True, slots=True)
class DeleteResult:
    pass


@dataclass(frozen=True, slots=True)
class SetDataResult:
    stat: Stat


@dataclass(frozen=True, slots=True)
class CheckResult:
    pass


@dataclass(frozen=True, slots=True)
class ExistsResult:
    stat: Stat | None


@dataclass(frozen=True, slots=True)
class GetDataResult:
    data: bytes
    stat: Stat


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    data: bytes
    stat: Stat


@dataclass(frozen=True, slots=True)
class GetChildrenResult:
    names: tuple[str, ...]
    stat: Stat
    children: tuple[Child, ...] = ()


@dataclass(frozen=True, slots=True)
class MultiResult:
    """Per-op results; on failure each entry is a CoordError instead."""

    results: tuple[CreateResult | DeleteResult | SetDataResult | CheckResult | CoordError, ...]
    failed: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class SyncResult:
    path: str


@dataclass(frozen=True, slots=True)
class Done:
    """The empty result of AddWatch, RemoveWatches and CloseSession."""


Result = (
    CreateResult
    | DeleteResult
    | SetDataResult
    | CheckResult
    | ExistsResult
    | GetDataResult
    | GetChildrenResult
    | MultiResult
    | SyncResult
    | Done
)
