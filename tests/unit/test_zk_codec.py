"""The ZooKeeper codec against kazoo's own serializers, without sockets.

Requests are built by kazoo exactly as it sends them to ZooKeeper and must
decode to the coordsvc request they mean; replies we encode must read back
through kazoo's deserializers as the values a ZooKeeper server would send.
"""

from __future__ import annotations

import struct

import pytest
from kazoo.exceptions import NoNodeError, RolledBackError, RuntimeInconsistency
from kazoo.protocol.serialization import (
    CheckVersion,
    Connect,
    Create,
    Create2,
    Delete,
    Exists,
    GetACL,
    GetChildren,
    GetChildren2,
    GetData,
    Reconfig,
    ReplyHeader,
    SetACL,
    SetData,
    Sync,
    Transaction,
    Watch,
)
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_digest_acl

from coordsvc.server.metrics import StateView
from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.zk import fourletter, replies
from coordsvc.zk.jute import JuteError, Reader, Writer, wrap_int32
from coordsvc.zk.protocol import Err, Op
from coordsvc.zk.requests import Plan, SetWatches, decode

LOCAL = pb.CONSISTENCY_LOCAL


def _decoded(request) -> Plan:
    plan = decode(request.type, bytes(request.serialize()))
    assert isinstance(plan, Plan)
    return plan


@pytest.mark.parametrize(
    ("flags", "ephemeral", "sequential", "container"),
    [(0, False, False, False), (1, True, False, False), (2, False, True, False),
     (3, True, True, False), (4, False, False, True)],
)  # fmt: skip
def test_create_modes(flags, ephemeral, sequential, container) -> None:
    plan = _decoded(Create("/a", b"d", OPEN_ACL_UNSAFE, flags))
    assert plan.refuse is Err.OK
    assert plan.request.create == pb.CreateRequest(
        path="/a", data=b"d", ephemeral=ephemeral, sequential=sequential, container=container
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (Delete("/a", 3), pb.Request(delete=pb.DeleteRequest(path="/a", version=3))),
        (Exists("/a", True), pb.Request(exists=pb.ExistsRequest(path="/a", watch=True, consistency=LOCAL))),
        (GetData("/a", False), pb.Request(get_data=pb.GetDataRequest(path="/a", consistency=LOCAL))),
        (SetData("/a", b"x", -1), pb.Request(set_data=pb.SetDataRequest(path="/a", data=b"x", version=-1))),
        (GetChildren("/a", True), pb.Request(get_children=pb.GetChildrenRequest(path="/a", watch=True, consistency=LOCAL))),
        (GetChildren2("/a", False), pb.Request(get_children=pb.GetChildrenRequest(path="/a", consistency=LOCAL))),
        (Sync("/a"), pb.Request(sync=pb.SyncRequest(path="/a"))),
        (GetACL("/a"), pb.Request(exists=pb.ExistsRequest(path="/a", consistency=LOCAL))),
        (CheckVersion("/a", 2), pb.Request(multi=pb.MultiRequest(ops=[pb.Op(check=pb.CheckRequest(path="/a", version=2))]))),
    ],
)  # fmt: skip
def test_requests_decode_to_what_they_mean(request_, expected) -> None:
    plan = _decoded(request_)
    assert (plan.op, plan.refuse, plan.request) == (request_.type, Err.OK, expected)


def test_a_transaction_keeps_each_op_and_its_kind() -> None:
    txn = Transaction(
        [
            Create("/t/a", b"1", OPEN_ACL_UNSAFE, 2),
            Delete("/t/b", -1),
            SetData("/t", b"2", 4),
            CheckVersion("/t", 4),
        ]
    )
    plan = _decoded(txn)
    assert plan.sub_ops == (Op.CREATE, Op.DELETE, Op.SET_DATA, Op.CHECK)
    kinds = [op.WhichOneof("op") for op in plan.request.multi.ops]
    assert kinds == ["create", "delete", "set_data", "check"]
    assert plan.request.multi.ops[0].create.sequential


