from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    NO_NODE: _ClassVar[ErrorCode]
    NODE_EXISTS: _ClassVar[ErrorCode]
    BAD_VERSION: _ClassVar[ErrorCode]
    NOT_EMPTY: _ClassVar[ErrorCode]
    NO_CHILDREN_FOR_EPHEMERALS: _ClassVar[ErrorCode]
    SESSION_EXPIRED: _ClassVar[ErrorCode]
    INVALID_PATH: _ClassVar[ErrorCode]
    DATA_TOO_LARGE: _ClassVar[ErrorCode]
    NO_AUTH: _ClassVar[ErrorCode]
    BAD_ARGUMENTS: _ClassVar[ErrorCode]
    SESSION_MOVED: _ClassVar[ErrorCode]
    NOT_READ_ONLY: _ClassVar[ErrorCode]
    THROTTLED: _ClassVar[ErrorCode]
    UNIMPLEMENTED: _ClassVar[ErrorCode]
    CONNECTION_LOSS: _ClassVar[ErrorCode]
    OPERATION_TIMEOUT: _ClassVar[ErrorCode]
    RUNTIME_INCONSISTENCY: _ClassVar[ErrorCode]
    SYSTEM_ERROR: _ClassVar[ErrorCode]
    COMPACTED: _ClassVar[ErrorCode]
    INVALID_TTL: _ClassVar[ErrorCode]
    NOT_LEADER: _ClassVar[ErrorCode]
    STORAGE_FULL: _ClassVar[ErrorCode]

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_LINEARIZABLE: _ClassVar[Consistency]
    CONSISTENCY_LOCAL: _ClassVar[Consistency]

class WatchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_MODE_PERSISTENT: _ClassVar[WatchMode]
    WATCH_MODE_PERSISTENT_RECURSIVE: _ClassVar[WatchMode]

class WatcherType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCHER_TYPE_ANY: _ClassVar[WatcherType]
    WATCHER_TYPE_CHILDREN: _ClassVar[WatcherType]
    WATCHER_TYPE_DATA: _ClassVar[WatcherType]
    WATCHER_TYPE_PERSISTENT: _ClassVar[WatcherType]
    WATCHER_TYPE_PERSISTENT_RECURSIVE: _ClassVar[WatcherType]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    NODE_CREATED: _ClassVar[EventType]
    NODE_DELETED: _ClassVar[EventType]
    NODE_DATA_CHANGED: _ClassVar[EventType]
    NODE_CHILDREN_CHANGED: _ClassVar[EventType]
ERROR_CODE_UNSPECIFIED: ErrorCode
NO_NODE: ErrorCode
NODE_EXISTS: ErrorCode
BAD_VERSION: ErrorCode
NOT_EMPTY: ErrorCode
NO_CHILDREN_FOR_EPHEMERALS: ErrorCode
SESSION_EXPIRED: ErrorCode
INVALID_PATH: ErrorCode
DATA_TOO_LARGE: ErrorCode
NO_AUTH: ErrorCode
BAD_ARGUMENTS: ErrorCode
SESSION_MOVED: ErrorCode
NOT_READ_ONLY: ErrorCode
THROTTLED: ErrorCode
UNIMPLEMENTED: ErrorCode
CONNECTION_LOSS: ErrorCode
OPERATION_TIMEOUT: ErrorCode
RUNTIME_INCONSISTENCY: ErrorCode
SYSTEM_ERROR: ErrorCode
COMPACTED: ErrorCode
INVALID_TTL: ErrorCode
NOT_LEADER: ErrorCode
STORAGE_FULL: ErrorCode
CONSISTENCY_LINEARIZABLE: Consistency
CONSISTENCY_LOCAL: Consistency
WATCH_MODE_PERSISTENT: WatchMode
WATCH_MODE_PERSISTENT_RECURSIVE: WatchMode
WATCHER_TYPE_ANY: WatcherType
WATCHER_TYPE_CHILDREN: WatcherType
WATCHER_TYPE_DATA: WatcherType
WATCHER_TYPE_PERSISTENT: WatcherType
WATCHER_TYPE_PERSISTENT_RECURSIVE: WatcherType
EVENT_TYPE_UNSPECIFIED: EventType
NODE_CREATED: EventType
NODE_DELETED: EventType
NODE_DATA_CHANGED: EventType
NODE_CHILDREN_CHANGED: EventType

