"""What a data directory holds, for ``coordsvc snapshot inspect DIR``: read-only, server running or not.

``inspect_store`` opens the store read-only (no LOCK taken, nothing written
to the data or snapshot files), runs the same checks a starting server
runs except the page walk, rebuilds the tree (newest snapshot + log) and
reports counts and sizes as a plain dict, ready for JSON. A damaged store
raises StorageError naming the file, exactly as the server would refuse it.
``format_report`` renders that dict as lines for a terminal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from coordsvc.storage.base import StorageError
from coordsvc.storage.layout import FORMAT_VERSION
from coordsvc.storage.lmdb_store import LmdbStorage
from coordsvc.storage.snapshot import recover
from coordsvc.tree.txn import zxid_counter, zxid_epoch

__all__ = ["inspect_store", "format_report"]


RETRIES = 5


def inspect_store(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Last zxid, epochs, znode/session counts, log and snapshot sizes of ``data_dir``.

    Beside a running server a snapshot can be rotated away (and the log
    purged behind it) between reading the catalogue and reading the files;
    such a read is retried on a fresh view. Damage fails the same way every
    time, so after the retries the last error is what is reported.
    """
    for attempt in range(RETRIES):
        try:
            return _inspect_once(data_dir)
        except StorageError:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _inspect_once(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    with LmdbStorage(data_dir, readonly=True) as store:
        tree, tail = recover(store)
        last = store.last_zxid()
        log = store.log_stats()
        snapshots = [
            {
                "zxid": ref.zxid,
                "file": str(ref.path),
                "bytes": ref.size,
                "znodes": ref.node_count,
                "sessions": ref.session_count,
                "created_ms": ref.created_ms,
            }
            for ref in store.snapshots()
        ]
        return {
            "data_dir": str(Path(data_dir)),
            "format": FORMAT_VERSION,
            "last_zxid": last,
            "last_epoch": zxid_epoch(last),
            "last_counter": zxid_counter(last),
            "accepted_epoch": store.accepted_epoch,
            "current_epoch": store.current_epoch,
            "znodes": tree.node_count,
            "ephemerals": tree.ephemeral_count(),
            "sessions": len(tree.sessions),
            "log": {
                "records": log["records"],
                "bytes": log["bytes"],
                "first_zxid": log["first_zxid"],
                "purged_through": store.purged_through,
                "replayed_after_snapshot": len(tail),
            },
            "lmdb": {"file": str(store.data_file), **store.env_stats()},
            "snapshots": snapshots,
            "snapshot_bytes": sum(s["bytes"] for s in snapshots),
        }


def format_report(report: dict[str, Any]) -> list[str]:
    """``inspect_store``'s dict as aligned human-readable lines."""
    log, env = report["log"], report["lmdb"]
    lines = [
        f"data dir        {report['data_dir']} (format {report['format']})",
        f"last zxid       {report['last_zxid']:#x} (epoch {report['last_epoch']},"
        f" counter {report['last_counter']})",
        f"epochs          accepted {report['accepted_epoch']}, current {report['current_epoch']}",
        f"znodes          {report['znodes']} ({report['ephemerals']} ephemeral)",
        f"sessions        {report['sessions']}",
        f"log             {log['records']} records, {log['bytes']} bytes,"
        f" purged through {log['purged_through']:#x}",
        f"lmdb            {env['file_bytes']} bytes on disk, {env['used_bytes']} used,"
        f" map {env['map_size']}",
        f"snapshots       {len(report['snapshots'])}, {report['snapshot_bytes']} bytes",
    ]
    lines += [
        f"  {s['zxid']:#018x}  {s['bytes']:>12} bytes  {s['znodes']} znodes  {s['file']}"
        for s in report["snapshots"]
    ]
    return lines
