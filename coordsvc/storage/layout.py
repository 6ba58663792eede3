"""What the bytes of a data directory mean, and the checks run on them before they are trusted.

Layout of a data directory::

    <data-dir>/LOCK                    flock'd by the one process that may write
    <data-dir>/lmdb/data.mdb           the LMDB environment (lock.mdb beside it)
    <data-dir>/snapshots/snap-<zxid>   snapshot files (format in snapshot.py),
                                       <zxid> as 16 hex digits

The environment holds two named databases:

* ``log``: 8-byte big-endian zxid -> CRC32 (4 bytes, big-endian) + TxnRecord.
  LMDB keeps no checksums of its own, so each record carries one.
* ``meta``: ``format`` (u32), ``accepted_epoch`` and ``current_epoch`` (u64),
  ``purged_through`` (u64: every zxid at or below it has left the log) and
  ``snapshots`` (a SnapshotCatalog, oldest first).

The checks (``check_*``) only read. Each failure is a StorageError that names
the file and the damage; nothing here deletes, resets or repairs anything.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import lmdb
import lmdb.verify
from google.protobuf.message import DecodeError

from coordsvc.storage.base import StorageError
from coordsvc.storage.codec import CodecError, decode_txn, encode_txn
from coordsvc.storage.snapshot import SnapshotError, fsync_dir, verify_snapshot
from coordsvc.tree.txn import Txn, zxid_counter, zxid_epoch
from coordsvc.v1 import storage_pb2 as pb

__all__ = [
    "FORMAT_VERSION",
    "ENV_DIR",
    "SNAPSHOT_DIR",
    "Meta",
    "zxid_key",
    "key_zxid",
    "encode_record",
    "decode_record",
    "create_env",
    "check_file",
    "check_size",
    "read_meta",
    "check_log",
    "check_snapshots",
]

FORMAT_VERSION = 1
ENV_DIR = "lmdb"
SNAPSHOT_DIR = "snapshots"
MAX_DBS = 4

M_FORMAT = b"format"
M_ACCEPTED = b"accepted_epoch"
M_CURRENT = b"current_epoch"
M_PURGED = b"purged_through"
M_SNAPSHOTS = b"snapshots"

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")


def zxid_key(zxid: int) -> bytes:
    """The log key of ``zxid``: 8 bytes, big-endian, so keys sort as zxids do."""
    return _U64.pack(zxid)


def key_zxid(key: bytes) -> int:
    return _U64.unpack(key)[0]


def u64(value: int) -> bytes:
    return _U64.pack(value)


def encode_record(txn: Txn) -> bytes:
    """A log value: CRC32 of the TxnRecord, then the TxnRecord."""
    payload = encode_txn(txn)
    return _U32.pack(zlib.crc32(payload)) + payload


def decode_record(key: bytes, value: bytes, where: str) -> Txn:
    """The txn in a log record; StorageError saying what is wrong with it."""
    if len(key) != _U64.size:
        raise StorageError(f"{where}: log key {key.hex()} is not an 8-byte zxid")
    zxid = key_zxid(key)
    if len(value) < _U32.size or _U32.unpack_from(value)[0] != zlib.crc32(value[_U32.size :]):
        raise StorageError(f"{where}: log record {zxid:#x} fails its checksum")
    try:
        txn = decode_txn(value[_U32.size :])
    except CodecError as exc:
        raise StorageError(f"{where}: log record {zxid:#x} does not decode: {exc}") from exc
    if txn.zxid != zxid:
        raise StorageError(f"{where}: log record under key {zxid:#x} holds zxid {txn.zxid:#x}")
    return txn


@dataclass
class Meta:
    """The contents of the meta database."""

    accepted_epoch: int = 0
    current_epoch: int = 0
    purged_through: int = 0
    catalog: list[pb.StoredSnapshot] = field(default_factory=list)


def create_env(data_dir: Path, map_size: int) -> None:
    """A new, empty environment at ``data_dir/lmdb``, built aside and renamed into place.

    So ``lmdb/`` either does not exist or holds a complete store: a crash
    during creation never leaves something that looks damaged.
    """
    tmp = data_dir / f"{ENV_DIR}.new"
    if tmp.exists():
        shutil.rmtree(tmp)  # a creation that never finished; it never held data
    tmp.mkdir()
    with lmdb.open(str(tmp), map_size=map_size, subdir=True, max_dbs=MAX_DBS) as env:
        with env.begin(write=True) as txn:
            meta = env.open_db(b"meta", txn=txn)
            env.open_db(b"log", txn=txn)
            txn.put(M_FORMAT, _U32.pack(FORMAT_VERSION), db=meta)
        env.sync(True)
    os.replace(tmp, data_dir / ENV_DIR)
    fsync_dir(data_dir)


def check_file(data_file: Path, verify_pages: bool) -> None:
    """Before LMDB maps the file: it exists, is not empty, and (optionally) its pages are sound.

    The page walk (py-lmdb's offline verifier) needs a file at rest, so only
    the process that holds the LOCK runs it; it catches damage that would
    otherwise crash the process when the engine reads the page.
    """
    if not data_file.exists():
        raise StorageError(f"{data_file}: missing; refusing to create an empty store")
    if data_file.stat().st_size == 0:
        raise StorageError(f"{data_file}: empty file (truncated to 0 bytes)")
    if verify_pages:
        try:
            problems = lmdb.verify.verify(str(data_file.parent), subdir=True)
        except lmdb.verify.VerifyError as exc:
            raise StorageError(f"{data_file}: not a readable LMDB file: {exc}") from exc
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise StorageError(f"{data_file}: damaged: {'; '.join(problems[:3])}{more}")


def check_size(env: lmdb.Environment, data_file: Path) -> None:
    """A file shorter than its meta page says is truncated; reading it would fault."""
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    actual = data_file.stat().st_size
    if actual < needed:
        raise StorageError(
            f"{data_file}: truncated: {actual} bytes, the LMDB meta page needs {needed}"
        )


_META_MAGIC = 0xBEEFC0DE
_META_MAGIC_AT = 16  # after the page header
_META_TXNID_AT = 144  # header, magic, version, address, mapsize, two dbs, last page


def check_meta_pages(env: lmdb.Environment, data_file: Path) -> None:
    """Both LMDB meta pages are sound and one commit apart.

    LMDB writes meta page N % 2 at commit N, so after any commit the two
    pages hold txn ids N and N - 1 (a crash before a meta write leaves the
    previous pair, still one apart). A page whose id is further off was
    damaged, and opening would silently fall back to an older commit,
    losing acknowledged writes.
    """
    psize = env.stat()["psize"]
    with open(data_file, "rb") as f:
        pages = [f.read(psize) for _ in range(2)]
    ids = []
    for n, page in enumerate(pages):
        if len(page) < _META_TXNID_AT + 8:
            raise StorageError(f"{data_file}: meta page {n} is cut short")
        (magic,) = struct.unpack_from("<I", page, _META_MAGIC_AT)
        if magic != _META_MAGIC:
            raise StorageError(f"{data_file}: meta page {n} is damaged (bad magic {magic:#x})")
        ids.append(struct.unpack_from("<Q", page, _META_TXNID_AT)[0])
    if max(ids) > 0 and abs(ids[0] - ids[1]) != 1:
        raise StorageError(
            f"{data_file}: meta pages hold txn ids {ids[0]} and {ids[1]}, which must be one "
            "apart: a meta page is damaged and the newest commits would be lost"
        )


def _u64_field(value: bytes | None, name: str, where: str) -> int:
    if value is None:
        return 0
    if len(value) != _U64.size:
        raise StorageError(f"{where}: meta {name} is {len(value)} bytes, expected 8")
    return key_zxid(value)


def read_meta(txn: lmdb.Transaction, meta_db: object, where: str) -> Meta:
    """The meta database, checked: a known format version and well-formed values."""
    fmt = txn.get(M_FORMAT, db=meta_db)
    if fmt is None or len(fmt) != _U32.size:
        raise StorageError(f"{where}: no format version in meta")
    if _U32.unpack(fmt)[0] != FORMAT_VERSION:
        raise StorageError(f"{where}: unknown store format {_U32.unpack(fmt)[0]}")
    catalog = pb.SnapshotCatalog()
    try:
        catalog.ParseFromString(txn.get(M_SNAPSHOTS, b"", db=meta_db))
    except DecodeError as exc:
        raise StorageError(f"{where}: snapshot catalogue does not parse: {exc}") from exc
    return Meta(
        accepted_epoch=_u64_field(txn.get(M_ACCEPTED, db=meta_db), "accepted_epoch", where),
        current_epoch=_u64_field(txn.get(M_CURRENT, db=meta_db), "current_epoch", where),
        purged_through=_u64_field(txn.get(M_PURGED, db=meta_db), "purged_through", where),
        catalog=list(catalog.snapshots),
    )


def check_log(txn: lmdb.Transaction, log_db: object, purged: int, where: str) -> int:
    """Every record decodes, zxids increase, none is missing inside an epoch; returns the last.

    The purge point counts as the record before the first one, so a record
    lost right after a purge is found too. The result is the store's last
    zxid: the last record's, or the purge point when the log is empty.
    """
    prev = purged
    for key, value in txn.cursor(db=log_db):
        zxid = decode_record(key, value, where).zxid
        if zxid <= prev:
            raise StorageError(f"{where}: log record {zxid:#x} is not after {prev:#x}")
        same_epoch = prev and zxid_epoch(prev) == zxid_epoch(zxid)
        if same_epoch and zxid_counter(zxid) != zxid_counter(prev) + 1:
            raise StorageError(
                f"{where}: log gap: records {prev + 1:#x}..{zxid - 1:#x} are missing"
            )
        prev = zxid
    return prev


def check_snapshots(meta: Meta, last_zxid: int, snapshot_dir: Path, where: str) -> None:
    """The catalogue is ordered and covered by the log; the newest file passes its checksums."""
    zxids = [s.zxid for s in meta.catalog]
    if zxids != sorted(set(zxids)) or (zxids and zxids[0] < meta.purged_through):
        raise StorageError(f"{where}: snapshot catalogue out of order: {[hex(z) for z in zxids]}")
    if zxids and zxids[-1] > last_zxid:
        raise StorageError(
            f"{where}: snapshot at {zxids[-1]:#x} is past the log end {last_zxid:#x}"
        )
    for entry in meta.catalog[:-1]:
        if not (snapshot_dir / entry.file).is_file():
            raise SnapshotError(f"{snapshot_dir / entry.file}: recorded snapshot is missing")
    if meta.catalog:
        newest = meta.catalog[-1]
        path = snapshot_dir / newest.file
        info = verify_snapshot(path)
        if info.last_zxid != newest.zxid or info.size != newest.size:
            raise SnapshotError(
                f"{path}: holds zxid {info.last_zxid:#x} in {info.size} bytes;"
                f" recorded {newest.zxid:#x} in {newest.size} bytes"
            )
