"""Table tests of server/codec.py: wire messages <-> coordsvc values."""

from __future__ import annotations

import pytest

from coordsvc import errors
from coordsvc.request import ops
from coordsvc.request.events import WatchEventValue
from coordsvc.server import codec
from coordsvc.tree.znode import Stat
from coordsvc.v1 import coordination_pb2 as pb

STAT = Stat(
    czxid=1,
    mzxid=2,
    pzxid=3,
    ctime=4,
    mtime=5,
    version=6,
    cversion=7,
    aversion=8,
    ephemeral_owner=9,
    data_length=10,
    num_children=11,
)


def test_stat_round_trip_keeps_every_field() -> None:
    msg = codec.stat_to_pb(STAT)
    assert msg.czxid == 1 and msg.num_children == 11 and msg.ephemeral_owner == 9
    assert codec.stat_from_pb(msg) == STAT


REQUESTS = [
    (
        pb.Request(xid=1, create=pb.CreateRequest(path="/a", data=b"x", ephemeral=True)),
        ops.Create("/a", b"x", ephemeral=True),
    ),
    (
        pb.Request(xid=1, create=pb.CreateRequest(path="/t", ttl_ms=500, sequential=True)),
        ops.Create("/t", b"", sequential=True, ttl_ms=500),
    ),
    (pb.Request(xid=2, delete=pb.DeleteRequest(path="/a")), ops.Delete("/a", -1)),
    (pb.Request(xid=2, delete=pb.DeleteRequest(path="/a", version=0)), ops.Delete("/a", 0)),
    (
        pb.Request(xid=3, set_data=pb.SetDataRequest(path="/a", data=b"y", version=4)),
        ops.SetData("/a", b"y", 4),
    ),
    (
        pb.Request(xid=3, set_data=pb.SetDataRequest(path="/a", data=b"y")),
        ops.SetData("/a", b"y", -1),
    ),
    (
        pb.Request(xid=4, exists=pb.ExistsRequest(path="/a", watch=True)),
        ops.Exists("/a", True, "linearizable"),
    ),
    (
        pb.Request(xid=5, get_data=pb.GetDataRequest(path="/a", consistency=pb.CONSISTENCY_LOCAL)),
        ops.GetData("/a", False, "local"),
    ),
    (
        pb.Request(xid=6, get_children=pb.GetChildrenRequest(path="/", include_data=True)),
        ops.GetChildren("/", False, True, "linearizable"),
    ),
    (pb.Request(xid=7, sync=pb.SyncRequest(path="/a")), ops.Sync("/a")),
    (
        pb.Request(
            xid=8,
            add_watch=pb.AddWatchRequest(path="/a", mode=pb.WATCH_MODE_PERSISTENT_RECURSIVE),
        ),
        ops.AddWatch("/a", recursive=True),
    ),
    (pb.Request(xid=8, add_watch=pb.AddWatchRequest(path="/a")), ops.AddWatch("/a", False)),
    (
        pb.Request(
            xid=9, remove_watches=pb.RemoveWatchesRequest(path="/a", type=pb.WATCHER_TYPE_DATA)
        ),
        ops.RemoveWatches("/a", "data"),
    ),
    (
        pb.Request(
            xid=9,
            remove_watches=pb.RemoveWatchesRequest(
                path="/a", type=pb.WATCHER_TYPE_PERSISTENT_RECURSIVE
            ),
        ),
        ops.RemoveWatches("/a", "persistent_recursive"),
    ),
    (pb.Request(xid=10, close_session=pb.CloseSessionRequest()), ops.CloseSession()),
    (
        pb.Request(
            xid=11,
            multi=pb.MultiRequest(
                ops=[
                    pb.Op(create=pb.CreateRequest(path="/m", data=b"1")),
                    pb.Op(check=pb.CheckRequest(path="/m")),
                    pb.Op(check=pb.CheckRequest(path="/m", version=3)),
                    pb.Op(set_data=pb.SetDataRequest(path="/m", data=b"2", version=0)),
                    pb.Op(delete=pb.DeleteRequest(path="/m")),
                ]
            ),
        ),
        ops.Multi(
            (
                ops.Create("/m", b"1"),
                ops.Check("/m", -1),
                ops.Check("/m", 3),
                ops.SetData("/m", b"2", 0),
                ops.Delete("/m", -1),
            )
        ),
    ),
]


@pytest.mark.parametrize(("msg", "expected"), REQUESTS)
def test_request_decodes_to_op(msg: pb.Request, expected: ops.Op) -> None:
    assert codec.op_from_request(msg) == expected


BAD_REQUESTS = [
    pb.Request(xid=1),  # no op set
    pb.Request(xid=1, multi=pb.MultiRequest(ops=[pb.Op()])),  # empty op in a multi
    pb.Request(xid=1, exists=pb.ExistsRequest(path="/a", consistency=7)),  # unknown enum
    pb.Request(xid=1, add_watch=pb.AddWatchRequest(path="/a", mode=9)),
    pb.Request(xid=1, remove_watches=pb.RemoveWatchesRequest(path="/a", type=9)),
]