class Stat(_message.Message):
    __slots__ = ("czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeral_owner", "data_length", "num_children")
    CZXID_FIELD_NUMBER: _ClassVar[int]
    MZXID_FIELD_NUMBER: _ClassVar[int]
    PZXID_FIELD_NUMBER: _ClassVar[int]
    CTIME_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CVERSION_FIELD_NUMBER: _ClassVar[int]
    AVERSION_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_OWNER_FIELD_NUMBER: _ClassVar[int]
    DATA_LENGTH_FIELD_NUMBER: _ClassVar[int]
    NUM_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    czxid: int
    mzxid: int
    pzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    def __init__(self, czxid: _Optional[int] = ..., mzxid: _Optional[int] = ..., pzxid: _Optional[int] = ..., ctime: _Optional[int] = ..., mtime: _Optional[int] = ..., version: _Optional[int] = ..., cversion: _Optional[int] = ..., aversion: _Optional[int] = ..., ephemeral_owner: _Optional[int] = ..., data_length: _Optional[int] = ..., num_children: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "path")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    path: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("path", "data", "ephemeral", "sequential", "container", "ttl_ms")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    path: str
    data: bytes
    ephemeral: bool
    sequential: bool
    container: bool
    ttl_ms: int
    def __init__(self, path: _Optional[str] = ..., data: _Optional[bytes] = ..., ephemeral: _Optional[bool] = ..., sequential: _Optional[bool] = ..., container: _Optional[bool] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class CreateResponse(_message.Message):
    __slots__ = ("path", "stat")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    path: str
    stat: Stat
    def __init__(self, path: _Optional[str] = ..., stat: _Optional[_Union[Stat, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("path", "version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    version: int
    def __init__(self, path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExistsRequest(_message.Message):
    __slots__ = ("path", "watch", "consistency")
    PATH_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    path: str
    watch: bool
    consistency: Consistency
    def __init__(self, path: _Optional[str] = ..., watch: _Optional[bool] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class ExistsResponse(_message.Message):
    __slots__ = ("stat",)
    STAT_FIELD_NUMBER: _ClassVar[int]
    stat: Stat
    def __init__(self, stat: _Optional[_Union[Stat, _Mapping]] = ...) -> None: ...

class GetDataRequest(_message.Message):
    __slots__ = ("path", "watch", "consistency")
    PATH_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    path: str
    watch: bool
    consistency: Consistency
    def __init__(self, path: _Optional[str] = ..., watch: _Optional[bool] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class GetDataResponse(_message.Message):
    __slots__ = ("data", "stat")
    DATA_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    stat: Stat
    def __init__(self, data: _Optional[bytes] = ..., stat: _Optional[_Union[Stat, _Mapping]] = ...) -> None: ...

class SetDataRequest(_message.Message):
    __slots__ = ("path", "data", "version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    data: bytes
    version: int
    def __init__(self, path: _Optional[str] = ..., data: _Optional[bytes] = ..., version: _Optional[int] = ...) -> None: ...

class SetDataResponse(_message.Message):
    __slots__ = ("stat",)
    STAT_FIELD_NUMBER: _ClassVar[int]
    stat: Stat
    def __init__(self, stat: _Optional[_Union[Stat, _Mapping]] = ...) -> None: ...

class GetChildrenRequest(_message.Message):
    __slots__ = ("path", "watch", "include_data", "consistency")
    PATH_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DATA_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    path: str
    watch: bool
    include_data: bool
    consistency: Consistency
    def __init__(self, path: _Optional[str] = ..., watch: _Optional[bool] = ..., include_data: _Optional[bool] = ..., consistency: _Optional[_Union[Consistency, str]] = ...) -> None: ...

class Child(_message.Message):
    __slots__ = ("name", "data", "stat")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    stat: Stat
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ..., stat: _Optional[_Union[Stat, _Mapping]] = ...) -> None: ...

class GetChildrenResponse(_message.Message):
    __slots__ = ("names", "stat", "children")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    stat: Stat
    children: _containers.RepeatedCompositeFieldContainer[Child]
    def __init__(self, names: _Optional[_Iterable[str]] = ..., stat: _Optional[_Union[Stat, _Mapping]] = ..., children: _Optional[_Iterable[_Union[Child, _Mapping]]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("path", "version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    version: int
    def __init__(self, path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Op(_message.Message):
    __slots__ = ("create", "delete", "set_data", "check")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    create: CreateRequest
    delete: DeleteRequest
    set_data: SetDataRequest
    check: CheckRequest
    def __init__(self, create: _Optional[_Union[CreateRequest, _Mapping]] = ..., delete: _Optional[_Union[DeleteRequest, _Mapping]] = ..., set_data: _Optional[_Union[SetDataRequest, _Mapping]] = ..., check: _Optional[_Union[CheckRequest, _Mapping]] = ...) -> None: ...

class MultiRequest(_message.Message):
    __slots__ = ("ops",)
    OPS_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[Op]
    def __init__(self, ops: _Optional[_Iterable[_Union[Op, _Mapping]]] = ...) -> None: ...

class OpResult(_message.Message):
    __slots__ = ("create", "delete", "set_data", "check", "error")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    create: CreateResponse
    delete: DeleteResponse
    set_data: SetDataResponse
    check: CheckResponse
    error: Error
    def __init__(self, create: _Optional[_Union[CreateResponse, _Mapping]] = ..., delete: _Optional[_Union[DeleteResponse, _Mapping]] = ..., set_data: _Optional[_Union[SetDataResponse, _Mapping]] = ..., check: _Optional[_Union[CheckResponse, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class MultiResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[OpResult]
    def __init__(self, results: _Optional[_Iterable[_Union[OpResult, _Mapping]]] = ...) -> None: ...

class SyncRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class SyncResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class AddWatchRequest(_message.Message):
    __slots__ = ("path", "mode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    mode: WatchMode
    def __init__(self, path: _Optional[str] = ..., mode: _Optional[_Union[WatchMode, str]] = ...) -> None: ...

class AddWatchResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveWatchesRequest(_message.Message):
    __slots__ = ("path", "type")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    path: str
    type: WatcherType
    def __init__(self, path: _Optional[str] = ..., type: _Optional[_Union[WatcherType, str]] = ...) -> None: ...

class RemoveWatchesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("type", "path", "zxid")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ZXID_FIELD_NUMBER: _ClassVar[int]
    type: EventType
    path: str
    zxid: int
    def __init__(self, type: _Optional[_Union[EventType, str]] = ..., path: _Optional[str] = ..., zxid: _Optional[int] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("session_id", "password", "timeout_ms", "last_zxid")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_ZXID_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    password: bytes
    timeout_ms: int
    last_zxid: int
    def __init__(self, session_id: _Optional[int] = ..., password: _Optional[bytes] = ..., timeout_ms: _Optional[int] = ..., last_zxid: _Optional[int] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("session_id", "password", "timeout_ms", "server_id", "zxid", "last_xid")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    ZXID_FIELD_NUMBER: _ClassVar[int]
    LAST_XID_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    password: bytes
    timeout_ms: int
    server_id: int
    zxid: int
    last_xid: int
    def __init__(self, session_id: _Optional[int] = ..., password: _Optional[bytes] = ..., timeout_ms: _Optional[int] = ..., server_id: _Optional[int] = ..., zxid: _Optional[int] = ..., last_xid: _Optional[int] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("xid", "create", "delete", "exists", "get_data", "set_data", "get_children", "multi", "sync", "add_watch", "remove_watches", "close_session")
    XID_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    GET_DATA_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    GET_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    ADD_WATCH_FIELD_NUMBER: _ClassVar[int]
    REMOVE_WATCHES_FIELD_NUMBER: _ClassVar[int]
    CLOSE_SESSION_FIELD_NUMBER: _ClassVar[int]
    xid: int
    create: CreateRequest
    delete: DeleteRequest
    exists: ExistsRequest
    get_data: GetDataRequest
    set_data: SetDataRequest
    get_children: GetChildrenRequest
    multi: MultiRequest
    sync: SyncRequest
    add_watch: AddWatchRequest
    remove_watches: RemoveWatchesRequest
    close_session: CloseSessionRequest
    def __init__(self, xid: _Optional[int] = ..., create: _Optional[_Union[CreateRequest, _Mapping]] = ..., delete: _Optional[_Union[DeleteRequest, _Mapping]] = ..., exists: _Optional[_Union[ExistsRequest, _Mapping]] = ..., get_data: _Optional[_Union[GetDataRequest, _Mapping]] = ..., set_data: _Optional[_Union[SetDataRequest, _Mapping]] = ..., get_children: _Optional[_Union[GetChildrenRequest, _Mapping]] = ..., multi: _Optional[_Union[MultiRequest, _Mapping]] = ..., sync: _Optional[_Union[SyncRequest, _Mapping]] = ..., add_watch: _Optional[_Union[AddWatchRequest, _Mapping]] = ..., remove_watches: _Optional[_Union[RemoveWatchesRequest, _Mapping]] = ..., close_session: _Optional[_Union[CloseSessionRequest, _Mapping]] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("xid", "zxid", "error", "create", "delete", "exists", "get_data", "set_data", "get_children", "multi", "sync", "add_watch", "remove_watches", "close_session")
    XID_FIELD_NUMBER: _ClassVar[int]
    ZXID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    GET_DATA_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    GET_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    ADD_WATCH_FIELD_NUMBER: _ClassVar[int]
    REMOVE_WATCHES_FIELD_NUMBER: _ClassVar[int]
    CLOSE_SESSION_FIELD_NUMBER: _ClassVar[int]
    xid: int
    zxid: int
    error: Error
    create: CreateResponse
    delete: DeleteResponse
    exists: ExistsResponse
    get_data: GetDataResponse
    set_data: SetDataResponse
    get_children: GetChildrenResponse
    multi: MultiResponse
    sync: SyncResponse
    add_watch: AddWatchResponse
    remove_watches: RemoveWatchesResponse
    close_session: CloseSessionResponse
    def __init__(self, xid: _Optional[int] = ..., zxid: _Optional[int] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., create: _Optional[_Union[CreateResponse, _Mapping]] = ..., delete: _Optional[_Union[DeleteResponse, _Mapping]] = ..., exists: _Optional[_Union[ExistsResponse, _Mapping]] = ..., get_data: _Optional[_Union[GetDataResponse, _Mapping]] = ..., set_data: _Optional[_Union[SetDataResponse, _Mapping]] = ..., get_children: _Optional[_Union[GetChildrenResponse, _Mapping]] = ..., multi: _Optional[_Union[MultiResponse, _Mapping]] = ..., sync: _Optional[_Union[SyncResponse, _Mapping]] = ..., add_watch: _Optional[_Union[AddWatchResponse, _Mapping]] = ..., remove_watches: _Optional[_Union[RemoveWatchesResponse, _Mapping]] = ..., close_session: _Optional[_Union[CloseSessionResponse, _Mapping]] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("seq", "zxid")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ZXID_FIELD_NUMBER: _ClassVar[int]
    seq: int
    zxid: int
    def __init__(self, seq: _Optional[int] = ..., zxid: _Optional[int] = ...) -> None: ...

class SessionEnded(_message.Message):
    __slots__ = ("error",)
    ERROR_FIELD_NUMBER: _ClassVar[int]
    error: Error
    def __init__(self, error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class ClientMessage(_message.Message):
    __slots__ = ("connect", "request", "ping")
    CONNECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    connect: ConnectRequest
    request: Request
    ping: Ping
    def __init__(self, connect: _Optional[_Union[ConnectRequest, _Mapping]] = ..., request: _Optional[_Union[Request, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("connected", "response", "event", "pong", "ended")
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    connected: ConnectResponse
    response: Response
    event: WatchEvent
    pong: Pong
    ended: SessionEnded
    def __init__(self, connected: _Optional[_Union[ConnectResponse, _Mapping]] = ..., response: _Optional[_Union[Response, _Mapping]] = ..., event: _Optional[_Union[WatchEvent, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., ended: _Optional[_Union[SessionEnded, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("path", "recursive", "start_zxid")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    START_ZXID_FIELD_NUMBER: _ClassVar[int]
    path: str
    recursive: bool
    start_zxid: int
    def __init__(self, path: _Optional[str] = ..., recursive: _Optional[bool] = ..., start_zxid: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("events", "zxid")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ZXID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[WatchEvent]
    zxid: int
    def __init__(self, events: _Optional[_Iterable[_Union[WatchEvent, _Mapping]]] = ..., zxid: _Optional[int] = ...) -> None: ...
