"""LmdbStorage: the durable Storage of one server -- txn log, epochs and snapshots.

The data directory's layout and the checks run on open live in layout.py.

Durability. ``sync=True`` (the default, and the only setting fit to back an
ACK) opens LMDB with sync and metasync on: a commit flushes the data pages,
then the meta page, before it returns, so every txn is durable when
``append`` returns. One ``append`` is one LMDB write txn is one synced
commit, however many txns it carries: group commit is the caller passing
many txns at once (see StorageWriter); ``syncs`` counts commits. ``sync=False``
skips the flushes (tests, benchmarks): a process crash loses nothing, but a
machine crash may lose recent commits or, as LMDB warns, damage the file
(which the next open then reports). Epoch changes are always flushed.
``writemap`` stays off, so a stray write in this process cannot reach the
file. ``map_size`` is the most the store may grow to (default 1 GiB; LMDB's
own 10 MiB default is never used); when it is reached, writes fail with a
StorageError saying so, reads go on, and reopening with a larger map continues.

Damage. Opening verifies before trusting: the LMDB file's pages (py-lmdb's
offline verifier, before the engine maps the file), the format version, every
log record (key shape, checksum, decoding, strictly increasing zxids without
gaps inside an epoch) and the newest snapshot's checksums. Any failure raises
StorageError naming the file and the damage. Nothing is ever deleted, reset or
repaired on open.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lmdb

from coordsvc.storage import layout
from coordsvc.storage.base import CompactedError, InitialState, StorageError, StorageFullError
from coordsvc.storage.layout import decode_record, encode_record, key_zxid, u64, zxid_key
from coordsvc.storage.snapshot import SnapshotError, fsync_dir, write_snapshot
from coordsvc.tree.datatree import TreeImage
from coordsvc.tree.txn import Txn
from coordsvc.v1 import storage_pb2 as pb

__all__ = ["LmdbStorage", "SnapshotRef", "DEFAULT_MAP_SIZE"]

DEFAULT_MAP_SIZE = 1 << 30


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    """A snapshot the store has recorded: its zxid, file and size."""

    zxid: int
    path: Path
    size: int
    node_count: int
    session_count: int
    created_ms: int


class LmdbStorage:
    """The Storage protocol over one LMDB environment plus snapshot files.

    Thread use: one writer thread appends; ``save_snapshot`` may run in
    another thread (the file is written without blocking appends); reads
    (``entries``) may come from any thread. ``readonly=True`` opens a store
    that another process may be writing (for inspect and backup): it takes
    no LOCK, uses the writer's map size, skips the page verifier unless
    ``verify_pages=True`` (the walk needs a file at rest), and refuses every
    write; it still registers as a reader in ``lmdb/lock.mdb``, as every
    LMDB reader must so the writer does not reuse pages under it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        sync: bool = True,
        snapshot_retain: int = 3,
        readonly: bool = False,
        verify_pages: bool | None = None,
    ) -> None:
        if snapshot_retain < 1:
            raise ValueError("snapshot_retain must be at least 1")
        self.path = Path(path)
        self.env_dir = self.path / layout.ENV_DIR
        self.data_file = self.env_dir / "data.mdb"
        self.snapshot_dir = self.path / layout.SNAPSHOT_DIR
        self.map_size = map_size
        self.sync = sync
        self.snapshot_retain = snapshot_retain
        self.readonly = readonly
        self.syncs = 0  # committed write txns (each one synced when sync=True)
        self.accepted_epoch = 0
        self.current_epoch = 0
        self._purged = 0
        self._last = 0
        self._catalog: list[pb.StoredSnapshot] = []
        self._lock = threading.Lock()  # one write txn at a time, from any thread
        self._snapshot_lock = threading.Lock()  # one snapshot file at a time
        self._lockfile: int | None = None
        self._env: lmdb.Environment | None = None
        self._meta = self._log = None  # the named databases, once open
        try:
            self._open(not readonly if verify_pages is None else verify_pages)
        except BaseException:
            self.close()
            raise

    # ---- opening and verification -----------------------------------------

    def _open(self, verify_pages: bool) -> None:
        if not self.env_dir.exists():
            if self.readonly:
                raise StorageError(f"{self.env_dir}: no LMDB environment here")
            if any(self.snapshot_dir.glob("snap-*")):
                raise StorageError(
                    f"{self.env_dir}: missing, yet snapshots exist; not starting over"
                )
        if not self.readonly:
            self.path.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            self.snapshot_dir.mkdir(exist_ok=True)
            if not self.env_dir.exists():
                layout.create_env(self.path, self.map_size)
        layout.check_file(self.data_file, verify_pages)
        try:
            self._env = lmdb.open(
                str(self.env_dir),
                map_size=0 if self.readonly else self.map_size,  # 0: the writer's size
                subdir=True,
                max_dbs=layout.MAX_DBS,
                sync=self.sync,
                metasync=self.sync,
                writemap=False,
                readonly=self.readonly,
                create=False,
                lock=True,
            )
        except lmdb.Error as exc:
            raise StorageError(
                f"{self.data_file}: cannot open the LMDB environment: {exc}"
            ) from exc
        layout.check_size(self._env, self.data_file)
        layout.check_meta_pages(self._env, self.data_file)
        where = str(self.data_file)
        try:
            self._meta = self._env.open_db(b"meta", create=False)
            self._log = self._env.open_db(b"log", create=False)
        except lmdb.Error as exc:
            raise StorageError(f"{where}: missing its meta or log database: {exc}") from exc
        for attempt in range(2 if self.readonly else 1):
            with self._env.begin() as txn:
                meta = layout.read_meta(txn, self._meta, where)
                self._last = layout.check_log(txn, self._log, meta.purged_through, where)
            try:
                layout.check_snapshots(meta, self._last, self.snapshot_dir, where)
                break
            except SnapshotError:
                if attempt or not self.readonly:
                    raise  # a reader may race the writer retiring a snapshot: look again once
        self.accepted_epoch, self.current_epoch = meta.accepted_epoch, meta.current_epoch
        self._purged, self._catalog = meta.purged_through, meta.catalog

    def _take_lock(self) -> None:
        fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(f"{self.path}: in use by another coordsvc process") from None
        self._lockfile = fd

    # ---- writing ------------------------------------------------------------

    def _commit(self, fill: Callable[[lmdb.Transaction], None], what: str) -> None:
        """Run ``fill`` in one write txn and commit it; StorageError on failure."""
        if self.readonly or self._env is None:
            raise StorageError(f"{self.path}: store is {'read-only' if self._env else 'closed'}")
        txn = self._env.begin(write=True)
        try:
            fill(txn)
            txn.commit()
        except lmdb.MapFullError as exc:
            with contextlib.suppress(lmdb.Error):
                txn.abort()
            now = self._env.info()["map_size"]
            raise StorageFullError(
                f"{self.data_file}: map full: raise --lmdb-map-size (now {now} bytes)"
            ) from exc
        except lmdb.Error as exc:
            with contextlib.suppress(lmdb.Error):
                txn.abort()
            raise StorageError(f"{self.data_file}: {what} failed: {exc}") from exc
        except BaseException:
            with contextlib.suppress(lmdb.Error):
                txn.abort()
            raise
        self.syncs += 1

    def append(self, txns: Iterable[Txn]) -> int:
        """Durably append txns in one commit (one sync); returns the last zxid."""
        batch = list(txns)
        if not batch:
            return self.last_zxid()
        with self._lock:
            last = self._last
            records = []
            for txn in batch:
                if txn.zxid <= last:
                    raise ValueError(f"zxid {txn.zxid:#x} not after {last:#x}")
                records.append((zxid_key(txn.zxid), encode_record(txn)))
                last = txn.zxid

            def fill(t: lmdb.Transaction) -> None:
                for key, value in records:
                    t.put(key, value, db=self._log, append=True)

            self._commit(fill, "append")
            self._last = last
        return last

    def set_epochs(self, accepted: int | None = None, current: int | None = None) -> None:
        """Persist the accepted and/or current epoch; always flushed before returning."""

        def fill(t: lmdb.Transaction) -> None:
            if accepted is not None:
                t.put(layout.M_ACCEPTED, u64(accepted), db=self._meta)
            if current is not None:
                t.put(layout.M_CURRENT, u64(current), db=self._meta)

        with self._lock:
            self._commit(fill, "set epochs")
            self._flush()
            if accepted is not None:
                self.accepted_epoch = accepted
            if current is not None:
                self.current_epoch = current

    def _flush(self) -> None:
        if not self.sync and self._env is not None:
            self._env.sync(True)

    def save_snapshot(self, image: TreeImage) -> SnapshotRef:
        """Write ``image`` as the newest snapshot, apply retention, purge the log behind it.

        The file is written (temp, fsync, rename, fsync dir) without holding
        up appends; only recording it is a (short) write txn. A snapshot at
        the newest recorded zxid is not written twice.
        """
        if self.readonly:
            raise StorageError(f"{self.path}: store is read-only")
        zxid = image.last_zxid
        if zxid > self._last:
            raise ValueError(f"snapshot at {zxid:#x} is past the log end {self._last:#x}")
        with self._snapshot_lock:
            if self._catalog and zxid <= self._catalog[-1].zxid:
                if zxid == self._catalog[-1].zxid:
                    return self._ref(self._catalog[-1])
                raise ValueError(f"snapshot at {zxid:#x} is older than the newest one")
            name = f"snap-{zxid:016x}"
            entry = self._write_snapshot_file(image, name)
            with self._lock:
                catalog = [*self._catalog, entry]
                keep, drop = catalog[-self.snapshot_retain :], catalog[: -self.snapshot_retain]
                purge_to = max(keep[0].zxid, self._purged)
                self._commit(lambda t: self._record(t, keep, purge_to), "record snapshot")
                self._flush()
                self._catalog, self._purged = keep, purge_to
            for old in drop:
                with contextlib.suppress(FileNotFoundError):
                    (self.snapshot_dir / old.file).unlink()
            if drop:
                fsync_dir(self.snapshot_dir)
            return self._ref(entry)

    def _write_snapshot_file(self, image: TreeImage, name: str) -> pb.StoredSnapshot:
        """Write ``image`` durably as snapshots/NAME; its catalogue entry (not yet recorded)."""
        info = write_snapshot(image, self.snapshot_dir / name)
        return pb.StoredSnapshot(
            zxid=image.last_zxid,
            file=name,
            size=info.size,
            node_count=info.node_count,
            session_count=info.session_count,
            created_ms=info.created_ms,
        )

    def install_snapshot(self, image: TreeImage) -> SnapshotRef:
        """Replace the whole log by ``image`` (a leader's SNAP, which may be past the log end).

        The file is written first (temp, fsync, rename); then one synced commit
        records it as the only snapshot, empties the log and moves the purge
        point to its zxid. A crash before that commit leaves the old state (and
        an unrecorded file); after it, the new one.
        """
        if self.readonly:
            raise StorageError(f"{self.path}: store is read-only")
        zxid = image.last_zxid
        with self._snapshot_lock:
            name = f"snap-{zxid:016x}"
            old = list(self._catalog)
            if any(e.file == name for e in old):
                name = f"snap-{zxid:016x}-installed"
            entry = self._write_snapshot_file(image, name)

            def fill(t: lmdb.Transaction) -> None:
                t.put(
                    layout.M_SNAPSHOTS,
                    pb.SnapshotCatalog(snapshots=[entry]).SerializeToString(),
                    db=self._meta,
                )
                cursor = t.cursor(db=self._log)
                while cursor.first():
                    cursor.delete()
                t.put(layout.M_PURGED, u64(zxid), db=self._meta)

            with self._lock:
                self._commit(fill, "install snapshot")
                self._flush()
                self._catalog, self._purged, self._last = [entry], zxid, zxid
            for e in old:
                if e.file != name:
                    with contextlib.suppress(FileNotFoundError):
                        (self.snapshot_dir / e.file).unlink()
            fsync_dir(self.snapshot_dir)
            return self._ref(entry)

    def _record(self, t: lmdb.Transaction, keep: list, purge_to: int) -> None:
        t.put(
            layout.M_SNAPSHOTS,
            pb.SnapshotCatalog(snapshots=keep).SerializeToString(),
            db=self._meta,
        )
        if purge_to > self._purged:
            cursor = t.cursor(db=self._log)
            end = zxid_key(purge_to)
            while cursor.first() and cursor.key() <= end:
                cursor.delete()
            t.put(layout.M_PURGED, u64(purge_to), db=self._meta)

    def truncate_after(self, zxid: int) -> None:
        """Remove every log record after ``zxid`` (a follower's TRUNC)."""
        with self._lock:
            floor = max(self._purged, self._catalog[-1].zxid if self._catalog else 0)
            if zxid < floor:
                raise ValueError(f"cannot truncate to {zxid:#x}: snapshot or purge at {floor:#x}")
            if zxid >= self._last:
                return

            def fill(t: lmdb.Transaction) -> None:
                cursor = t.cursor(db=self._log)
                if cursor.set_range(zxid_key(zxid + 1)):
                    while cursor.delete():
                        pass

            self._commit(fill, "truncate")
            self._last = max(self._log_end(), self._purged)

    def _log_end(self) -> int:
        """The last zxid in the log, 0 if it is empty."""
        assert self._env is not None
        with self._env.begin(db=self._log) as txn:
            cursor = txn.cursor()
            return key_zxid(cursor.key()) if cursor.last() else 0

    # ---- reading ------------------------------------------------------------

    def initial_state(self) -> InitialState:
        """Epochs, the newest snapshot's bytes (None if there is none) and the log end."""
        newest = self.newest_snapshot()
        data = None
        if newest is not None:
            try:
                data = newest.path.read_bytes()
            except OSError as exc:
                raise SnapshotError(f"{newest.path}: cannot read: {exc.strerror}") from exc
        return InitialState(
            accepted_epoch=self.accepted_epoch,
            current_epoch=self.current_epoch,
            snapshot_zxid=newest.zxid if newest else 0,
            snapshot=data,
            last_zxid=self.last_zxid(),
        )

    def entries(self, lo: int, hi: int) -> Sequence[Txn]:
        """Txns with lo < zxid <= hi, in zxid order; CompactedError if purged."""
        if lo < self._purged:
            raise CompactedError(f"entries after {lo:#x} were purged (up to {self._purged:#x})")
        if self._env is None:
            raise StorageError(f"{self.path}: store is closed")
        out: list[Txn] = []
        if lo >= hi:
            return out
        where = str(self.data_file)
        with self._env.begin(db=self._log) as txn:
            # another process (a live server beside a read-only reader) may have
            # purged since this store was opened: read the marker in this view
            stored = txn.get(layout.M_PURGED, db=self._meta)
            purged = max(self._purged, int.from_bytes(stored, "big") if stored else 0)
            if lo < purged:
                raise CompactedError(f"entries after {lo:#x} were purged (up to {purged:#x})")
            cursor = txn.cursor()
            if not cursor.set_range(zxid_key(lo + 1)):
                return out
            end = zxid_key(min(hi, (1 << 64) - 1))
            for key, value in cursor:
                if key > end:
                    break
                out.append(decode_record(key, value, where))
        return out

    def last_zxid(self) -> int:
        return self._last

    @property
    def purged_through(self) -> int:
        """Every zxid at or below this has been purged from the log."""
        return self._purged

    def _ref(self, entry: pb.StoredSnapshot) -> SnapshotRef:
        return SnapshotRef(
            zxid=entry.zxid,
            path=self.snapshot_dir / entry.file,
            size=entry.size,
            node_count=entry.node_count,
            session_count=entry.session_count,
            created_ms=entry.created_ms,
        )

    def snapshots(self) -> list[SnapshotRef]:
        """The retained snapshots, oldest first."""
        return [self._ref(e) for e in self._catalog]

    def newest_snapshot(self) -> SnapshotRef | None:
        return self._ref(self._catalog[-1]) if self._catalog else None

    def log_stats(self) -> dict[str, int]:
        """Records, their bytes, and the first and last zxid in the log."""
        if self._env is None:
            raise StorageError(f"{self.path}: store is closed")
        with self._env.begin(db=self._log) as txn:
            cursor = txn.cursor()
            first = key_zxid(cursor.key()) if cursor.first() else 0
            count = size = 0
            for value in cursor.iternext(keys=False, values=True):
                count += 1
                size += len(value)
        return {"records": count, "bytes": size, "first_zxid": first, "last_zxid": self._last}

    def env_stats(self) -> dict[str, int]:
        """The LMDB file's size, the bytes in use and the map size."""
        if self._env is None:
            raise StorageError(f"{self.path}: store is closed")
        info, stat = self._env.info(), self._env.stat()
        return {
            "file_bytes": self.data_file.stat().st_size,
            "used_bytes": (info["last_pgno"] + 1) * stat["psize"],
            "map_size": info["map_size"],
        }

    def copy_env(self, directory: Path) -> None:
        """A consistent, compacted copy of the environment into an empty ``directory``."""
        if self._env is None:
            raise StorageError(f"{self.path}: store is closed")
        self._env.copy(str(directory), compact=True)

    # ---- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        """Flush (when sync=False), close the environment and release the LOCK."""
        env, self._env = self._env, None
        if env is not None:
            with contextlib.suppress(lmdb.Error):
                if not self.readonly and not self.sync:
                    env.sync(True)
            env.close()
        if self._lockfile is not None:
            os.close(self._lockfile)
            self._lockfile = None

    def __enter__(self) -> LmdbStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LmdbStorage({str(self.path)!r}, last_zxid={self._last:#x})"
