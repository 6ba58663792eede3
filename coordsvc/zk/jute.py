"""Jute, ZooKeeper's record encoding: big-endian ints, length-prefixed buffers.

A ``Reader`` walks one request body and raises ``JuteError`` on anything
malformed (a truncated field, a negative or oversized length, bad UTF-8), so
a bad frame is refused whole, never half-applied. A ``Writer`` builds a reply.
"""

from __future__ import annotations

import struct

__all__ = ["JuteError", "Reader", "Writer", "wrap_int32"]

_INT = struct.Struct("!i")
_LONG = struct.Struct("!q")
_BOOL = struct.Struct("!B")
MAX_VECTOR = 1 << 20  # entries in one vector; the frame limit bounds it too


class JuteError(ValueError):
    """A request body that is not the record it claims to be."""


def wrap_int32(value: int) -> int:
    """``value`` as ZooKeeper's 32-bit field holds it (versions wrap as in ZooKeeper)."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


class Reader:
    """Reads jute fields in order from one body."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    def _take(self, n: int) -> memoryview:
        end = self._at + n
        if n < 0 or end > len(self._data):
            raise JuteError(f"record ends early: wanted {n} bytes at offset {self._at}")
        chunk = self._data[self._at : end]
        self._at = end
        return chunk

    def int(self) -> int:
        return _INT.unpack(self._take(4))[0]

    def long(self) -> int:
        return _LONG.unpack(self._take(8))[0]

    def bool(self) -> bool:
        return _BOOL.unpack(self._take(1))[0] != 0

    def buffer(self) -> bytes | None:
        """A length-prefixed byte string; length -1 is null."""
        n = self.int()
        if n == -1:
            return None
        if n < 0:
            raise JuteError(f"negative length {n}")
        return bytes(self._take(n))

    def string(self) -> str:
        """A length-prefixed UTF-8 string (null reads as "")."""
        raw = self.buffer()
        if raw is None:
            return ""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JuteError(f"string is not UTF-8: {exc}") from None

    def count(self) -> int:
        """A vector's length (-1, null, reads as 0)."""
        n = self.int()
        if n == -1:
            return 0
        if n < 0 or n > MAX_VECTOR:
            raise JuteError(f"bad vector length {n}")
        return n

    def strings(self) -> list[str]:
        return [self.string() for _ in range(self.count())]

    @property
    def remaining(self) -> int:
        return len(self._data) - self._at


class Writer:
    """Appends jute fields to a growing reply."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def int(self, value: int) -> Writer:
        self._parts.append(_INT.pack(value))
        return self

    def long(self, value: int) -> Writer:
        self._parts.append(_LONG.pack(value))
        return self

    def bool(self, value: bool) -> Writer:
        self._parts.append(b"\x01" if value else b"\x00")
        return self

    def buffer(self, value: bytes | None) -> Writer:
        if value is None:
            return self.int(-1)
        self._parts.append(_INT.pack(len(value)))
        self._parts.append(bytes(value))
        return self

    def string(self, value: str) -> Writer:
        return self.buffer(value.encode("utf-8"))

    def strings(self, values: list[str]) -> Writer:
        self.int(len(values))
        for value in values:
            self.string(value)
        return self

    def raw(self, data: bytes) -> Writer:
        self._parts.append(data)
        return self

    def bytes(self) -> bytes:
        return b"".join(self._parts)
