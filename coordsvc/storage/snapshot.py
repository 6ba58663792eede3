"""Snapshot files: a TreeImage on disk, written and loaded fast, damage always detected.

Format (version 1), all integers big-endian::

    file   = MAGIC (8 bytes, b"CSVCSNAP") | version (u32) | frame*
    frame  = length (u32) | crc32 of payload (u32) | payload (coordsvc.v1.SnapshotFrame)

The frames are: one ``header`` (zxid and counts), ``nodes`` chunks, ``sessions``
chunks, ``retries`` chunks (the kept results of recent session writes, so a
resent write is still answered after a restart or a SNAP; files without them
load with an empty table), and one ``end`` that repeats the counts; nothing
may follow it. A
node chunk holds up to CHUNK_NODES znodes (fewer when their data passes
CHUNK_BYTES) as *columns* -- one packed repeated field per Znode field -- so
encoding and decoding run in protobuf's C code instead of one Python
message per node. Every frame carries its own CRC32 and the counts must
agree, so a truncated, cut-at-a-frame or bit-flipped file raises
``SnapshotError`` naming the file; a snapshot is never half-loaded.

Writing reads only the TreeImage: its Znodes are immutable and its maps
are private copies, so an image taken on the event loop can be written
later from another thread while the live tree moves on.
``write_snapshot`` is atomic (temp file, fsync, rename, fsync of the
directory): a crash leaves either the old state or the complete new file.

``recover(storage)`` rebuilds the tree from any Storage: newest snapshot,
then the log after it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import io
import itertools
import operator
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

from coordsvc.storage.base import InitialState, Storage, StorageError
from coordsvc.storage.codec import CodecError
from coordsvc.storage.keptcodec import kept_from_proto, kept_to_proto
from coordsvc.tree.datatree import DataTree, InvariantViolation, SessionRecord, TreeImage
from coordsvc.tree.txn import Txn
from coordsvc.tree.znode import NodeKind, Znode
from coordsvc.v1 import storage_pb2 as pb

__all__ = [
    "SnapshotError",
    "SnapshotInfo",
    "MAGIC",
    "FORMAT_VERSION",
    "write_snapshot",
    "dump_snapshot",
    "load_snapshot",
    "decode_snapshot",
    "verify_snapshot",
    "recover",
]

MAGIC = b"CSVCSNAP"
FORMAT_VERSION = 1
CHUNK_NODES = 16_384
CHUNK_BYTES = 4 << 20
CHUNK_SESSIONS = 4_096
CHUNK_RETRIES = 4_096
MAX_FRAME = 256 << 20  # a larger length field is damage, not data

_PREAMBLE = struct.Struct(">8sI")
_FRAME = struct.Struct(">II")

# Znode's fields, in constructor order; the columns of NodeChunk carry the same names.
_FIELDS = tuple(f.name for f in dataclasses.fields(Znode))
_ROW = operator.attrgetter(*_FIELDS)
_KINDS = (NodeKind.PERSISTENT, NodeKind.EPHEMERAL, NodeKind.CONTAINER, NodeKind.TTL)
_KIND_NUMBER = {kind: pb.NodeKind.Value(f"NODE_KIND_{kind.name}") for kind in _KINDS}
assert set(_FIELDS) <= {f.name for f in pb.NodeChunk.DESCRIPTOR.fields} | {"data"}
assert [_KIND_NUMBER[k] for k in _KINDS] == list(range(len(_KINDS)))


class SnapshotError(StorageError):
    """A snapshot file is missing, truncated, corrupted or of an unknown format."""


@dataclasses.dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a snapshot holds, from its header (and, once verified, its frames)."""

    last_zxid: int
    node_count: int
    session_count: int
    created_ms: int
    size: int  # bytes


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of new objects would trigger many full collections for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ---- writing ------------------------------------------------------------------


def _frames(image: TreeImage, created_ms: int) -> Iterator[pb.SnapshotFrame]:
    retries = [(sid, xid, kept) for sid, by in image.retries.items() for xid, kept in by.items()]
    yield pb.SnapshotFrame(
        header=pb.SnapshotHeader(
            last_zxid=image.last_zxid,
            node_count=len(image.nodes),
            session_count=len(image.sessions),
            created_ms=created_ms,
            retry_count=len(retries),
        )
    )
    items = iter(image.nodes.items())
    while True:
        paths: list[str] = []
        rows: list[tuple] = []
        size = 0
        for path, node in items:
            paths.append(path)
            rows.append(_ROW(node))
            size += len(node.data) + len(path)
            if len(rows) >= CHUNK_NODES or size >= CHUNK_BYTES:
                break
        if not rows:
            break
        frame = pb.SnapshotFrame()
        chunk = frame.nodes
        chunk.path.extend(paths)
        for name, column in zip(_FIELDS, zip(*rows, strict=True), strict=True):
            if name == "kind":
                chunk.kind.extend(map(_KIND_NUMBER.__getitem__, column))
            else:
                getattr(chunk, name).extend(column)
        yield frame
    sessions = list(image.sessions.values())
    for i in range(0, len(sessions), CHUNK_SESSIONS):
        frame = pb.SnapshotFrame()
        frame.sessions.SetInParent()
        for s in sessions[i : i + CHUNK_SESSIONS]:
            frame.sessions.sessions.add(
                session_id=s.session_id, timeout_ms=s.timeout_ms, password=s.password
            )
        yield frame
    for i in range(0, len(retries), CHUNK_RETRIES):
        frame = pb.SnapshotFrame()
        frame.retries.results.extend(kept_to_proto(*r) for r in retries[i : i + CHUNK_RETRIES])
        yield frame
    counts = dict(node_count=len(image.nodes), session_count=len(image.sessions))
    yield pb.SnapshotFrame(end=pb.SnapshotEnd(**counts, retry_count=len(retries)))


