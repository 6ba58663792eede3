"""validate(): the tree-free checks every request passes before anything else."""

from __future__ import annotations

import pytest

from coordsvc.errors import (
    BadArgumentsError,
    CoordError,
    DataTooLargeError,
    InvalidPathError,
    InvalidTTLError,
)
from coordsvc.request.ops import (
    LOCAL,
    AddWatch,
    Check,
    CloseSession,
    Create,
    Delete,
    Exists,
    GetChildren,
    GetData,
    Multi,
    RemoveWatches,
    SetData,
    Sync,
)
from coordsvc.request.validate import MAX_TTL_MS, Limits, invalid_op, validate

MAX = 100
LIMITS = Limits(max_data_bytes=MAX, max_multi_ops=5)
BAD = "/a//b"

# (op, has_session) -> error class, or None when the request is well formed
CASES = [
    # data size: ok at the limit, too large one byte over
    (Create("/a", b"x" * MAX), False, None),
    (Create("/a", b"x" * (MAX + 1)), False, DataTooLargeError),
    (SetData("/a", b"x" * MAX), False, None),
    (SetData("/a", b"x" * (MAX + 1)), False, DataTooLargeError),
    (Create("/a", "text"), False, BadArgumentsError),  # type: ignore[arg-type]
    # multi: each op within the limit, but the total over it
    (Multi((Create("/a", b"x" * 50), SetData("/b", b"y" * 50))), False, None),
    (Multi((Create("/a", b"x" * 50), SetData("/b", b"y" * 51))), False, DataTooLargeError),
    (Multi((Create("/a", b"x" * (MAX + 1)),)), False, DataTooLargeError),
    (Multi(tuple(Check(f"/n{i}") for i in range(5))), False, None),
    (Multi(tuple(Check(f"/n{i}") for i in range(6))), False, BadArgumentsError),
    (Multi((Check("/a"), GetData("/a"))), False, BadArgumentsError),  # type: ignore[arg-type]
    (Multi((CloseSession(),)), True, BadArgumentsError),  # type: ignore[arg-type]
    (Multi(()), False, None),
    # ephemeral needs a session; ephemeral containers make no sense
    (Create("/e", ephemeral=True), False, BadArgumentsError),
    (Create("/e", ephemeral=True), True, None),
    (Multi((Create("/e", ephemeral=True),)), False, BadArgumentsError),
    (Create("/e", ephemeral=True, container=True), True, BadArgumentsError),
    # TTL: persistent nodes only, in range
    (Create("/t", ttl_ms=1), False, None),
    (Create("/t", ttl_ms=MAX_TTL_MS), False, None),
    (Create("/t", ttl_ms=MAX_TTL_MS + 1), False, InvalidTTLError),
    (Create("/t", ttl_ms=-1), False, InvalidTTLError),
    (Create("/t", ttl_ms=1000, ephemeral=True), True, InvalidTTLError),
    (Create("/t", ttl_ms=1000, container=True), False, InvalidTTLError),
    (Create("/t", ttl_ms=1000, sequential=True), False, None),
    # versions: -1 means any, below that is malformed
    (Delete("/a", version=-1), False, None),
    (Delete("/a", version=0), False, None),
    (Delete("/a", version=-2), False, BadArgumentsError),
    (SetData("/a", b"", version=-2), False, BadArgumentsError),
    (Check("/a", version=-5), False, BadArgumentsError),
    (Multi((Check("/a", version=-2),)), False, BadArgumentsError),
    # watches need a session
    (Exists("/a", watch=True), False, BadArgumentsError),
    (Exists("/a", watch=True), True, None),
    (GetData("/a", watch=True), False, BadArgumentsError),
    (GetChildren("/a", watch=True), False, BadArgumentsError),
    (GetChildren("/a", watch=False), False, None),
    (AddWatch("/a"), False, BadArgumentsError),
    (AddWatch("/a", recursive=True), True, None),
    (RemoveWatches("/a"), False, BadArgumentsError),
    (RemoveWatches("/a", kind="persistent_recursive"), True, None),
    (RemoveWatches("/a", kind="bogus"), True, BadArgumentsError),
    # consistency
    (GetData("/a", consistency=LOCAL), False, None),
    (GetData("/a", consistency="eventual"), False, BadArgumentsError),
    (Exists("/a", consistency="strong"), False, BadArgumentsError),
    (GetChildren("/a", consistency=""), False, BadArgumentsError),
    # root: cannot be created (except as a sequential parent) or deleted
    (Delete("/"), False, BadArgumentsError),
    (Create("/"), False, BadArgumentsError),
    (Create("/", sequential=True), False, None),
    (Create("/q/", sequential=True), False, None),
    # sessions
    (CloseSession(), False, BadArgumentsError),
    (CloseSession(), True, None),
    (object(), True, BadArgumentsError),  # not a request at all
]


