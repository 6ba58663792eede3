from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_KIND_PERSISTENT: _ClassVar[NodeKind]
    NODE_KIND_EPHEMERAL: _ClassVar[NodeKind]
    NODE_KIND_CONTAINER: _ClassVar[NodeKind]
    NODE_KIND_TTL: _ClassVar[NodeKind]
NODE_KIND_PERSISTENT: NodeKind
NODE_KIND_EPHEMERAL: NodeKind
NODE_KIND_CONTAINER: NodeKind
NODE_KIND_TTL: NodeKind

class CreateTxn(_message.Message):
    __slots__ = ("path", "data", "kind", "ephemeral_owner", "ttl_ms")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_OWNER_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    path: str
    data: bytes
    kind: NodeKind
    ephemeral_owner: int
    ttl_ms: int
    def __init__(self, path: _Optional[str] = ..., data: _Optional[bytes] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., ephemeral_owner: _Optional[int] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class DeleteTxn(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class SetDataTxn(_message.Message):
    __slots__ = ("path", "data", "version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    data: bytes
    version: int
    def __init__(self, path: _Optional[str] = ..., data: _Optional[bytes] = ..., version: _Optional[int] = ...) -> None: ...

class CheckTxn(_message.Message):
    __slots__ = ("path", "version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    version: int
    def __init__(self, path: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class MultiTxnOp(_message.Message):
    __slots__ = ("create", "delete", "set_data", "check")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    create: CreateTxn
    delete: DeleteTxn
    set_data: SetDataTxn
    check: CheckTxn
    def __init__(self, create: _Optional[_Union[CreateTxn, _Mapping]] = ..., delete: _Optional[_Union[DeleteTxn, _Mapping]] = ..., set_data: _Optional[_Union[SetDataTxn, _Mapping]] = ..., check: _Optional[_Union[CheckTxn, _Mapping]] = ...) -> None: ...

class MultiTxn(_message.Message):
    __slots__ = ("ops",)
    OPS_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[MultiTxnOp]
    def __init__(self, ops: _Optional[_Iterable[_Union[MultiTxnOp, _Mapping]]] = ...) -> None: ...

class CreateSessionTxn(_message.Message):
    __slots__ = ("session_id", "timeout_ms", "password")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    timeout_ms: int
    password: bytes
    def __init__(self, session_id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., password: _Optional[bytes] = ...) -> None: ...

class CloseSessionTxn(_message.Message):
    __slots__ = ("session_id", "paths")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[int] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class TxnRecord(_message.Message):
    __slots__ = ("zxid", "time_ms", "session_id", "xid", "create", "delete", "set_data", "check", "multi", "create_session", "close_session")
    ZXID_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    XID_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    CREATE_SESSION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_SESSION_FIELD_NUMBER: _ClassVar[int]
    zxid: int
    time_ms: int
    session_id: int
    xid: int
    create: CreateTxn
    delete: DeleteTxn
    set_data: SetDataTxn
    check: CheckTxn
    multi: MultiTxn
    create_session: CreateSessionTxn
    close_session: CloseSessionTxn
    def __init__(self, zxid: _Optional[int] = ..., time_ms: _Optional[int] = ..., session_id: _Optional[int] = ..., xid: _Optional[int] = ..., create: _Optional[_Union[CreateTxn, _Mapping]] = ..., delete: _Optional[_Union[DeleteTxn, _Mapping]] = ..., set_data: _Optional[_Union[SetDataTxn, _Mapping]] = ..., check: _Optional[_Union[CheckTxn, _Mapping]] = ..., multi: _Optional[_Union[MultiTxn, _Mapping]] = ..., create_session: _Optional[_Union[CreateSessionTxn, _Mapping]] = ..., close_session: _Optional[_Union[CloseSessionTxn, _Mapping]] = ...) -> None: ...

class SnapshotHeader(_message.Message):
    __slots__ = ("last_zxid", "node_count", "session_count", "created_ms", "retry_count")
    LAST_ZXID_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    last_zxid: int
    node_count: int
    session_count: int
    created_ms: int
    retry_count: int
    def __init__(self, last_zxid: _Optional[int] = ..., node_count: _Optional[int] = ..., session_count: _Optional[int] = ..., created_ms: _Optional[int] = ..., retry_count: _Optional[int] = ...) -> None: ...

class NodeChunk(_message.Message):
    __slots__ = ("path", "data", "czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeral_owner", "num_children", "kind", "ttl_ms")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CZXID_FIELD_NUMBER: _ClassVar[int]
    MZXID_FIELD_NUMBER: _ClassVar[int]
    PZXID_FIELD_NUMBER: _ClassVar[int]
    CTIME_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CVERSION_FIELD_NUMBER: _ClassVar[int]
    AVERSION_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_OWNER_FIELD_NUMBER: _ClassVar[int]
    NUM_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    path: _containers.RepeatedScalarFieldContainer[str]
    data: _containers.RepeatedScalarFieldContainer[bytes]
    czxid: _containers.RepeatedScalarFieldContainer[int]
    mzxid: _containers.RepeatedScalarFieldContainer[int]
    pzxid: _containers.RepeatedScalarFieldContainer[int]
    ctime: _containers.RepeatedScalarFieldContainer[int]
    mtime: _containers.RepeatedScalarFieldContainer[int]
    version: _containers.RepeatedScalarFieldContainer[int]
    cversion: _containers.RepeatedScalarFieldContainer[int]
    aversion: _containers.RepeatedScalarFieldContainer[int]
    ephemeral_owner: _containers.RepeatedScalarFieldContainer[int]
    num_children: _containers.RepeatedScalarFieldContainer[int]
    kind: _containers.RepeatedScalarFieldContainer[NodeKind]
    ttl_ms: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, path: _Optional[_Iterable[str]] = ..., data: _Optional[_Iterable[bytes]] = ..., czxid: _Optional[_Iterable[int]] = ..., mzxid: _Optional[_Iterable[int]] = ..., pzxid: _Optional[_Iterable[int]] = ..., ctime: _Optional[_Iterable[int]] = ..., mtime: _Optional[_Iterable[int]] = ..., version: _Optional[_Iterable[int]] = ..., cversion: _Optional[_Iterable[int]] = ..., aversion: _Optional[_Iterable[int]] = ..., ephemeral_owner: _Optional[_Iterable[int]] = ..., num_children: _Optional[_Iterable[int]] = ..., kind: _Optional[_Iterable[_Union[NodeKind, str]]] = ..., ttl_ms: _Optional[_Iterable[int]] = ...) -> None: ...

class SnapshotSession(_message.Message):
    __slots__ = ("session_id", "timeout_ms", "password")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    timeout_ms: int
    password: bytes
    def __init__(self, session_id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., password: _Optional[bytes] = ...) -> None: ...

class SessionChunk(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SnapshotSession]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SnapshotSession, _Mapping]]] = ...) -> None: ...