def dump_snapshot(image: TreeImage, out: BinaryIO, *, created_ms: int | None = None) -> int:
    """Write ``image`` in the snapshot format to ``out``; returns the bytes written."""
    created = int(time.time() * 1000) if created_ms is None else created_ms
    written = out.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION))
    with _gc_paused():
        for frame in _frames(image, created):
            payload = frame.SerializeToString()
            written += out.write(_FRAME.pack(len(payload), zlib.crc32(payload)))
            written += out.write(payload)
    return written


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(image: TreeImage, path: Path, *, created_ms: int | None = None) -> SnapshotInfo:
    """Atomically write ``image`` to ``path``: temp file, fsync, rename, fsync the directory."""
    path = Path(path)
    created = int(time.time() * 1000) if created_ms is None else created_ms
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb", buffering=1 << 20) as f:
            size = dump_snapshot(image, f, created_ms=created)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return SnapshotInfo(image.last_zxid, len(image.nodes), len(image.sessions), created, size)


# ---- reading ------------------------------------------------------------------


def _read_frames(f: BinaryIO, source: str) -> Iterator[pb.SnapshotFrame]:
    """Yield checked frames, header first and end last; SnapshotError on any damage."""
    preamble = f.read(_PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size or preamble[:8] != MAGIC:
        raise SnapshotError(f"{source}: not a coordsvc snapshot (bad magic)")
    _, version = _PREAMBLE.unpack(preamble)
    if version != FORMAT_VERSION:
        raise SnapshotError(f"{source}: unknown snapshot format version {version}")
    offset = _PREAMBLE.size
    index = 0
    while True:
        head = f.read(_FRAME.size)
        if not head:
            raise SnapshotError(f"{source}: truncated: no end frame after {offset} bytes")
        length, crc = _FRAME.unpack(head) if len(head) == _FRAME.size else (-1, 0)
        if length < 0 or length > MAX_FRAME:
            raise SnapshotError(f"{source}: bad frame header at byte {offset}")
        payload = f.read(length)
        if len(payload) < length:
            raise SnapshotError(
                f"{source}: truncated: frame {index} at byte {offset} needs {length} bytes,"
                f" {len(payload)} left"
            )
        if zlib.crc32(payload) != crc:
            raise SnapshotError(f"{source}: checksum mismatch in frame {index} at byte {offset}")
        frame = pb.SnapshotFrame()
        try:
            frame.ParseFromString(payload)
        except DecodeError as exc:
            raise SnapshotError(f"{source}: frame {index} does not parse: {exc}") from exc
        kind = frame.WhichOneof("kind")
        if (index == 0) != (kind == "header"):
            raise SnapshotError(f"{source}: frame {index} is {kind!r}; header must come first")
        yield frame
        offset += _FRAME.size + length
        index += 1
        if kind == "end":
            if f.read(1):
                raise SnapshotError(f"{source}: trailing bytes after the end frame")
            return


def _build_znodes(columns: list[list]) -> list[Znode]:
    """Znodes from columns in field order, without running __init__ per node.

    Setting the slots directly is about twice as fast as calling the
    dataclass constructor; it is only valid while Znode has no __post_init__,
    so fall back to the constructor if one ever appears.
    """
    if hasattr(Znode, "__post_init__"):
        return list(map(Znode, *columns))
    nodes = list(map(Znode.__new__, itertools.repeat(Znode, len(columns[0]))))
    for name, column in zip(_FIELDS, columns, strict=True):
        collections.deque(map(getattr(Znode, name).__set__, nodes, column), maxlen=0)
    return nodes


def _decode_chunk(chunk: pb.NodeChunk, source: str, index: int) -> tuple[list[str], list[Znode]]:
    paths = list(chunk.path)
    columns = []
    for name in _FIELDS:
        if name == "kind":
            try:
                column = list(map(_KINDS.__getitem__, chunk.kind))
            except IndexError:
                raise SnapshotError(f"{source}: frame {index} has an unknown node kind") from None
        else:
            column = list(getattr(chunk, name))
        if len(column) != len(paths):
            raise SnapshotError(f"{source}: frame {index}: column {name} has the wrong length")
        columns.append(column)
    return paths, _build_znodes(columns) if paths else []


def _load(f: BinaryIO, source: str, build: bool) -> tuple[SnapshotInfo, TreeImage | None]:
    nodes: dict[str, Znode] = {}
    sessions: dict[int, SessionRecord] = {}
    retries: dict[int, dict] = {}
    header = pb.SnapshotHeader()
    node_count = session_count = retry_count = 0
    with _gc_paused():
        for index, frame in enumerate(_read_frames(f, source)):
            kind = frame.WhichOneof("kind")
            if kind == "header":
                header = frame.header
            elif kind == "nodes":
                node_count += len(frame.nodes.path)
                if build:
                    paths, znodes = _decode_chunk(frame.nodes, source, index)
                    nodes.update(zip(paths, znodes, strict=True))
            elif kind == "sessions":
                session_count += len(frame.sessions.sessions)
                for s in frame.sessions.sessions if build else ():
                    sessions[s.session_id] = SessionRecord(s.session_id, s.timeout_ms, s.password)
            elif kind == "retries":
                retry_count += len(frame.retries.results)
                for r in frame.retries.results if build else ():
                    try:
                        sid, xid, kept = kept_from_proto(r)
                    except CodecError as exc:
                        raise SnapshotError(f"{source}: frame {index}: {exc}") from None
                    retries.setdefault(sid, {})[xid] = kept
            elif kind == "end":
                end, head = frame.end, header
                counts = (end.node_count, end.session_count, end.retry_count)
                expected = (head.node_count, head.session_count, head.retry_count)
                if counts != expected or (node_count, session_count, retry_count) != expected:
                    raise SnapshotError(
                        f"{source}: counts disagree: header {expected}, end {counts},"
                        f" frames {(node_count, session_count, retry_count)}"
                    )
            else:
                raise SnapshotError(f"{source}: frame {index} has no known kind")
    if build and (len(nodes) != node_count or len(sessions) != session_count):
        raise SnapshotError(f"{source}: duplicate paths or session ids")
    if build and "/" not in nodes:
        raise SnapshotError(f"{source}: the root znode is missing")
    info = SnapshotInfo(header.last_zxid, node_count, session_count, header.created_ms, f.tell())
    image = TreeImage(header.last_zxid, nodes, sessions, retries) if build else None
    return info, image


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb", buffering=1 << 20)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot open snapshot: {exc.strerror}") from exc


