"""The peer wire codec: every ZAB message and forwarded value round-trips; nothing else decodes."""

from __future__ import annotations

import json

import pytest

from coordsvc.errors import NodeExistsError
from coordsvc.request import ops
from coordsvc.request.ensemble import CreateSessionOp, ForwardReply
from coordsvc.server.peer_codec import WIRE_TYPES, PeerCodecError, decode, encode
from coordsvc.storage.lmdb_store import LmdbStorage
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.txn import CreateSessionTxn, CreateTxn, SetDataTxn, Txn, make_zxid
from coordsvc.tree.znode import NodeKind
from coordsvc.zab import messages as zm

Z = make_zxid(3, 7)
TXN = Txn(Z, 1234, 0x55, -9, CreateTxn("/a", b"\x00\xff", NodeKind.PERSISTENT, 0, 0))


def _image():
    tree = DataTree()
    tree.apply(Txn(make_zxid(1, 1), 1, 0, 0, CreateSessionTxn(0x77, 4000, b"pw")))
    tree.apply(Txn(make_zxid(1, 2), 2, 0, 0, CreateTxn("/n", b"d", NodeKind.PERSISTENT, 0, 0)))
    return tree.image()


MESSAGES = [
    zm.Vote(2, Z, 3, 5, zm.Role.LOOKING),
    zm.FollowerInfo(3, Z, 65536),
    zm.ObserverInfo(3, Z, 65537),
    zm.NewEpoch(4, 65536),
    zm.AckEpoch(4, 3, Z, 65536, True),
    zm.Diff(4, 1, Z),
    zm.Trunc(4, 1, Z),
    zm.Snap(4, 1, make_zxid(1, 2), None),
    zm.NewLeader(4, 1, Z),
    zm.AckNewLeader(4, 1, Z),
    zm.UpToDate(4, 1, Z),
    zm.Proposal(4, Z - 1, TXN),
    zm.Ack(4, Z),
    zm.Commit(4, Z),
    zm.Inform(4, Z - 1, TXN),
    zm.Ping(4, Z, Z, 9, 65536),
    zm.PingAck(4, 9, (1, 2, 3)),
    zm.Forward(4, (2, 0x55, 17, ops.Create("/x", b"v", ephemeral=True, sequential=True))),
    zm.Forward(4, (2, 0x55, 18, CreateSessionOp(0x55, 4000, b"secret"))),
    zm.Forward(
        4, (2, 0, -5, ops.Multi((ops.Check("/a", 1), ops.SetData("/a", b"z"), ops.Delete("/b"))))
    ),
    zm.Forward(4, (2, 0x55, 19, ops.CloseSession())),
    zm.ReadIndex(4, (1, 2)),
    zm.ReadIndexReply(4, (1, 2), Z),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg) -> None:
    assert decode(encode(msg)) == msg


def test_every_zab_message_type_is_covered() -> None:
    covered = {type(m) for m in MESSAGES}
    assert covered == {t for t in WIRE_TYPES if t.__module__ == zm.__name__}


def test_a_snap_carries_the_tree_image() -> None:
    image = _image()
    got = decode(encode(zm.Snap(4, 1, image.last_zxid, image)))
    assert got.image.last_zxid == image.last_zxid
    assert DataTree.from_image(got.image).get("/n").data == b"d"
    assert set(got.image.sessions) == {0x77}


def test_a_forward_reply_keeps_its_error_and_results() -> None:
    err = ForwardReply(2, 0x55, 17, None, NodeExistsError("node /x already exists", "/x"))
    got = decode(encode(err))
    assert isinstance(got.error, NodeExistsError) and got.error.path == "/x"
    multi = ops.MultiResult((ops.CheckResult(), NodeExistsError("x", "/y")), failed=True)
    got = decode(encode(ForwardReply(2, 1, 2, multi, None)))
    assert got.result.failed and isinstance(got.result.results[1], NodeExistsError)


def test_values_off_the_whitelist_are_refused_both_ways() -> None:
    class Evil:
        pass

    with pytest.raises(TypeError):
        encode(zm.Forward(1, Evil()))
    with pytest.raises(PeerCodecError):
        decode(json.dumps({"d": "Popen", "f": {}}).encode())
    with pytest.raises(PeerCodecError):
        decode(json.dumps({"d": "Ack", "f": {"epoch": 1, "zxid": 2, "x": 3}}).encode())
    with pytest.raises(PeerCodecError):
        decode(b"\x80not json")


def test_frequent_messages_are_compact_and_malformed_frames_are_refused() -> None:
    """Broadcast, heartbeat and read-index messages skip JSON; a bad frame is a PeerCodecError."""
    assert len(encode(zm.Commit(4, Z))) == 17
    assert len(encode(zm.ReadIndex(4, (1, 2, 3)))) == 1 + 8 + 3 * 8
    proposal = encode(zm.Proposal(4, Z - 1, TXN))
    for frame in (proposal, encode(zm.Ping(4, Z, Z, 9, 65536)), encode(zm.PingAck(4, 9, (-1,)))):
        assert not frame.startswith(b"{")
    for bad in (
        encode(zm.Ack(4, Z))[:-1],  # truncated
        encode(zm.Commit(4, Z)) + b"\x00",  # trailing bytes
        proposal[:17] + b"\xff\xff\xff",  # not a txn record
        proposal[:10],
        encode(zm.ReadIndex(4, (1, 2)))[:-1],  # a tuple cut mid-value
    ):
        with pytest.raises(PeerCodecError):
            decode(bad)


@pytest.mark.parametrize(
    "msg",
    [zm.ReadIndex(4, ("ctx", 1)), zm.PingAck(4, 1, (1 << 64,)), zm.Ping(4, -1, 0, 0, 0)],
    ids=["non-int-ctx", "huge-touch", "negative-field"],
)
def test_values_a_frame_cannot_hold_travel_as_json(msg) -> None:
    assert encode(msg).startswith(b"{")
    assert decode(encode(msg)) == msg


def test_install_snapshot_past_the_log_end_survives_a_reopen(tmp_path) -> None:
    with LmdbStorage(tmp_path, sync=False) as store:
        store.append(
            [Txn(make_zxid(1, 1), 1, 0, 0, CreateTxn("/old", b"", NodeKind.PERSISTENT, 0, 0))]
        )
        store.append([Txn(make_zxid(1, 2), 1, 0, 0, SetDataTxn("/old", b"x", 1))])
        image = _image()
        big = DataTree.from_image(image)
        big.apply(Txn(make_zxid(2, 5), 3, 0, 0, CreateTxn("/far", b"", NodeKind.PERSISTENT, 0, 0)))
        store.install_snapshot(big.image())
        assert store.last_zxid() == make_zxid(2, 5)
        store.append([Txn(make_zxid(2, 6), 4, 0, 0, SetDataTxn("/far", b"y", 1))])
    with LmdbStorage(tmp_path) as store:
        init = store.initial_state()
        assert init.snapshot_zxid == make_zxid(2, 5)
        assert init.last_zxid == make_zxid(2, 6)
        assert [t.zxid for t in store.entries(make_zxid(2, 5), make_zxid(2, 6))] == [
            make_zxid(2, 6)
        ]
