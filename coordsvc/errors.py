"""The one error registry of coordsvc, shared by the server and the SDK.

Each API error is a class with kazoo's name, a machine-readable ``code``
(the ``ErrorCode`` name on the wire) and the gRPC status it travels as. The
pure core raises these inside a step and turns them into reply values; the
SDK raises them to user code. ``grpc_status`` is a status *name* so this
module imports nothing but the standard library.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CoordError",
    "ZookeeperError",
    "NoNodeError",
    "NodeExistsError",
    "BadVersionError",
    "NotEmptyError",
    "NoChildrenForEphemeralsError",
    "SessionExpiredError",
    "InvalidPathError",
    "DataTooLargeError",
    "NoAuthError",
    "BadArgumentsError",
    "SessionMovedError",
    "NotReadOnlyCallError",
    "ThrottledError",
    "UnimplementedError",
    "ConnectionLoss",
    "OperationTimeoutError",
    "RuntimeInconsistency",
    "SystemZookeeperError",
    "CompactedError",
    "InvalidTTLError",
    "NotLeaderError",
    "StorageFullError",
    "EXCEPTIONS",
    "error_for_code",
]

EXCEPTIONS: dict[str, type[CoordError]] = {}


class CoordError(Exception):
    """Base of every coordsvc error; ``code`` is its wire name."""

    code: ClassVar[str] = "SYSTEM_ERROR"
    grpc_status: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str = "", path: str = "") -> None:
        self.message = message or self.code
        self.path = path
        super().__init__(self.message)

    def __reduce__(self):  # keep pickling/copying simple for subclasses
        return (type(self), (self.message, self.path))


def _register(code: str, grpc_status: str):
    def deco(cls: type[CoordError]) -> type[CoordError]:
        cls.code = code
        cls.grpc_status = grpc_status
        EXCEPTIONS[code] = cls
        return cls

    return deco


class ZookeeperError(CoordError):
    """Errors reported by the server about a request (kazoo's base name)."""


@_register("NO_NODE", "NOT_FOUND")
class NoNodeError(ZookeeperError):
    """The node does not exist."""


@_register("NODE_EXISTS", "ALREADY_EXISTS")
class NodeExistsError(ZookeeperError):
    """A node already exists at the path."""


@_register("BAD_VERSION", "FAILED_PRECONDITION")
class BadVersionError(ZookeeperError):
    """The expected version did not match the node's version."""


@_register("NOT_EMPTY", "FAILED_PRECONDITION")
class NotEmptyError(ZookeeperError):
    """The node has children and cannot be deleted."""


@_register("NO_CHILDREN_FOR_EPHEMERALS", "FAILED_PRECONDITION")
class NoChildrenForEphemeralsError(ZookeeperError):
    """Ephemeral nodes cannot have children."""


@_register("SESSION_EXPIRED", "FAILED_PRECONDITION")
class SessionExpiredError(ZookeeperError):
    """The session expired or was closed; its ephemerals are gone."""


@_register("INVALID_PATH", "INVALID_ARGUMENT")
class InvalidPathError(ZookeeperError):
    """The path breaks ZooKeeper's path rules."""


@_register("DATA_TOO_LARGE", "INVALID_ARGUMENT")
class DataTooLargeError(ZookeeperError):
    """The data is larger than the server's limit."""


@_register("NO_AUTH", "PERMISSION_DENIED")
class NoAuthError(ZookeeperError):
    """Not authorised for the operation."""


@_register("BAD_ARGUMENTS", "INVALID_ARGUMENT")
class BadArgumentsError(ZookeeperError):
    """A request was malformed."""


@_register("SESSION_MOVED", "FAILED_PRECONDITION")
class SessionMovedError(ZookeeperError):
    """The session is now attached to another connection."""


@_register("NOT_READ_ONLY", "FAILED_PRECONDITION")
class NotReadOnlyCallError(ZookeeperError):
    """A write was sent to a read-only server."""


@_register("THROTTLED", "RESOURCE_EXHAUSTED")
class ThrottledError(ZookeeperError):
    """The server is overloaded; retry later."""


@_register("UNIMPLEMENTED", "UNIMPLEMENTED")
class UnimplementedError(ZookeeperError):
    """The operation is not implemented by this server."""


@_register("CONNECTION_LOSS", "UNAVAILABLE")
class ConnectionLoss(CoordError):
    """The connection to the server was lost; the outcome is unknown."""


@_register("OPERATION_TIMEOUT", "DEADLINE_EXCEEDED")
class OperationTimeoutError(CoordError):
    """The operation did not finish in time; the outcome is unknown."""


@_register("RUNTIME_INCONSISTENCY", "ABORTED")
class RuntimeInconsistency(ZookeeperError):
    """An op of a multi that failed because another op in it failed."""


@_register("SYSTEM_ERROR", "INTERNAL")
class SystemZookeeperError(ZookeeperError):
    """An unexpected server error."""


@_register("COMPACTED", "OUT_OF_RANGE")
class CompactedError(ZookeeperError):
    """The requested zxid is older than the retained history."""


@_register("INVALID_TTL", "INVALID_ARGUMENT")
class InvalidTTLError(ZookeeperError):
    """A TTL was given where it is not allowed, or it is out of range."""


@_register("NOT_LEADER", "UNAVAILABLE")
class NotLeaderError(CoordError):
    """The server has no leader to forward a write to."""


@_register("STORAGE_FULL", "RESOURCE_EXHAUSTED")
class StorageFullError(CoordError):
    """The server's store is full: the write was not applied; reads still work."""


def error_for_code(code: str, message: str = "", path: str = "") -> CoordError:
    """Build the registered exception for a wire code (SYSTEM_ERROR if unknown)."""
    cls = EXCEPTIONS.get(code, SystemZookeeperError)
    return cls(message or code, path)
