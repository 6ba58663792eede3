"""ZooKeeper's path rules (coordsvc.tree.paths), as tables."""

from __future__ import annotations

import pytest

from coordsvc.errors import InvalidPathError
from coordsvc.tree.paths import (
    MAX_PATH_BYTES,
    basename,
    is_ancestor,
    join,
    parent_of,
    sequence_name,
    validate_path,
)

VALID = [
    "/",
    "/a",
    "/a/b",
    "/a/b/c",
    "/...",  # three dots is an ordinary name
    "/.a",
    "/a.",
    "/a..b",
    "/zookeeper",
    "/with space",
    "/\u00a0",  # just above the forbidden C1 block
    "/\u00e9t\u00e9",
    "/\U0001f600",  # astral characters are allowed
    "/\uf900",  # just above the forbidden surrogate/private block
    "/\uffef",  # just below the forbidden specials block
    "/" + "a" * (MAX_PATH_BYTES - 1),  # exactly at the byte limit
]

INVALID = [
    "",
    "a",
    "a/b",
    "/a/",
    "//",
    "/a//b",
    "/a/./b",
    "/a/../b",
    "/.",
    "/..",
    "/a/.",
    "/a/..",
    "/a\x00b",
    "/a\x01",
    "/a\x1f",
    "/a\x7f",
    "/a\x9f",
    "/a\ud800",  # lone surrogate
    "/\udfff",
    "/\ue000",  # private use
    "/\uf8ff",
    "/\ufff0",
    "/\ufffd",
    "/\uffff",
    "/" + "a" * MAX_PATH_BYTES,  # one byte over
    "/" + "\u00e9" * (MAX_PATH_BYTES // 2),  # few characters, but too many bytes
]


@pytest.mark.parametrize("path", VALID)
def test_valid_paths_are_returned_unchanged(path: str) -> None:
    assert validate_path(path) is path


@pytest.mark.parametrize("path", INVALID)
def test_invalid_paths_raise_with_the_input_path(path: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        validate_path(path)
    assert info.value.path == path
    assert info.value.code == "INVALID_PATH"


@pytest.mark.parametrize("path", ["/a/", "/", "/a", "/a/b/", "/a/b-"])
def test_sequential_allows_a_trailing_slash(path: str) -> None:
    assert validate_path(path, sequential=True) is path


@pytest.mark.parametrize("path", ["", "a/", "/a//", "/./", "/../", "/a/./", "//", "/a\x00/"])
def test_sequential_still_rejects_bad_paths(path: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        validate_path(path, sequential=True)
    assert info.value.path == path


def test_non_string_path_is_invalid() -> None:
    with pytest.raises(InvalidPathError):
        validate_path(b"/a")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "parent"),
    [("/a", "/"), ("/a/b", "/a"), ("/a/b/c", "/a/b"), ("/abc/def", "/abc")],
)
def test_parent_of(path: str, parent: str) -> None:
    assert parent_of(path) == parent


@pytest.mark.parametrize(
    ("path", "name"),
    [("/", ""), ("/a", "a"), ("/a/b", "b"), ("/a/b0000000001", "b0000000001")],
)
def test_basename(path: str, name: str) -> None:
    assert basename(path) == name


@pytest.mark.parametrize(
    ("parent", "name", "path"),
    [("/", "a", "/a"), ("/a", "b", "/a/b"), ("/a/b", "c", "/a/b/c")],
)
def test_join_and_its_inverses(parent: str, name: str, path: str) -> None:
    assert join(parent, name) == path
    assert parent_of(path) == parent
    assert basename(path) == name


@pytest.mark.parametrize(
    ("ancestor", "path", "expected"),
    [
        ("/", "/", True),
        ("/", "/a", True),
        ("/", "/a/b", True),
        ("/a", "/a", True),
        ("/a", "/a/b", True),
        ("/a", "/a/b/c", True),
        ("/a", "/ab", False),  # a prefix of the name is not an ancestor
        ("/a", "/b", False),
        ("/a/b", "/a", False),  # a descendant is not an ancestor
        ("/a", "/", False),
    ],
)
def test_is_ancestor(ancestor: str, path: str, expected: bool) -> None:
    assert is_ancestor(ancestor, path) is expected


@pytest.mark.parametrize(
    ("path", "counter", "expected"),
    [
        ("/lock-", 0, "/lock-0000000000"),
        ("/lock-", 1, "/lock-0000000001"),
        ("/q/", 42, "/q/0000000042"),
        ("/x", 9_999_999_999, "/x9999999999"),
        ("/x", 10_000_000_000, "/x10000000000"),  # grows wider, never wraps
        ("/x", (1 << 63) - 1, f"/x{(1 << 63) - 1}"),
    ],
)
def test_sequence_name(path: str, counter: int, expected: str) -> None:
    assert sequence_name(path, counter) == expected


@pytest.mark.parametrize("counter", [-1, -(1 << 31)])
def test_sequence_name_refuses_negatives(counter: int) -> None:
    with pytest.raises(ValueError):
        sequence_name("/x", counter)
