"""Txn <-> TxnRecord: every body round-trips, bad input is a CodecError, the format is pinned."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordsvc.storage.codec import (
    CodecError,
    decode_txn,
    encode_txn,
    kind_from_proto,
    kind_to_proto,
    txn_from_proto,
    txn_to_proto,
)
from coordsvc.tree.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
)
from coordsvc.tree.znode import NodeKind
from coordsvc.v1 import storage_pb2 as pb

U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
# protobuf strings are UTF-8: anything but lone surrogates
PATHS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
DATA = st.binary(max_size=64)

creates = st.builds(
    CreateTxn,
    path=PATHS,
    data=DATA,
    kind=st.sampled_from(NodeKind),
    ephemeral_owner=U64,
    ttl_ms=I64,
)
deletes = st.builds(DeleteTxn, path=PATHS)
sets = st.builds(SetDataTxn, path=PATHS, data=DATA, version=I64)
checks = st.builds(CheckTxn, path=PATHS, version=I64)
znode_ops = st.one_of(creates, deletes, sets, checks)
bodies = st.one_of(
    znode_ops,
    st.builds(MultiTxn, txns=st.lists(znode_ops, max_size=5).map(tuple)),
    st.builds(CreateSessionTxn, session_id=U64, timeout_ms=I64, password=st.binary(max_size=16)),
    st.builds(CloseSessionTxn, session_id=U64, paths=st.lists(PATHS, max_size=5).map(tuple)),
)
txns = st.builds(Txn, zxid=U64, time_ms=I64, session_id=U64, xid=I64, body=bodies)


@settings(max_examples=300, deadline=None)
@given(txns)
def test_every_txn_round_trips(txn: Txn) -> None:
    assert decode_txn(encode_txn(txn)) == txn
    assert txn_from_proto(txn_to_proto(txn)) == txn


@pytest.mark.parametrize("kind", list(NodeKind))
def test_node_kinds_round_trip(kind: NodeKind) -> None:
    assert kind_from_proto(kind_to_proto(kind)) is kind


@pytest.mark.parametrize(
    "body",
    [
        DeleteTxn(path=""),  # an all-defaults body still marks which body it is
        MultiTxn(()),
        CheckTxn(path="", version=0),
        CloseSessionTxn(session_id=0, paths=()),
    ],
)
def test_empty_bodies_keep_their_type(body) -> None:
    txn = Txn(zxid=0, time_ms=0, session_id=0, xid=0, body=body)
    assert decode_txn(encode_txn(txn)) == txn


def test_wire_format_is_pinned() -> None:
    """Field numbers are the on-disk format: this fails if one changes."""
    txn = Txn(
        zxid=(1 << 40) | 5,
        time_ms=1000,
        session_id=7,
        xid=3,
        body=CreateTxn("/a", b"x", NodeKind.EPHEMERAL, ephemeral_owner=7),
    )
    assert encode_txn(txn).hex() == "0885808080802010e80718072003520b0a022f6112017818012007"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\xff\xff\xff", "not a txn record"),
        (pb.TxnRecord(zxid=5).SerializeToString(), "has no body"),
        (
            pb.TxnRecord(zxid=5, create=pb.CreateTxn(path="/a", kind=9)).SerializeToString(),
            "unknown node kind 9",
        ),
        (
            pb.TxnRecord(zxid=5, multi=pb.MultiTxn(ops=[pb.MultiTxnOp()])).SerializeToString(),
            "not a znode operation",
        ),
    ],
)
def test_bad_records_are_codec_errors(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode_txn(data)


@pytest.mark.parametrize(
    "txn, message",
    [
        (Txn(-1, 0, 0, 0, DeleteTxn("/a")), "cannot be encoded"),
        (Txn(1, 0, 2**64, 0, DeleteTxn("/a")), "cannot be encoded"),
        (Txn(1, 0, 0, 0, MultiTxn((CreateSessionTxn(1, 1, b""),))), "not a znode operation"),
        (Txn(1, 0, 0, 0, "nonsense"), "unknown txn body"),
    ],
)
def test_unencodable_txns_are_codec_errors(txn: Txn, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        encode_txn(txn)
