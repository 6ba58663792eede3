"""Protobuf conversion, argument checks and the transaction builder."""

from __future__ import annotations

import pytest
from coordsvc.client import codec
from coordsvc.client.args import check_create_flags, check_value, check_version, check_watch
from coordsvc.client.errors import (
    EXCEPTIONS,
    BadVersionError,
    NoNodeError,
    RolledBackError,
    SystemZookeeperError,
)
from coordsvc.client.transaction import Transaction

from coordsvc.tree.znode import Stat
from coordsvc.v1 import coordination_pb2 as pb


def test_stat_round_trip_field_for_field() -> None:
    fields = {name: i + 1 for i, name in enumerate(Stat.__dataclass_fields__)}
    assert codec.stat_from_pb(pb.Stat(**fields)) == Stat(**fields)


@pytest.mark.parametrize("code", sorted(EXCEPTIONS))
def test_every_wire_code_maps_to_its_registry_class(code: str) -> None:
    exc = codec.error_from_pb(pb.Error(code=pb.ErrorCode.Value(code), message="m", path="/p"))
    assert type(exc) is EXCEPTIONS[code]
    assert (exc.message, exc.path) == ("m", "/p")


def test_unknown_error_code_is_a_system_error() -> None:
    assert isinstance(codec.error_from_pb(pb.Error(code=999)), SystemZookeeperError)


@pytest.mark.parametrize(
    ("op", "has_version"),
    [
        (codec.delete("/a", -1), False),
        (codec.delete("/a", 0), True),
        (codec.set_data("/a", b"", -1), False),
        (codec.set_data("/a", b"", 3), True),
        (codec.check("/a", -1), False),
        (codec.check("/a", 7), True),
    ],
)
def test_version_minus_one_leaves_the_field_unset(op: codec.OpMessage, has_version: bool) -> None:
    _name, msg = op
    assert msg.HasField("version") is has_version


def test_create_op_fields() -> None:
    name, msg = codec.create("/a", b"v", ephemeral=True, sequence=True, container=False, ttl=None)
    assert name == "create"
    assert (msg.path, msg.data, msg.ephemeral, msg.sequential, msg.ttl_ms) == (
        "/a",
        b"v",
        True,
        True,
        0,
    )
    assert (
        codec.create("/a", b"", ephemeral=False, sequence=False, container=False, ttl=500)[1].ttl_ms
        == 500
    )


@pytest.mark.parametrize(
    ("res", "expected"),
    [
        (pb.OpResult(create=pb.CreateResponse(path="/a0001")), "/a0001"),
        (pb.OpResult(delete=pb.DeleteResponse()), True),
        (pb.OpResult(check=pb.CheckResponse()), True),
        (pb.OpResult(set_data=pb.SetDataResponse(stat=pb.Stat(version=2))), Stat(version=2)),
    ],
)
def test_op_results(res: pb.OpResult, expected: object) -> None:
    assert codec.op_result(res) == expected


def test_failed_transaction_results() -> None:
    failed = codec.op_result(pb.OpResult(error=pb.Error(code=pb.BAD_VERSION, path="/a")))
    undone = codec.op_result(pb.OpResult(error=pb.Error(code=pb.RUNTIME_INCONSISTENCY)))
    assert isinstance(failed, BadVersionError) and failed.path == "/a"
    assert isinstance(undone, RolledBackError)


def test_consistency() -> None:
    assert codec.consistency_pb("local") == pb.CONSISTENCY_LOCAL
    assert codec.consistency_pb("linearizable") == pb.CONSISTENCY_LINEARIZABLE
    with pytest.raises(ValueError):
        codec.consistency_pb("eventual")


@pytest.mark.parametrize(
    ("fn", "arg", "exc"),
    [
        (check_value, "text", TypeError),
        (check_value, 5, TypeError),
        (check_value, None, TypeError),
        (check_version, "1", TypeError),
        (check_version, True, TypeError),
        (check_version, -2, ValueError),
        (check_watch, "cb", TypeError),
    ],
)
def test_argument_checks(fn, arg, exc) -> None:
    with pytest.raises(exc):
        fn(arg)


def test_bytes_like_values_are_accepted() -> None:
    assert check_value(bytearray(b"ab")) == b"ab"
    assert check_value(memoryview(b"cd")) == b"cd"


@pytest.mark.parametrize(
    ("ephemeral", "container", "ttl", "exc"),
    [
        (True, True, None, ValueError),
        (True, False, 100, ValueError),
        (False, True, 100, ValueError),
        (False, False, 0, ValueError),
        (False, False, 1.5, TypeError),
    ],
)
def test_bad_create_flags(ephemeral: bool, container: bool, ttl: object, exc: type) -> None:
    with pytest.raises(exc):
        check_create_flags(ephemeral, container, ttl)  # type: ignore[arg-type]


async def test_transaction_builds_ops_in_order_and_commits_once() -> None:
    sent: list[list[codec.OpMessage]] = []

    async def committer(ops: list[codec.OpMessage]) -> list[object]:
        sent.append(list(ops))
        return ["/a", True]

    txn = Transaction(committer)
    txn.create("/a", b"1")
    txn.check("/b", 2)
    txn.set_data("/c", b"x")
    txn.delete("/d", version=4)
    assert [name for name, _ in txn.operations] == ["create", "check", "set_data", "delete"]
    assert await txn.commit() == ["/a", True]
    assert len(sent) == 1
    with pytest.raises(ValueError):
        await txn.commit()
    with pytest.raises(ValueError):
        txn.delete("/e")


async def test_transaction_checks_arguments_and_empty_commit() -> None:
    async def committer(ops):  # pragma: no cover - must not be called
        raise AssertionError("empty transaction sent")

    txn = Transaction(committer)
    with pytest.raises(TypeError):
        txn.create("/a", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        txn.delete(5)  # type: ignore[arg-type]
    assert await txn.commit() == []


def test_nonode_is_a_registry_class() -> None:
    assert NoNodeError.code == "NO_NODE"
