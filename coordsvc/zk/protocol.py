"""ZooKeeper's protocol numbers, and how coordsvc's error codes map onto them.

The values are ZooKeeper's (ZooDefs.OpCode, KeeperException.Code,
Watcher.Event), so existing clients read them unchanged.
"""

from __future__ import annotations

from enum import IntEnum

from coordsvc.v1 import coordination_pb2 as pb

__all__ = [
    "Op",
    "Err",
    "Xid",
    "EventType",
    "KEEPER_STATE_SYNC_CONNECTED",
    "PERM_ALL",
    "PASSWORD_BYTES",
    "err_of",
    "EVENT_TYPES",
]

PERM_ALL = 31  # READ | WRITE | CREATE | DELETE | ADMIN
PASSWORD_BYTES = 16
KEEPER_STATE_SYNC_CONNECTED = 3


class Xid(IntEnum):
    """Reserved xids: replies that are not answers to a numbered request."""

    NOTIFICATION = -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


class Op(IntEnum):
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Err(IntEnum):
    OK = 0
    SYSTEM_ERROR = -1
    RUNTIME_INCONSISTENCY = -2
    CONNECTION_LOSS = -4
    MARSHALLING_ERROR = -5
    UNIMPLEMENTED = -6
    OPERATION_TIMEOUT = -7
    BAD_ARGUMENTS = -8
    NO_NODE = -101
    NO_AUTH = -102
    BAD_VERSION = -103
    NO_CHILDREN_FOR_EPHEMERALS = -108
    NODE_EXISTS = -110
    NOT_EMPTY = -111
    SESSION_EXPIRED = -112
    INVALID_ACL = -114
    AUTH_FAILED = -115
    SESSION_MOVED = -118
    NOT_READ_ONLY = -119
    QUOTA_EXCEEDED = -125
    THROTTLED_OP = -127


class EventType(IntEnum):
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4


EVENT_TYPES = {
    pb.NODE_CREATED: EventType.NODE_CREATED,
    pb.NODE_DELETED: EventType.NODE_DELETED,
    pb.NODE_DATA_CHANGED: EventType.NODE_DATA_CHANGED,
    pb.NODE_CHILDREN_CHANGED: EventType.NODE_CHILDREN_CHANGED,
}

# coordsvc codes with no ZooKeeper twin take the nearest one a client handles
_ERRORS = {
    pb.NO_NODE: Err.NO_NODE,
    pb.NODE_EXISTS: Err.NODE_EXISTS,
    pb.BAD_VERSION: Err.BAD_VERSION,
    pb.NOT_EMPTY: Err.NOT_EMPTY,
    pb.NO_CHILDREN_FOR_EPHEMERALS: Err.NO_CHILDREN_FOR_EPHEMERALS,
    pb.SESSION_EXPIRED: Err.SESSION_EXPIRED,
    pb.INVALID_PATH: Err.BAD_ARGUMENTS,
    pb.DATA_TOO_LARGE: Err.BAD_ARGUMENTS,
    pb.NO_AUTH: Err.NO_AUTH,
    pb.BAD_ARGUMENTS: Err.BAD_ARGUMENTS,
    pb.SESSION_MOVED: Err.SESSION_MOVED,
    pb.NOT_READ_ONLY: Err.NOT_READ_ONLY,
    pb.THROTTLED: Err.THROTTLED_OP,
    pb.UNIMPLEMENTED: Err.UNIMPLEMENTED,
    pb.CONNECTION_LOSS: Err.CONNECTION_LOSS,
    pb.OPERATION_TIMEOUT: Err.OPERATION_TIMEOUT,
    pb.RUNTIME_INCONSISTENCY: Err.RUNTIME_INCONSISTENCY,
    pb.SYSTEM_ERROR: Err.SYSTEM_ERROR,
    pb.INVALID_TTL: Err.BAD_ARGUMENTS,
    pb.NOT_LEADER: Err.CONNECTION_LOSS,
    pb.STORAGE_FULL: Err.QUOTA_EXCEEDED,
}


def err_of(code: int) -> Err:
    """The ZooKeeper error code of a coordsvc ``pb.ErrorCode``."""
    return _ERRORS.get(code, Err.SYSTEM_ERROR)
