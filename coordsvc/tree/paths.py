"""ZooKeeper's path rules: validate, split and join znode paths.

A path is absolute, has no trailing slash (except "/"), no empty, "." or ".."
component, and none of the characters ZooKeeper forbids. Invalid paths are
rejected with InvalidPathError and never silently rewritten.
"""

from __future__ import annotations

from coordsvc.errors import InvalidPathError

__all__ = ["validate_path", "parent_of", "basename", "join", "is_ancestor", "sequence_name"]

MAX_PATH_BYTES = 4096


def _forbidden(ch: str) -> bool:
    c = ord(ch)
    return (
        c == 0
        or 0x01 <= c <= 0x1F
        or 0x7F <= c <= 0x9F
        or 0xD800 <= c <= 0xF8FF
        or 0xFFF0 <= c <= 0xFFFF
    )


def validate_path(path: str, *, sequential: bool = False) -> str:
    """Return ``path`` unchanged if it is a valid znode path, else raise.

    With ``sequential`` the path may end in "/" (the server appends the
    sequence number), as ZooKeeper allows for sequential creates.
    """
    if not isinstance(path, str):
        raise InvalidPathError("path must be a string", "")
    path_to_check = path + "1" if sequential else path
    if not path_to_check:
        raise InvalidPathError("path must not be empty", path)
    if path_to_check[0] != "/":
        raise InvalidPathError(f"path must start with '/': {path!r}", path)
    if len(path_to_check.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidPathError(f"path longer than {MAX_PATH_BYTES} bytes", path)
    if path_to_check == "/":
        return path
    if path_to_check.endswith("/"):
        raise InvalidPathError(f"path must not end with '/': {path!r}", path)
    for ch in path_to_check:
        if _forbidden(ch):
            raise InvalidPathError(f"invalid character {ch!r} in path {path!r}", path)
    for part in path_to_check[1:].split("/"):
        if part == "":
            raise InvalidPathError(f"empty component in path {path!r}", path)
        if part in (".", ".."):
            raise InvalidPathError(f"relative component {part!r} in path {path!r}", path)
    return path


def parent_of(path: str) -> str:
    """The parent path of a non-root path ("/a/b" -> "/a", "/a" -> "/")."""
    i = path.rfind("/")
    return "/" if i == 0 else path[:i]


def basename(path: str) -> str:
    """The last component ("/a/b" -> "b"; "/" -> "")."""
    return path[path.rfind("/") + 1 :]


def join(parent: str, name: str) -> str:
    """Join a parent path and a child name."""
    return parent + name if parent == "/" else f"{parent}/{name}"


def is_ancestor(ancestor: str, path: str) -> bool:
    """True when ``path`` is ``ancestor`` or lies below it."""
    if ancestor == "/" or ancestor == path:
        return True
    return path.startswith(ancestor + "/")


def sequence_name(path: str, counter: int) -> str:
    """Append a sequence counter as ZooKeeper does: 10 digits, zero-padded.

    The counter is 64-bit and never negative; past 9,999,999,999 it simply
    grows wider, so recipes must compare sequence numbers as numbers.
    """
    if counter < 0:
        raise ValueError("sequence counter must not be negative")
    return f"{path}{counter:010d}"
