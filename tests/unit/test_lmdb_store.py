"""LmdbStorage on a real LMDB in tmp_path: log, epochs, snapshots, recovery, map full, damage, backup."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import lmdb
import pytest

from coordsvc.storage.backup import backup, restore
from coordsvc.storage.base import CompactedError, StorageError
from coordsvc.storage.inspect import format_report, inspect_store
from coordsvc.storage.layout import encode_record
from coordsvc.storage.lmdb_store import LmdbStorage
from coordsvc.storage.snapshot import recover
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    SetDataTxn,
    Txn,
    make_zxid,
)
from coordsvc.tree.znode import NodeKind

SID = 0x0100000000000001


def workload(epoch: int, first: int, n: int) -> list[Txn]:
    """n txns of one epoch, counters first..first+n-1, that apply cleanly in order.

    Counter 1 of an epoch opens a session; later ones create, set and delete
    nodes (some ephemeral) so snapshots carry every kind of state.
    """
    out = []
    for c in range(first, first + n):
        if c == 1:
            body = CreateSessionTxn(SID + epoch, 30_000, bytes(16))
        elif c % 10 == 0:
            body = SetDataTxn(f"/e{epoch}-{c - 1}", b"v", 1)
        elif c % 10 == 5:
            body = DeleteTxn(f"/e{epoch}-{c - 2}")
        elif c % 10 == 7:
            body = CreateTxn(f"/eph{epoch}-{c}", b"", NodeKind.EPHEMERAL, SID + epoch)
        else:
            body = CreateTxn(f"/e{epoch}-{c}", f"data {c}".encode())
        out.append(Txn(make_zxid(epoch, c), 1_000 * c, SID + epoch, c, body))
    return out


def applied(txns: list[Txn], tree: DataTree | None = None) -> DataTree:
    tree = tree if tree is not None else DataTree()
    for txn in txns:
        tree.apply(txn)
    return tree


def fingerprint(data_dir: Path) -> dict[str, tuple[str, int]]:
    """Hash and mtime of every data and snapshot file (not LMDB's lock.mdb or our LOCK)."""
    files = [data_dir / "lmdb" / "data.mdb", *sorted((data_dir / "snapshots").glob("*"))]
    return {
        str(p.relative_to(data_dir)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in files
        if p.exists()
    }


@pytest.fixture
def store(tmp_path: Path):
    s = LmdbStorage(tmp_path / "data")
    yield s
    s.close()


# ---- log ----------------------------------------------------------------------


def test_append_entries_last_zxid(store: LmdbStorage) -> None:
    txns = workload(1, 1, 30)
    assert store.last_zxid() == 0 and store.entries(0, 2**64) == []
    assert store.append(txns[:10]) == txns[9].zxid
    assert store.append(txns[10:]) == txns[-1].zxid
    assert store.last_zxid() == txns[-1].zxid
    assert store.entries(0, txns[-1].zxid) == txns
    assert store.entries(txns[4].zxid, txns[7].zxid) == txns[5:8]
    assert store.entries(txns[-1].zxid, 2**64) == []
    assert store.entries(0, 2**70) == txns  # hi past the end is fine
    assert store.append([]) == txns[-1].zxid


def test_group_commit_is_one_sync_per_append(store: LmdbStorage) -> None:
    before = store.syncs
    store.append(workload(1, 1, 100))
    assert store.syncs == before + 1
    for txn in workload(1, 101, 5):
        store.append([txn])
    assert store.syncs == before + 6


def test_zxids_must_increase(store: LmdbStorage) -> None:
    txns = workload(1, 1, 3)
    store.append(txns)
    with pytest.raises(ValueError, match="not after"):
        store.append([txns[1]])
    with pytest.raises(ValueError, match="not after"):
        store.append([workload(1, 4, 1)[0], workload(1, 4, 1)[0]])
    assert store.entries(0, 2**64) == txns  # a refused batch writes nothing


def test_reopen_keeps_log_epochs_and_snapshots(tmp_path: Path) -> None:
    data = tmp_path / "data"
    txns = workload(1, 1, 40) + workload(2, 1, 20)
    with LmdbStorage(data) as s:
        s.append(txns[:40])
        s.save_snapshot(applied(txns[:40]).image())
        s.append(txns[40:])
        s.set_epochs(accepted=3, current=2)
        snapshots = s.snapshots()
    with LmdbStorage(data) as s:
        assert s.last_zxid() == txns[-1].zxid
        assert s.entries(txns[39].zxid, 2**64) == txns[40:]
        assert (s.accepted_epoch, s.current_epoch) == (3, 2)
        assert s.snapshots() == snapshots
        initial = s.initial_state()
        assert (initial.accepted_epoch, initial.current_epoch) == (3, 2)
        assert initial.snapshot_zxid == txns[39].zxid and initial.last_zxid == txns[-1].zxid
        assert initial.snapshot == snapshots[-1].path.read_bytes()


def test_epochs_persist_one_at_a_time(tmp_path: Path) -> None:
    with LmdbStorage(tmp_path / "d", sync=False) as s:
        s.set_epochs(accepted=5)
        syncs = s.syncs
        s.set_epochs(current=4)
        assert s.syncs == syncs + 1
    with LmdbStorage(tmp_path / "d") as s:
        assert (s.accepted_epoch, s.current_epoch) == (5, 4)


def test_truncate_after(store: LmdbStorage) -> None:
    txns = workload(1, 1, 20)
    store.append(txns)
    store.truncate_after(txns[11].zxid)
    assert store.last_zxid() == txns[11].zxid
    assert store.entries(0, 2**64) == txns[:12]
    store.append(workload(2, 1, 3))  # a new epoch continues after the cut
    store.save_snapshot(applied(txns[:12] + workload(2, 1, 3)).image())
    with pytest.raises(ValueError, match="snapshot or purge"):
        store.truncate_after(txns[5].zxid)


def test_sync_false_still_persists_on_close(tmp_path: Path) -> None:
    txns = workload(1, 1, 10)
    with LmdbStorage(tmp_path / "d", sync=False) as s:
        s.append(txns)
    with LmdbStorage(tmp_path / "d") as s:
        assert s.entries(0, 2**64) == txns


def test_one_writer_per_data_dir(store: LmdbStorage) -> None:
    with pytest.raises(StorageError, match="in use by another coordsvc process"):
        LmdbStorage(store.path)


# ---- snapshots, retention, purge, recovery -----------------------------------


def test_snapshots_retention_and_log_purge(tmp_path: Path) -> None:
    txns = workload(1, 1, 60)
    with LmdbStorage(tmp_path / "d", snapshot_retain=2) as s:
        refs = []
        for end in (15, 30, 45):
            s.append(txns[end - 15 : end])
            refs.append(s.save_snapshot(applied(txns[:end]).image()))
        s.append(txns[45:])
        assert s.snapshots() == refs[1:] and s.newest_snapshot() == refs[2]
        assert not refs[0].path.exists() and refs[1].path.exists()
        assert refs[2].path.name == f"snap-{txns[44].zxid:016x}"
        assert s.purged_through == txns[29].zxid  # at the oldest retained snapshot
        with pytest.raises(CompactedError):
            s.entries(txns[10].zxid, txns[40].zxid)
        assert s.entries(txns[29].zxid, 2**64) == txns[30:]
        assert s.log_stats()["first_zxid"] == txns[30].zxid
        assert s.save_snapshot(applied(txns[:45]).image()) == refs[2]  # same zxid: kept
        with pytest.raises(ValueError, match="older than the newest"):
            s.save_snapshot(applied(txns[:40]).image())
        with pytest.raises(ValueError, match="past the log end"):
            s.save_snapshot(applied(txns + workload(1, 61, 1)).image())
    assert sorted(p.name for p in (tmp_path / "d" / "snapshots").iterdir()) == sorted(
        r.path.name for r in refs[1:]
    )


def test_recover_equals_the_live_tree(tmp_path: Path) -> None:
    live = DataTree()
    with LmdbStorage(tmp_path / "d", snapshot_retain=2) as s:
        for epoch in (1, 2, 3):
            txns = workload(epoch, 1, 37)
            s.append(txns)
            applied(txns, live)
            s.save_snapshot(live.image())
        close = Txn(make_zxid(3, 38), 0, 0, 0, CloseSessionTxn(SID + 1, ()))
        tail = workload(4, 1, 12) + [Txn(make_zxid(4, 13), 0, 0, 0, close.body)]
        s.append(tail)
        applied(tail, live)
    with LmdbStorage(tmp_path / "d") as s:
        tree, replayed = recover(s)
        again, _ = recover(s, s.initial_state())
    assert tree.signature() == again.signature() == live.signature()
    assert replayed == tail
    assert SID + 1 not in tree.sessions and SID + 2 in tree.sessions


def test_snapshot_written_while_appends_continue(tmp_path: Path) -> None:
    first, later = workload(1, 1, 200), workload(1, 201, 300)
    with LmdbStorage(tmp_path / "d") as s:
        s.append(first)
        image = applied(first).image()
        errors: list[BaseException] = []

        def snap() -> None:
            try:
                s.save_snapshot(image)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=snap)
        thread.start()
        for i in range(0, len(later), 10):
            s.append(later[i : i + 10])
        thread.join(30)
        assert errors == []
    with LmdbStorage(tmp_path / "d") as s:
        tree, _ = recover(s)
    assert tree.signature() == applied(first + later).signature()


# ---- map full ---------------------------------------------------------------------


def test_map_full_is_clear_reads_go_on_and_a_bigger_map_continues(tmp_path: Path) -> None:
    data, small = tmp_path / "d", 256 * 1024
    big = [
        Txn(make_zxid(1, c), 0, 0, c, CreateTxn(f"/n{c}", os.urandom(2000))) for c in range(1, 400)
    ]
    with LmdbStorage(data, map_size=small) as s:
        done = 0
        with pytest.raises(StorageError) as err:
            for done in range(0, len(big), 10):
                s.append(big[done : done + 10])
        assert str(s.data_file) in str(err.value)
        assert f"map full: raise --lmdb-map-size (now {small} bytes)" in str(err.value)
        assert 0 < done < len(big)
        assert s.last_zxid() == big[done - 1].zxid  # the failed batch left no trace
        assert s.entries(0, 2**64) == big[:done]  # reads keep working
    with LmdbStorage(data, map_size=16 * small) as s:
        assert s.entries(0, 2**64) == big[:done]
        s.append(big[done:])
        assert s.entries(0, 2**64) == big


# ---- damage -----------------------------------------------------------------------


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    txns = workload(1, 1, 120)
    with LmdbStorage(data) as s:
        s.append(txns[:60])
        s.save_snapshot(applied(txns[:60]).image())
        s.append(txns[60:])
    return data


def _poke(data: Path, fill) -> None:
    """Change the store behind LmdbStorage's back, as damage would."""
    with lmdb.open(str(data / "lmdb"), max_dbs=4, map_size=1 << 26) as env:
        meta, log = env.open_db(b"meta"), env.open_db(b"log")
        with env.begin(write=True) as txn:
            fill(txn, meta, log)


def _refused(data: Path, message: str, names: str, **kwargs) -> None:
    before = fingerprint(data)
    with pytest.raises(StorageError, match=message) as err:
        LmdbStorage(data, **kwargs)
    assert names in str(err.value)
    assert fingerprint(data) == before  # nothing deleted, reset or rewritten


@pytest.mark.parametrize("verify_pages", [True, False])
def test_truncated_data_file(populated: Path, verify_pages: bool) -> None:
    data_file = populated / "lmdb" / "data.mdb"
    os.truncate(data_file, data_file.stat().st_size // 2)
    message = "damaged" if verify_pages else "truncated"
    _refused(populated, message, str(data_file), verify_pages=verify_pages)


def test_data_file_cut_to_nothing_or_missing(populated: Path) -> None:
    data_file = populated / "lmdb" / "data.mdb"
    os.truncate(data_file, 0)
    _refused(populated, "empty file", str(data_file))
    data_file.unlink()
    _refused(populated, "missing", str(data_file))
    assert not data_file.exists()


def test_scrambled_pages(populated: Path) -> None:
    data_file = populated / "lmdb" / "data.mdb"
    raw = bytearray(data_file.read_bytes())
    for page in range(2, len(raw) // 4096):  # every page after the two meta pages
        raw[page * 4096 : page * 4096 + 8] = b"\xee" * 8
    data_file.write_bytes(bytes(raw))
    _refused(populated, "damaged", str(data_file))


def _flip(txn, meta, log) -> None:
    key = struct.pack(">Q", make_zxid(1, 90))
    value = bytearray(txn.get(key, db=log))
    value[len(value) // 2] ^= 0x01
    txn.put(key, bytes(value), db=log)


@pytest.mark.parametrize(
    "damage, message",
    [
        (_flip, r"log record 0x1000000005a fails its checksum"),
        (
            lambda t, m, log: t.put(b"\x00\x01", b"x", db=log),
            "log key 0001 is not an 8-byte zxid",
        ),
        (
            lambda t, m, log: t.put(
                struct.pack(">Q", make_zxid(1, 90)), encode_record(workload(1, 91, 1)[0]), db=log
            ),
            "holds zxid 0x1000000005b",
        ),
        (
            lambda t, m, log: t.put(
                struct.pack(">Q", make_zxid(1, 90)), b"\x00\x00\x00\x00" + b"\xff", db=log
            ),
            "fails its checksum",
        ),
        (lambda t, m, log: t.delete(struct.pack(">Q", make_zxid(1, 100)), db=log), "log gap"),
        (lambda t, m, log: t.delete(struct.pack(">Q", make_zxid(1, 61)), db=log), "log gap"),
        (lambda t, m, log: t.put(b"format", struct.pack(">I", 99), db=m), "unknown store format"),
        (lambda t, m, log: t.delete(b"format", db=m), "no format version"),
        (lambda t, m, log: t.put(b"current_epoch", b"\x01", db=m), "current_epoch is 1 bytes"),
        (lambda t, m, log: t.put(b"snapshots", b"\xff\xff", db=m), "catalogue does not parse"),
    ],
)
def test_damaged_log_or_meta(populated: Path, damage, message: str) -> None:
    _poke(populated, damage)
    _refused(populated, message, str(populated / "lmdb" / "data.mdb"))


def test_corrupted_snapshot(populated: Path) -> None:
    (snap,) = (populated / "snapshots").iterdir()
    raw = bytearray(snap.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    snap.write_bytes(bytes(raw))
    _refused(populated, "checksum mismatch", str(snap))
    snap.write_bytes(bytes(raw[: len(raw) // 2]))
    _refused(populated, "truncated", str(snap))
    snap.unlink()
    _refused(populated, "cannot open snapshot", str(snap))


def test_lost_environment_with_snapshots_left(populated: Path) -> None:
    (populated / "lmdb").rename(populated / "elsewhere")
    with pytest.raises(StorageError, match="missing, yet snapshots exist"):
        LmdbStorage(populated)
    assert not (populated / "lmdb").exists()


# ---- read-only, inspect, backup, restore -------------------------------------------


def test_readonly_refuses_writes(populated: Path) -> None:
    with LmdbStorage(populated, readonly=True) as s:
        assert s.last_zxid() == make_zxid(1, 120)
        with pytest.raises(StorageError, match="read-only"):
            s.append(workload(1, 121, 1))
        with pytest.raises(StorageError, match="read-only"):
            s.set_epochs(accepted=1)
        with pytest.raises(StorageError, match="read-only"):
            s.save_snapshot(DataTree().image())


def test_inspect_reports_counts_and_sizes(populated: Path) -> None:
    before = fingerprint(populated)
    report = inspect_store(populated)
    tree = applied(workload(1, 1, 120))
    assert report["last_zxid"] == make_zxid(1, 120) and report["last_epoch"] == 1
    assert report["znodes"] == tree.node_count and report["sessions"] == 1
    assert report["ephemerals"] == tree.ephemeral_count() > 0
    assert report["log"]["records"] == 60 and report["log"]["purged_through"] == make_zxid(1, 60)
    assert [s["zxid"] for s in report["snapshots"]] == [make_zxid(1, 60)]
    assert report["snapshot_bytes"] > 0 and report["lmdb"]["used_bytes"] > 0
    assert any("last zxid       0x10000000078" in line for line in format_report(report))
    assert fingerprint(populated) == before
    assert not (populated / "lmdb.new").exists()


def test_inspect_of_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no LMDB environment"):
        inspect_store(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_backup_while_appends_continue_restores_a_consistent_prefix(tmp_path: Path) -> None:
    data, out, restored = tmp_path / "d", tmp_path / "backup", tmp_path / "restored"
    txns = workload(1, 1, 3000)
    with LmdbStorage(data, snapshot_retain=2) as s:
        s.append(txns[:500])
        s.save_snapshot(applied(txns[:500]).image())
        started, stop = threading.Event(), threading.Event()

        def writer() -> None:
            for i in range(500, len(txns), 20):
                s.append(txns[i : i + 20])
                started.set()
                if i % 700 == 0:
                    s.save_snapshot(applied(txns[: i + 20]).image())
            stop.set()

        thread = threading.Thread(target=writer)
        thread.start()
        assert started.wait(30)
        summary = backup(data, out, storage=s)
        thread.join(60)
        assert stop.is_set()
    restore(out, restored)
    with LmdbStorage(restored) as r:
        last = r.last_zxid()
        tree, _ = recover(r)
    n = [t.zxid for t in txns].index(last) + 1
    assert summary["last_zxid"] == last and n >= 500
    assert tree.signature() == applied(txns[:n]).signature()  # exactly a committed prefix


def test_backup_of_a_closed_store_and_restore_refuses_to_overwrite(
    populated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    summary = backup(populated, out)
    assert summary["last_zxid"] == make_zxid(1, 120)
    with pytest.raises(StorageError, match="not empty"):
        backup(populated, out)
    with pytest.raises(StorageError, match="not empty"):
        restore(out, populated)
    assert inspect_store(out)["znodes"] == inspect_store(populated)["znodes"]


WRITER = """
import sys
from coordsvc.storage.lmdb_store import LmdbStorage
sys.path.insert(0, sys.argv[2])
from {module} import applied, workload

txns = workload(1, 1, 4000)
with LmdbStorage(sys.argv[1], snapshot_retain=1, sync=False) as s:
    s.append(txns[:100])
    print("ready", flush=True)
    for i in range(100, len(txns), 25):
        s.append(txns[i : i + 25])
        if i % 500 == 0:
            s.save_snapshot(applied(txns[: i + 25]).image())
"""


def test_backup_from_another_process_while_it_writes(tmp_path: Path) -> None:
    """The `coordsvc backup` path: open read-only beside a live writer process."""
    data, out, restored = tmp_path / "d", tmp_path / "b", tmp_path / "r"
    here = Path(__file__).parent
    script = WRITER.format(module=Path(__file__).stem)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(data), str(here)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        summary = backup(data, out)
    finally:
        assert proc.wait(60) == 0
    restore(out, restored)
    with LmdbStorage(restored) as r:
        tree, _ = recover(r)
    txns = workload(1, 1, 4000)
    n = [t.zxid for t in txns].index(summary["last_zxid"]) + 1
    assert n >= 100 and tree.signature() == applied(txns[:n]).signature()


PURGER = """
import sys
from coordsvc.storage.lmdb_store import LmdbStorage
sys.path.insert(0, sys.argv[2])
from {module} import applied, workload

txns = workload(1, 1, 60)
with LmdbStorage(sys.argv[1], snapshot_retain=1) as s:
    s.append(txns[30:])
    s.save_snapshot(applied(txns[:45]).image())  # purges the log through 45
"""


def test_a_reader_sees_a_purge_made_by_another_process_after_it_opened(tmp_path: Path) -> None:
    """A read-only reader beside a live server must not read a log with a hole in it."""
    data = tmp_path / "d"
    txns = workload(1, 1, 60)
    with LmdbStorage(data, snapshot_retain=1) as s:
        s.append(txns[:30])
        s.save_snapshot(applied(txns[:15]).image())
    with LmdbStorage(data, readonly=True) as reader:
        assert reader.entries(txns[14].zxid, txns[29].zxid) == txns[15:30]
        script = PURGER.format(module=Path(__file__).stem)
        here = str(Path(__file__).parent)
        subprocess.run([sys.executable, "-c", script, str(data), here], check=True, timeout=60)
        with pytest.raises(CompactedError):
            reader.entries(txns[14].zxid, txns[59].zxid)  # 16..45 are gone: not a silent gap
        assert reader.entries(txns[44].zxid, txns[59].zxid) == txns[45:]
