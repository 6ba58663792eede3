from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Member(_message.Message):
    __slots__ = ("id", "address", "role", "peer_address", "leader")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    id: int
    address: str
    role: str
    peer_address: str
    leader: bool
    def __init__(self, id: _Optional[int] = ..., address: _Optional[str] = ..., role: _Optional[str] = ..., peer_address: _Optional[str] = ..., leader: _Optional[bool] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("server_id", "role", "epoch", "last_zxid", "leader_id", "members", "znode_count", "session_count", "watch_count", "version", "metrics_address")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LAST_ZXID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    ZNODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    server_id: int
    role: str
    epoch: int
    last_zxid: int
    leader_id: int
    members: _containers.RepeatedCompositeFieldContainer[Member]
    znode_count: int
    session_count: int
    watch_count: int
    version: str
    metrics_address: str
    def __init__(self, server_id: _Optional[int] = ..., role: _Optional[str] = ..., epoch: _Optional[int] = ..., last_zxid: _Optional[int] = ..., leader_id: _Optional[int] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., znode_count: _Optional[int] = ..., session_count: _Optional[int] = ..., watch_count: _Optional[int] = ..., version: _Optional[str] = ..., metrics_address: _Optional[str] = ...) -> None: ...

class MembersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MembersResponse(_message.Message):
    __slots__ = ("server_id", "leader_id", "members")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    server_id: int
    leader_id: int
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, server_id: _Optional[int] = ..., leader_id: _Optional[int] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class SessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session_id", "timeout_ms", "connected_here", "ephemeral_count", "watch_count", "outstanding", "requests", "last_op", "last_zxid", "last_response_ms", "min_latency_ms", "avg_latency_ms", "max_latency_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_HERE_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LAST_OP_FIELD_NUMBER: _ClassVar[int]
    LAST_ZXID_FIELD_NUMBER: _ClassVar[int]
    LAST_RESPONSE_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AVG_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    timeout_ms: int
    connected_here: bool
    ephemeral_count: int
    watch_count: int
    outstanding: int
    requests: int
    last_op: str
    last_zxid: int
    last_response_ms: int
    min_latency_ms: float
    avg_latency_ms: float
    max_latency_ms: float
    def __init__(self, session_id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., connected_here: _Optional[bool] = ..., ephemeral_count: _Optional[int] = ..., watch_count: _Optional[int] = ..., outstanding: _Optional[int] = ..., requests: _Optional[int] = ..., last_op: _Optional[str] = ..., last_zxid: _Optional[int] = ..., last_response_ms: _Optional[int] = ..., min_latency_ms: _Optional[float] = ..., avg_latency_ms: _Optional[float] = ..., max_latency_ms: _Optional[float] = ...) -> None: ...

class SessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...

class WatchesRequest(_message.Message):
    __slots__ = ("session_id", "path")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    path: str
    def __init__(self, session_id: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class WatchInfo(_message.Message):
    __slots__ = ("session_id", "path", "kind")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    path: str
    kind: str
    def __init__(self, session_id: _Optional[int] = ..., path: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class WatchesResponse(_message.Message):
    __slots__ = ("watches", "total", "session_count", "path_count")
    WATCHES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SESSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_COUNT_FIELD_NUMBER: _ClassVar[int]
    watches: _containers.RepeatedCompositeFieldContainer[WatchInfo]
    total: int
    session_count: int
    path_count: int
    def __init__(self, watches: _Optional[_Iterable[_Union[WatchInfo, _Mapping]]] = ..., total: _Optional[int] = ..., session_count: _Optional[int] = ..., path_count: _Optional[int] = ...) -> None: ...

class RuokRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuokResponse(_message.Message):
    __slots__ = ("answer",)
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    answer: str
    def __init__(self, answer: _Optional[str] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SnapshotResponse(_message.Message):
    __slots__ = ("zxid",)
    ZXID_FIELD_NUMBER: _ClassVar[int]
    zxid: int
    def __init__(self, zxid: _Optional[int] = ...) -> None: ...