class SnapshotEnd(_message.Message):
    __slots__ = ("node_count", "session_count", "retry_count")
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    node_count: int
    session_count: int
    retry_count: int
    def __init__(self, node_count: _Optional[int] = ..., session_count: _Optional[int] = ..., retry_count: _Optional[int] = ...) -> None: ...

class KeptStat(_message.Message):
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

class KeptCreate(_message.Message):
    __slots__ = ("path", "stat")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STAT_FIELD_NUMBER: _ClassVar[int]
    path: str
    stat: KeptStat
    def __init__(self, path: _Optional[str] = ..., stat: _Optional[_Union[KeptStat, _Mapping]] = ...) -> None: ...

class KeptMulti(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[KeptAnswer]
    def __init__(self, results: _Optional[_Iterable[_Union[KeptAnswer, _Mapping]]] = ...) -> None: ...

class KeptAnswer(_message.Message):
    __slots__ = ("create", "set_data", "delete", "check", "multi")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    SET_DATA_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    create: KeptCreate
    set_data: KeptStat
    delete: bool
    check: bool
    multi: KeptMulti
    def __init__(self, create: _Optional[_Union[KeptCreate, _Mapping]] = ..., set_data: _Optional[_Union[KeptStat, _Mapping]] = ..., delete: _Optional[bool] = ..., check: _Optional[bool] = ..., multi: _Optional[_Union[KeptMulti, _Mapping]] = ...) -> None: ...

class KeptResult(_message.Message):
    __slots__ = ("session_id", "xid", "zxid", "time_ms", "answer")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    XID_FIELD_NUMBER: _ClassVar[int]
    ZXID_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    session_id: int
    xid: int
    zxid: int
    time_ms: int
    answer: KeptAnswer
    def __init__(self, session_id: _Optional[int] = ..., xid: _Optional[int] = ..., zxid: _Optional[int] = ..., time_ms: _Optional[int] = ..., answer: _Optional[_Union[KeptAnswer, _Mapping]] = ...) -> None: ...

class RetryChunk(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[KeptResult]
    def __init__(self, results: _Optional[_Iterable[_Union[KeptResult, _Mapping]]] = ...) -> None: ...

class SnapshotFrame(_message.Message):
    __slots__ = ("header", "nodes", "sessions", "end", "retries")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    header: SnapshotHeader
    nodes: NodeChunk
    sessions: SessionChunk
    end: SnapshotEnd
    retries: RetryChunk
    def __init__(self, header: _Optional[_Union[SnapshotHeader, _Mapping]] = ..., nodes: _Optional[_Union[NodeChunk, _Mapping]] = ..., sessions: _Optional[_Union[SessionChunk, _Mapping]] = ..., end: _Optional[_Union[SnapshotEnd, _Mapping]] = ..., retries: _Optional[_Union[RetryChunk, _Mapping]] = ...) -> None: ...

class StoredSnapshot(_message.Message):
    __slots__ = ("zxid", "file", "size", "node_count", "session_count", "created_ms")
    ZXID_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    zxid: int
    file: str
    size: int
    node_count: int
    session_count: int
    created_ms: int
    def __init__(self, zxid: _Optional[int] = ..., file: _Optional[str] = ..., size: _Optional[int] = ..., node_count: _Optional[int] = ..., session_count: _Optional[int] = ..., created_ms: _Optional[int] = ...) -> None: ...

class SnapshotCatalog(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[StoredSnapshot]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[StoredSnapshot, _Mapping]]] = ...) -> None: ...
