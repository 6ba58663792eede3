"""Consistent backups of a data directory taken while the server runs, and restoring them.

``backup(data_dir, out_dir)`` produces an ordinary data directory:

1. copy the snapshot files present now;
2. copy the LMDB environment with ``env.copy(compact=True)``, which reads it
   in one read txn: a consistent log, epochs and snapshot catalogue even
   while appends go on (the copy is some committed prefix);
3. fetch any snapshot the copy's catalogue names that appeared after step 1
   (snapshot files never change once written), drop the ones it does not;
4. fsync everything, then open the result read-only with every check a
   starting server runs, page walk included.

A snapshot the copy references cannot have been deleted before step 1: the
server unlinks a snapshot only after the commit that drops it from the
catalogue. If one vanishes between steps 2 and 3 (several snapshots in a
few seconds), the backup starts over.

Run from another process (``coordsvc backup``), it opens the store
read-only; inside the server's own process pass its ``storage``, because
LMDB forbids opening one environment twice in a process.
``restore(backup_dir, data_dir)`` verifies a backup and copies it into a
data directory that must be new or empty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import lmdb

from coordsvc.storage import layout
from coordsvc.storage.base import StorageError
from coordsvc.storage.lmdb_store import LmdbStorage
from coordsvc.storage.snapshot import fsync_dir

__all__ = ["backup", "restore"]

ATTEMPTS = 3


def _require_empty(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise StorageError(f"{directory}: exists and is not empty; refusing to overwrite it")


def _copy_file(src: Path, dst: Path) -> None:
    """Copy and fsync one file."""
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _catalog_files(data_dir: Path) -> list[str]:
    """Snapshot file names recorded in the (not yet fully checked) copy at ``data_dir``."""
    env_dir = data_dir / layout.ENV_DIR
    with lmdb.open(
        str(env_dir), readonly=True, map_size=0, max_dbs=layout.MAX_DBS, create=False
    ) as env:
        meta_db = env.open_db(b"meta", create=False)
        with env.begin() as txn:
            meta = layout.read_meta(txn, meta_db, str(env_dir / "data.mdb"))
    return [entry.file for entry in meta.catalog]


def _attempt(src: Path, out: Path, storage: LmdbStorage | None) -> bool:
    """One try at steps 1-3; False if a referenced snapshot vanished meanwhile."""
    snap_src, snap_out = src / layout.SNAPSHOT_DIR, out / layout.SNAPSHOT_DIR
    for directory in (out / layout.ENV_DIR, snap_out):
        shutil.rmtree(directory, ignore_errors=True)  # ours: left by a failed attempt
        directory.mkdir(parents=True)
    for path in sorted(snap_src.glob("snap-*")) if snap_src.is_dir() else ():
        try:
            _copy_file(path, snap_out / path.name)
        except FileNotFoundError:
            pass  # retired meanwhile; the copy below will not need it
    if storage is not None:
        storage.copy_env(out / layout.ENV_DIR)
    else:
        with LmdbStorage(src, readonly=True) as store:
            store.copy_env(out / layout.ENV_DIR)
    wanted = set(_catalog_files(out))
    for name in wanted:
        if not (snap_out / name).exists():
            try:
                _copy_file(snap_src / name, snap_out / name)
            except FileNotFoundError:
                return False
    for path in snap_out.iterdir():
        if path.name not in wanted:
            path.unlink()
    return True


def _summary(data_dir: Path) -> dict[str, Any]:
    with LmdbStorage(data_dir, readonly=True, verify_pages=True) as store:
        return {
            "data_dir": str(data_dir),
            "last_zxid": store.last_zxid(),
            "accepted_epoch": store.accepted_epoch,
            "current_epoch": store.current_epoch,
            "snapshots": [ref.path.name for ref in store.snapshots()],
        }


def _fsync_tree(root: Path) -> None:
    for directory in (root / layout.ENV_DIR, root / layout.SNAPSHOT_DIR, root):
        fsync_dir(directory)


def backup(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    storage: LmdbStorage | None = None,
) -> dict[str, Any]:
    """Copy the store at ``data_dir`` (running or not) to the new or empty ``out_dir``.

    Returns what the backup holds (last zxid, epochs, snapshot files).
    """
    src, out = Path(data_dir), Path(out_dir)
    _require_empty(out)
    out.mkdir(parents=True, exist_ok=True)
    for _ in range(ATTEMPTS):
        if _attempt(src, out, storage):
            break
    else:
        raise StorageError(f"{src}: snapshots kept changing; backup gave up after {ATTEMPTS}")
    data_file = out / layout.ENV_DIR / "data.mdb"
    fd = os.open(data_file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_tree(out)
    return _summary(out)


def restore(backup_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Verify the backup at ``backup_dir`` and copy it into the new or empty ``data_dir``."""
    src, dst = Path(backup_dir), Path(data_dir)
    _require_empty(dst)
    summary = _summary(src)  # every check, before anything is copied
    (dst / layout.ENV_DIR).mkdir(parents=True)
    (dst / layout.SNAPSHOT_DIR).mkdir()
    _copy_file(src / layout.ENV_DIR / "data.mdb", dst / layout.ENV_DIR / "data.mdb")
    for name in summary["snapshots"]:
        _copy_file(src / layout.SNAPSHOT_DIR / name, dst / layout.SNAPSHOT_DIR / name)
    _fsync_tree(dst)
    return _summary(dst)