@pytest.mark.parametrize(
    ("request_", "err"),
    [
        (Create("/a", b"", [make_digest_acl("u", "p", all=True)], 0), Err.INVALID_ACL),
        (Create("/a", b"", READ_ACL_UNSAFE, 0), Err.INVALID_ACL),
        (Create("/a", b"", [], 0), Err.INVALID_ACL),
        (SetACL("/a", READ_ACL_UNSAFE, -1), Err.INVALID_ACL),
        (Create("/a", b"", OPEN_ACL_UNSAFE, 9), Err.BAD_ARGUMENTS),
        (Create("/a", b"", OPEN_ACL_UNSAFE, 5), Err.BAD_ARGUMENTS),  # TTL mode without createTTL
        (Reconfig("", "3", "", -1), Err.UNIMPLEMENTED),
        (Transaction([GetData("/a", False)]), Err.BAD_ARGUMENTS),  # reads cannot be in a multi
    ],
)
def test_what_cannot_be_honoured_is_refused_with_zookeepers_code(request_, err) -> None:
    plan = _decoded(request_)
    assert plan.request is None and plan.refuse is err and plan.why


def test_malformed_bodies_are_refused_whole() -> None:
    body = bytes(Create("/a", b"data", OPEN_ACL_UNSAFE, 0).serialize())
    for cut in range(len(body)):
        plan = decode(Op.CREATE, body[:cut])
        assert plan.request is None and plan.refuse is Err.MARSHALLING_ERROR, cut
    bad_utf8 = struct.pack("!i", 2) + b"\xff\xfe" + struct.pack("!?", False)
    assert decode(Op.EXISTS, bad_utf8).refuse is Err.MARSHALLING_ERROR


def test_reader_limits() -> None:
    with pytest.raises(JuteError):
        Reader(struct.pack("!i", -5)).buffer()
    with pytest.raises(JuteError):
        Reader(struct.pack("!i", 1 << 30)).strings()
    assert Reader(struct.pack("!i", -1)).buffer() is None
    assert Reader(struct.pack("!i", -1)).string() == ""


def test_set_watches_decodes_every_list() -> None:
    w = Writer().long(77)
    for paths in (["/d"], ["/e1", "/e2"], []):
        w.strings(paths)
    sw = decode(Op.SET_WATCHES, w.bytes())
    assert sw == SetWatches(77, ["/d"], ["/e1", "/e2"], [])


STAT = pb.Stat(czxid=5, mzxid=9, pzxid=7, ctime=1, mtime=2, version=3, cversion=4,
               aversion=0, ephemeral_owner=0x51, data_length=4, num_children=1)  # fmt: skip


def _read_reply(frame: bytes):
    (size,) = struct.unpack("!i", frame[:4])
    assert size == len(frame) - 4
    header, offset = ReplyHeader.deserialize(frame[4:], 0)
    return header, frame[4:], offset


def test_replies_read_back_through_kazoo() -> None:
    resp = pb.Response(xid=1, zxid=42, get_data=pb.GetDataResponse(data=b"data", stat=STAT))
    header, buf, at = _read_reply(replies.reply(7, Plan(Op.GET_DATA), resp))
    assert tuple(header) == (7, 42, 0)
    data, stat = GetData.deserialize(buf, at)
    assert data == b"data" and (stat.czxid, stat.mzxid, stat.pzxid) == (5, 9, 7)
    assert (stat.version, stat.ephemeralOwner, stat.numChildren) == (3, 0x51, 1)

    resp = pb.Response(xid=1, zxid=42, create=pb.CreateResponse(path="/q/x-0000000001", stat=STAT))
    _, buf, at = _read_reply(replies.reply(8, Plan(Op.CREATE2), resp))
    assert Create2.deserialize(buf, at)[0] == "/q/x-0000000001"

    names = pb.GetChildrenResponse(names=["a", "b"], stat=STAT)
    resp = pb.Response(xid=1, zxid=42, get_children=names)
    _, buf, at = _read_reply(replies.reply(9, Plan(Op.GET_CHILDREN2), resp))
    children, stat = GetChildren2.deserialize(buf, at)
    assert children == ["a", "b"] and stat.cversion == 4


