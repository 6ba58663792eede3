"""Argument checks done before anything is sent: clear TypeErrors and ValueErrors.

Only the type and shape of arguments are checked here; path syntax is the
server's to judge (it answers InvalidPathError), so the rules live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["check_path", "check_value", "check_version", "check_watch", "check_create_flags"]


def check_path(path: object) -> str:
    """A path must be a str (its syntax is checked by the server)."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    return path


def check_value(value: object) -> bytes:
    """Node data must be bytes-like; text must be encoded by the caller."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"value must be bytes, not {type(value).__name__}")


def check_version(version: object) -> int:
    """A version is an int >= -1 (-1: any version)."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"version must be an int, not {type(version).__name__}")
    if version < -1:
        raise ValueError(f"version must be -1 (any) or a node version, not {version}")
    return version


def check_watch(watch: object) -> Callable[..., Any] | None:
    """A watch is None or a callable taking one WatchedEvent."""
    if watch is not None and not callable(watch):
        raise TypeError(f"watch must be callable, not {type(watch).__name__}")
    return watch  # type: ignore[return-value]


def check_create_flags(ephemeral: bool, container: bool, ttl: int | None) -> None:
    """Reject flag combinations no node kind allows."""
    if ephemeral and container:
        raise ValueError("a node cannot be both ephemeral and a container")
    if ttl is not None:
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            raise TypeError(f"ttl must be an int (milliseconds), not {type(ttl).__name__}")
        if ttl <= 0:
            raise ValueError("ttl must be a positive number of milliseconds")
        if ephemeral or container:
            raise ValueError("ttl applies to persistent nodes only")
