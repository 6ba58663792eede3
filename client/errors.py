"""The SDK's exceptions: the shared coordsvc registry under kazoo's names.

Server-reported errors are the registry classes from ``coordsvc.errors`` so
``except NoNodeError`` works the same on both sides of the wire. The SDK adds
only what a client alone can observe: it was stopped (``ConnectionClosedError``)
and an op of a failed transaction that was rolled back (``RolledBackError``).
"""

from __future__ import annotations

from coordsvc.errors import (
    EXCEPTIONS,
    BadArgumentsError,
    BadVersionError,
    CompactedError,
    ConnectionLoss,
    CoordError,
    DataTooLargeError,
    InvalidPathError,
    InvalidTTLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    NotLeaderError,
    NotReadOnlyCallError,
    OperationTimeoutError,
    RuntimeInconsistency,
    SessionExpiredError,
    SessionMovedError,
    SystemZookeeperError,
    ThrottledError,
    UnimplementedError,
    ZookeeperError,
    error_for_code,
)

__all__ = [
    "EXCEPTIONS",
    "BadArgumentsError",
    "BadVersionError",
    "CompactedError",
    "ConnectionClosedError",
    "ConnectionLoss",
    "CoordError",
    "DataTooLargeError",
    "InvalidPathError",
    "InvalidTTLError",
    "NoAuthError",
    "NoChildrenForEphemeralsError",
    "NodeExistsError",
    "NoNodeError",
    "NotEmptyError",
    "NotLeaderError",
    "NotReadOnlyCallError",
    "OperationTimeoutError",
    "ProtocolError",
    "RolledBackError",
    "RuntimeInconsistency",
    "SessionExpiredError",
    "SessionMovedError",
    "SystemZookeeperError",
    "ThrottledError",
    "UnimplementedError",
    "ZookeeperError",
    "error_for_code",
    "RETRYABLE",
]


class ConnectionClosedError(CoordError):
    """The client was stopped; start it again to get a new session.

    Deliberately not a SessionExpiredError: stopping is the caller's own act,
    and code that reacts to expiry (re-creating ephemerals) must not fire.
    """

    code = "CONNECTION_CLOSED"


class RolledBackError(RuntimeInconsistency):
    """An op of a transaction that was not applied because another op failed."""


class ProtocolError(ConnectionLoss):
    """The server broke the session protocol (e.g. a reply out of order).

    The SDK drops that connection, reconnects and sends in-flight calls again.
    """


#: Errors after which the same call may be tried again: the outcome is
#: unknown or the server asked to come back later. SessionExpiredError is
#: deliberately absent: retrying cannot bring a session back.
RETRYABLE: tuple[type[CoordError], ...] = (
    ConnectionLoss,
    OperationTimeoutError,
    NotLeaderError,
    ThrottledError,
)
