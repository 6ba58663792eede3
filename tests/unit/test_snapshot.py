"""Snapshot files: exact round trips, images written later from another thread, damage caught."""

from __future__ import annotations

import io
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordsvc.storage import snapshot
from coordsvc.storage.base import StorageError
from coordsvc.storage.memory import MemoryStorage
from coordsvc.storage.snapshot import (
    SnapshotError,
    decode_snapshot,
    load_snapshot,
    recover,
    verify_snapshot,
    write_snapshot,
)
from coordsvc.tree.datatree import DataTree, SessionRecord, TreeImage
from coordsvc.tree.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
    make_zxid,
)
from coordsvc.tree.znode import NodeKind, Znode


def sample_txns(epoch: int = 1, n: int = 30) -> list[Txn]:
    """Creates of every kind, sets, a multi, deletes and two sessions (one closed)."""
    bodies = [
        CreateSessionTxn(0x11, 10_000, b"p" * 16),
        CreateSessionTxn(0x22, 20_000, b"q" * 16),
        CreateTxn("/app", b"root data"),
        CreateTxn("/app/c", b"", NodeKind.CONTAINER),
        CreateTxn("/app/t", b"ttl", NodeKind.TTL, ttl_ms=5_000),
        CreateTxn("/app/c/e1", b"\x00\xff", NodeKind.EPHEMERAL, ephemeral_owner=0x11),
        CreateTxn("/app/e2", b"x", NodeKind.EPHEMERAL, ephemeral_owner=0x22),
        CreateTxn("/app/ünïcode", "snow ☃".encode()),
        SetDataTxn("/app", b"v1", 1),
        MultiTxn((CreateTxn("/m", b""), SetDataTxn("/m", b"m1", 1))),
        CloseSessionTxn(0x22, ("/app/e2",)),
    ]
    bodies += [CreateTxn(f"/app/n{i}", bytes([i])) for i in range(n)]
    bodies += [DeleteTxn("/app/n0"), SetDataTxn("/app/n1", b"again", 1)]
    return [
        Txn(make_zxid(epoch, i), 1_700_000_000_000 + i, 0x11, i, body)
        for i, body in enumerate(bodies, start=1)
    ]


def sample_tree() -> DataTree:
    tree = DataTree()
    for txn in sample_txns():
        tree.apply(txn)
    return tree


def test_round_trip_keeps_every_node_and_session(tmp_path: Path) -> None:
    tree = sample_tree()
    info = write_snapshot(tree.image(), tmp_path / "snap")
    image = load_snapshot(tmp_path / "snap")
    assert image.nodes == tree.image().nodes
    assert image.sessions == tree.sessions
    assert DataTree.from_image(image).signature() == tree.signature()
    assert info.size == (tmp_path / "snap").stat().st_size
    assert verify_snapshot(tmp_path / "snap") == info
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]  # no temp file left behind


def test_empty_tree_round_trips(tmp_path: Path) -> None:
    write_snapshot(DataTree().image(), tmp_path / "snap")
    assert DataTree.from_image(load_snapshot(tmp_path / "snap")).signature() == (
        DataTree().signature()
    )


def test_many_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "CHUNK_NODES", 7)
    monkeypatch.setattr(snapshot, "CHUNK_BYTES", 100)
    monkeypatch.setattr(snapshot, "CHUNK_SESSIONS", 2)
    tree = sample_tree()
    tree.apply(Txn(make_zxid(2, 1), 0, 0, 0, CreateTxn("/big", b"b" * 1000)))
    write_snapshot(tree.image(), tmp_path / "snap")
    assert DataTree.from_image(load_snapshot(tmp_path / "snap")).signature() == tree.signature()


U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
znodes = st.builds(
    Znode,
    data=st.binary(max_size=20),
    czxid=U64,
    mzxid=U64,
    pzxid=U64,
    ctime=I64,
    mtime=I64,
    version=I64,
    cversion=I64,
    aversion=I64,
    ephemeral_owner=U64,
    num_children=I64,
    kind=st.sampled_from(NodeKind),
    ttl_ms=I64,
)


PATHS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8).map(lambda s: "/" + s)