def load_snapshot(path: Path) -> TreeImage:
    """The TreeImage stored in ``path``; SnapshotError naming the file on any damage."""
    with _open(Path(path)) as f:
        return _load(f, str(path), build=True)[1]  # type: ignore[return-value]


def decode_snapshot(data: bytes, *, source: str = "<snapshot bytes>") -> TreeImage:
    """The TreeImage in ``data`` (a whole snapshot file's bytes)."""
    return _load(io.BytesIO(data), source, build=True)[1]  # type: ignore[return-value]


def verify_snapshot(path: Path) -> SnapshotInfo:
    """Check every frame's checksum, the framing and the counts without building znodes."""
    with _open(Path(path)) as f:
        return _load(f, str(path), build=False)[0]


# ---- recovery -----------------------------------------------------------------


def recover(storage: Storage, initial: InitialState | None = None) -> tuple[DataTree, list[Txn]]:
    """The tree ``storage`` holds (newest snapshot + replayed log) and that log tail.

    Pass ``initial`` when the caller already has ``storage.initial_state()``,
    so a large snapshot is not read twice. The tail is returned too, so a
    caller that builds its own state from the log (watch history, sessions)
    sees the txns the tree already applied.
    """
    if initial is None:
        initial = storage.initial_state()
    # read the log before decoding the snapshot: beside a live server the log
    # can be purged past this snapshot at any time (entries() then says so)
    tail = list(storage.entries(initial.snapshot_zxid, initial.last_zxid))
    if initial.snapshot is None:
        tree = DataTree()
    else:
        source = f"snapshot at zxid {initial.snapshot_zxid:#x}"
        image = decode_snapshot(initial.snapshot, source=source)
        if image.last_zxid != initial.snapshot_zxid:
            raise SnapshotError(f"{source}: holds zxid {image.last_zxid:#x}")
        try:
            with _gc_paused():
                tree = DataTree.from_image(image)
        except KeyError as exc:
            raise SnapshotError(f"{source}: parent {exc} of a znode is missing") from None
    try:
        with _gc_paused():
            for txn in tail:
                tree.apply(txn)
    except InvariantViolation as exc:
        raise StorageError(
            f"the log does not fit the snapshot at {initial.snapshot_zxid:#x}: {exc}"
        ) from exc
    return tree, tail
