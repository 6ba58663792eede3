from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PeerMessage(_message.Message):
    __slots__ = ("from_id", "body", "more")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    from_id: int
    body: bytes
    more: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, from_id: _Optional[int] = ..., body: _Optional[bytes] = ..., more: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PeerStreamEnd(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