@settings(max_examples=50, deadline=None)
@given(
    nodes=st.dictionaries(PATHS, znodes),
    zxid=U64,
    sessions=st.lists(st.tuples(U64, I64, st.binary(max_size=16)), max_size=4),
)
def test_any_field_values_round_trip(nodes, zxid, sessions) -> None:
    nodes = {"/": Znode(), **nodes}
    image = TreeImage(zxid, nodes, {s[0]: SessionRecord(*s) for s in sessions})
    buf = io.BytesIO()
    snapshot.dump_snapshot(image, buf)
    back = decode_snapshot(buf.getvalue())
    assert back == image


def test_image_written_later_from_another_thread(tmp_path: Path) -> None:
    """The image is fixed when taken; the live tree moving on does not leak into the file."""
    tree = sample_tree()
    image = tree.image()
    expected = DataTree.from_image(image).signature()
    more = Txn(make_zxid(3, 1), 0, 0, 0, SetDataTxn("/app", b"later", 2))
    tree.apply(more)
    tree.apply(Txn(make_zxid(3, 2), 0, 0, 0, CreateTxn("/later", b"")))
    done: list[BaseException | None] = []

    def write() -> None:
        try:
            write_snapshot(image, tmp_path / "snap")
            done.append(None)
        except BaseException as exc:  # pragma: no cover - reported below
            done.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(30)
    assert done == [None]
    loaded = DataTree.from_image(load_snapshot(tmp_path / "snap"))
    assert loaded.signature() == expected != tree.signature()


# ---- damage -----------------------------------------------------------------


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "snap-0000000000000001"
    write_snapshot(sample_tree().image(), path)
    return path


def frame_boundaries(data: bytes) -> list[int]:
    """Offsets where each frame starts, and the end of the file."""
    out, pos = [], 12  # after magic and version
    while pos < len(data):
        out.append(pos)
        pos += 8 + struct.unpack_from(">I", data, pos)[0]
    return [*out, pos]


@pytest.mark.parametrize(
    "cut, message",
    [
        ("empty", "bad magic"),
        ("inside the magic", "bad magic"),
        ("inside a frame header", "bad frame header"),
        ("inside a payload", "truncated: frame 1"),
        ("one byte short", "truncated"),
        ("without the end frame", "truncated: no end frame"),
    ],
)
def test_truncated_file_is_named(good: Path, cut: str, message: str) -> None:
    data = good.read_bytes()
    frames = frame_boundaries(data)
    at = {
        "empty": 0,
        "inside the magic": 5,
        "inside a frame header": frames[1] + 3,
        "inside a payload": frames[1] + 20,
        "one byte short": len(data) - 1,
        "without the end frame": frames[-2],
    }[cut]
    good.write_bytes(data[:at])
    for load in (load_snapshot, verify_snapshot):
        with pytest.raises(SnapshotError, match=message) as err:
            load(good)
        assert str(good) in str(err.value)
    assert good.read_bytes() == data[:at]  # reading never writes


@pytest.mark.parametrize("where", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_flipped_byte_is_caught(good: Path, where: float) -> None:
    data = bytearray(good.read_bytes())
    at = int(len(data) * where)
    data[at] ^= 0x5A
    good.write_bytes(bytes(data))
    with pytest.raises(SnapshotError) as err:
        load_snapshot(good)
    assert str(good) in str(err.value)


def test_unknown_version_and_trailing_bytes(good: Path) -> None:
    data = good.read_bytes()
    good.write_bytes(data[:8] + (99).to_bytes(4, "big") + data[12:])
    with pytest.raises(SnapshotError, match="unknown snapshot format version 99"):
        load_snapshot(good)
    good.write_bytes(data + b"\x00")
    with pytest.raises(SnapshotError, match="trailing bytes"):
        load_snapshot(good)


def test_missing_file_is_a_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="cannot open snapshot"):
        load_snapshot(tmp_path / "nope")


# ---- recover ----------------------------------------------------------------


def test_recover_from_memory_storage_replays_the_log() -> None:
    storage = MemoryStorage()
    storage.append(sample_txns())
    tree, tail = recover(storage)
    assert tree.signature() == sample_tree().signature()
    assert tail == sample_txns()


def test_recover_refuses_a_log_that_does_not_fit() -> None:
    storage = MemoryStorage()
    storage.append([Txn(make_zxid(1, 1), 0, 0, 0, DeleteTxn("/never-created"))])
    with pytest.raises(StorageError, match="does not fit"):
        recover(storage)