def test_exists_on_a_missing_node_is_no_node_as_in_zookeeper() -> None:
    resp = pb.Response(xid=1, zxid=42, exists=pb.ExistsResponse())
    header, _, _ = _read_reply(replies.reply(3, Plan(Op.EXISTS), resp))
    assert tuple(header) == (3, 42, NoNodeError.code)


def test_a_failed_multi_reads_as_zookeeper_reports_it() -> None:
    def err(code):
        return pb.OpResult(error=pb.Error(code=code))

    results = [err(pb.RUNTIME_INCONSISTENCY), err(pb.NO_NODE), err(pb.RUNTIME_INCONSISTENCY)]
    resp = pb.Response(xid=1, zxid=42, multi=pb.MultiResponse(results=results))
    plan = Plan(Op.MULTI, sub_ops=(Op.CREATE, Op.DELETE, Op.CREATE))
    header, buf, at = _read_reply(replies.reply(4, plan, resp))
    assert header.err == 0  # the outcome is per op, as ZooKeeper sends it
    got = Transaction.deserialize(buf, at)
    assert [type(r) for r in got] == [RolledBackError, NoNodeError, RuntimeInconsistency]


def test_connect_responses_and_notifications() -> None:
    frame = replies.connected(6000, 0x51, b"p" * 16)
    answer, _ = Connect.deserialize(frame[4:], 0)
    assert (answer.time_out, answer.session_id, answer.passwd) == (6000, 0x51, b"p" * 16)
    answer, _ = Connect.deserialize(replies.expired()[4:], 0)
    assert (answer.time_out, answer.session_id) == (0, 0)  # kazoo: SessionExpiredError
    event = pb.WatchEvent(type=pb.NODE_CHILDREN_CHANGED, path="/a", zxid=9)
    header, buf, at = _read_reply(replies.notification(event))
    assert (header.xid, header.err) == (-1, 0)
    watch, _ = Watch.deserialize(buf, at)
    assert tuple(watch) == (4, 3, "/a")


def test_versions_wrap_like_zookeepers_32_bit_fields() -> None:
    assert [wrap_int32(v) for v in (0, 2**31 - 1, 2**31, 2**32 + 5)] == [0, 2**31 - 1, -(2**31), 5]


def _view(role: str) -> StateView:
    return StateView(role=role, epoch=2, last_zxid=0x200000007, znodes=12, sessions=3,
                     watches=4, outstanding=1, connections=5, followers_in_sync=2)  # fmt: skip


@pytest.mark.parametrize(
    ("role", "mode"),
    [("standalone", "standalone"), ("leading", "leader"), ("following", "follower"),
     ("observing", "observer")],
)  # fmt: skip
def test_srvr_and_mntr_speak_zookeepers_formats(role, mode) -> None:
    srvr = fourletter.answer(b"srvr", _view(role)).decode().splitlines()
    assert f"Mode: {mode}" in srvr and "Zxid: 0x200000007" in srvr and "Node count: 12" in srvr
    mntr = dict(
        line.split("\t") for line in fourletter.answer(b"mntr", _view(role)).decode().splitlines()
    )
    assert mntr["zk_server_state"] == mode and mntr["zk_znode_count"] == "12"
    assert ("zk_synced_followers" in mntr) == (mode == "leader")


def test_a_member_that_does_not_serve_says_so_and_ruok_still_answers() -> None:
    view = _view("looking")
    assert fourletter.answer(b"srvr", view).startswith(b"This ZooKeeper instance is not currently")
    assert fourletter.answer(b"ruok", view) == b"imok"
    assert fourletter.answer(b"cons", view).endswith(b"not in the whitelist.\n")