@pytest.mark.parametrize("msg", BAD_REQUESTS)
def test_malformed_request_is_bad_arguments(msg: pb.Request) -> None:
    with pytest.raises(errors.BadArgumentsError):
        codec.op_from_request(msg)


def test_unknown_oneof_from_a_newer_client_is_bad_arguments() -> None:
    # a field number this server does not know parses as an unknown field: no op set
    raw = pb.Request(xid=5).SerializeToString() + bytes([(15 << 3) | 2, 0])  # field 15: unknown
    msg = pb.Request.FromString(raw)
    with pytest.raises(errors.BadArgumentsError):
        codec.op_from_request(msg)


RESULTS = [
    (ops.CreateResult("/a0000000001", STAT), None, "create"),
    (ops.DeleteResult(), None, "delete"),
    (ops.ExistsResult(STAT), None, "exists"),
    (ops.ExistsResult(None), None, "exists"),
    (ops.GetDataResult(b"v", STAT), None, "get_data"),
    (ops.SetDataResult(STAT), None, "set_data"),
    (ops.GetChildrenResult(("a", "b"), STAT), None, "get_children"),
    (ops.SyncResult("/a"), None, "sync"),
    (ops.Done(), "add_watch", "add_watch"),
    (ops.Done(), "remove_watches", "remove_watches"),
    (ops.Done(), "close_session", "close_session"),
]


@pytest.mark.parametrize(("result", "field", "expected_field"), RESULTS)
def test_result_encodes_into_its_response_field(result, field, expected_field) -> None:
    resp = codec.response_to_pb(7, 42, result, field=field)
    assert resp.xid == 7 and resp.zxid == 42
    assert resp.WhichOneof("result") == expected_field
    assert not resp.HasField("error")


def test_result_fields_carry_values() -> None:
    resp = codec.response_to_pb(1, 2, ops.GetDataResult(b"v", STAT))
    assert resp.get_data.data == b"v" and codec.stat_from_pb(resp.get_data.stat) == STAT
    assert not codec.response_to_pb(1, 2, ops.ExistsResult(None)).exists.HasField("stat")
    kids = ops.GetChildrenResult(("a",), STAT, (ops.Child("a", b"d", STAT),))
    resp = codec.response_to_pb(1, 2, kids)
    assert list(resp.get_children.names) == ["a"]
    assert resp.get_children.children[0].name == "a" and resp.get_children.children[0].data == b"d"


def test_done_without_field_is_rejected() -> None:
    with pytest.raises(TypeError):
        codec.response_to_pb(1, 2, ops.Done())


@pytest.mark.parametrize("code", sorted(errors.EXCEPTIONS))
def test_every_registered_error_round_trips(code: str) -> None:
    err = errors.EXCEPTIONS[code]("why", "/p")
    resp = codec.response_to_pb(3, 4, error=err)
    assert resp.WhichOneof("result") is None
    assert pb.ErrorCode.Name(resp.error.code) == code
    back = codec.error_from_pb(resp.error)
    assert type(back) is type(err) and back.message == "why" and back.path == "/p"


def test_multi_result_with_failures_maps_errors_per_op() -> None:
    result = ops.MultiResult(
        (errors.RuntimeInconsistency(), errors.NoNodeError("gone", "/b")), failed=True
    )
    resp = codec.response_to_pb(1, 2, result)
    kinds = [r.WhichOneof("result") for r in resp.multi.results]
    assert kinds == ["error", "error"]
    assert pb.ErrorCode.Name(resp.multi.results[1].error.code) == "NO_NODE"
    ok = ops.MultiResult(
        (
            ops.CreateResult("/a", STAT),
            ops.CheckResult(),
            ops.SetDataResult(STAT),
            ops.DeleteResult(),
        )
    )
    kinds = [r.WhichOneof("result") for r in codec.response_to_pb(1, 2, ok).multi.results]
    assert kinds == ["create", "check", "set_data", "delete"]


@pytest.mark.parametrize(
    "etype", ["NODE_CREATED", "NODE_DELETED", "NODE_DATA_CHANGED", "NODE_CHILDREN_CHANGED"]
)
def test_watch_event_round_trip(etype: str) -> None:
    event = WatchEventValue(etype, "/a/b", 99)
    msg = codec.event_to_pb(event)
    assert pb.EventType.Name(msg.type) == etype and msg.path == "/a/b" and msg.zxid == 99
    assert codec.event_from_pb(msg) == event


def test_unary_decoders_match_stream_decoders() -> None:
    assert codec.delete_from_pb(pb.DeleteRequest(path="/a", version=-1)) == ops.Delete("/a", -1)
    assert codec.check_from_pb(pb.CheckRequest(path="/a")) == ops.Check("/a", -1)
    assert codec.get_children_from_pb(
        pb.GetChildrenRequest(path="/a", consistency=pb.CONSISTENCY_LOCAL)
    ) == ops.GetChildren("/a", consistency="local")