def refusal(op, has_session: bool) -> CoordError | None:
    """The error a request gets: from validate, or per op for a malformed op of a multi."""
    try:
        validate(op, LIMITS, has_session=has_session)
    except CoordError as err:
        return err
    if isinstance(op, Multi):
        bad = invalid_op(op.ops, LIMITS, has_session=has_session)
        if bad is not None:
            return bad[1]
    return None


@pytest.mark.parametrize(("op", "has_session", "error"), CASES, ids=repr)
def test_validate(op, has_session: bool, error) -> None:
    err = refusal(op, has_session)
    if error is None:
        assert err is None
    else:
        assert isinstance(err, error), err


def test_a_malformed_op_of_a_multi_is_answered_per_op() -> None:
    multi = Multi((Check("/ok"), Create("bad"), SetData("/v", b"", version=-2)))
    assert validate(multi, LIMITS, has_session=True) is None  # the whole is well formed
    index, err = invalid_op(multi.ops, LIMITS, has_session=True)
    assert index == 1 and isinstance(err, InvalidPathError) and err.path == "bad"


# every op that carries a path, built around a given path
PATH_OPS = [
    lambda p: Create(p),
    lambda p: Create(p, sequential=True),
    lambda p: Delete(p),
    lambda p: SetData(p, b""),
    lambda p: Check(p),
    lambda p: Exists(p),
    lambda p: GetData(p),
    lambda p: GetChildren(p),
    lambda p: Sync(p),
    lambda p: AddWatch(p),
    lambda p: RemoveWatches(p),
    lambda p: Multi((Check("/ok"), Create(p))),
    lambda p: Multi((Delete(p),)),
    lambda p: Multi((SetData("/ok", b""), SetData(p, b""))),
    lambda p: Multi((Check(p),)),
]


@pytest.mark.parametrize("make", PATH_OPS, ids=range(len(PATH_OPS)))
@pytest.mark.parametrize("path", [BAD, "", "a", "/a/../b", "/x\x00"])
def test_invalid_path_in_every_op(make, path: str) -> None:
    err = refusal(make(path), has_session=True)
    assert isinstance(err, InvalidPathError)
    assert err.path == path


@pytest.mark.parametrize("make", PATH_OPS, ids=range(len(PATH_OPS)))
def test_same_ops_with_a_good_path_pass(make) -> None:
    assert refusal(make("/good"), has_session=True) is None


def test_default_limit_is_one_mebibyte() -> None:
    limits = Limits()
    validate(SetData("/a", b"\0" * (1 << 20)), limits, has_session=False)
    with pytest.raises(DataTooLargeError):
        validate(SetData("/a", b"\0" * ((1 << 20) + 1)), limits, has_session=False)


def test_errors_carry_the_path() -> None:
    with pytest.raises(DataTooLargeError) as info:
        validate(SetData("/big", b"x" * (MAX + 1)), LIMITS, has_session=False)
    assert info.value.path == "/big"
    assert info.value.code == "DATA_TOO_LARGE"
