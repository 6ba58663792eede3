"""``coordsvc snapshot inspect``, ``backup`` and ``restore`` on real data directories.

The tools run as separate processes beside a live server, as an operator
would run them: inspect must report what the server reports, a backup taken
under write load must restore to a consistent prefix of the commit order,
and every misuse must fail with a clear message and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from coordsvc.client import AsyncClient, Stat
from proctools import admin_status, cli

from coordsvc.tree.txn import zxid_counter, zxid_epoch

TICK_MS = 200


async def children_with_stats(c: AsyncClient, parent: str) -> dict[str, tuple[bytes, Stat]]:
    names = await c.get_children(parent)
    out: dict[str, tuple[bytes, Stat]] = {}
    for i in range(0, len(names), 256):
        chunk = [f"{parent}/{n}" for n in names[i : i + 256]]
        got = await asyncio.gather(*(c.get(p) for p in chunk))
        out.update(zip(chunk, got, strict=True))
    return out


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---- inspect --------------------------------------------------------------------------


async def test_inspect_reports_what_the_server_holds(server_factory) -> None:
    server = server_factory(tick_ms=TICK_MS, snapshot_every=100, snapshot_retain=2)
    async with AsyncClient(server.address, session_timeout=4.0) as owner:
        for i in range(150):
            await owner.create(f"/i/n{i}", b"x" * i, makepath=True)
        for i in range(3):
            await owner.create(f"/i/e{i}", ephemeral=True)
        status = await admin_status(server.address)
        before = files(server.data_dir)

        code, out, err = await cli("snapshot", "inspect", "--json", str(server.data_dir))
        assert code == 0, err
        r = json.loads(out)
        assert r["last_zxid"] == status.last_zxid
        assert r["last_epoch"] == zxid_epoch(status.last_zxid) == status.epoch
        assert r["last_counter"] == zxid_counter(status.last_zxid)
        assert r["current_epoch"] == r["accepted_epoch"] == status.epoch
        assert r["znodes"] == status.znode_count
        assert r["ephemerals"] == 3
        assert r["sessions"] == status.session_count >= 1
        lmdb_file = server.data_dir / "lmdb" / "data.mdb"
        assert r["lmdb"]["file"] == str(lmdb_file)
        assert r["lmdb"]["file_bytes"] == lmdb_file.stat().st_size
        assert 0 < r["lmdb"]["used_bytes"] <= r["lmdb"]["map_size"] == 1 << 30
        assert r["log"]["records"] > 0 and r["log"]["bytes"] > 0
        snaps = r["snapshots"]
        assert 1 <= len(snaps) <= 2
        assert r["snapshot_bytes"] == sum(Path(s["file"]).stat().st_size for s in snaps) > 0
        assert r["log"]["records"] == r["last_counter"] - zxid_counter(r["log"]["purged_through"])

        code, plain, err = await cli("snapshot", "inspect", str(server.data_dir))
        assert code == 0, err
        text = " ".join(plain.split())
        assert f"last zxid {status.last_zxid:#x}" in text
        assert f"epochs accepted {status.epoch}, current {status.epoch}" in text
        assert f"znodes {status.znode_count} (3 ephemeral)" in text
        assert f"sessions {status.session_count}" in text
        assert f"{r['lmdb']['file_bytes']} bytes on disk" in text
        assert f"snapshots {len(snaps)}, {r['snapshot_bytes']} bytes" in text
        # Read-only: the live server's directory gained and lost no file.
        assert files(server.data_dir) == before
        assert (await owner.get("/i/n149"))[0] == b"x" * 149


async def test_inspect_beside_snapshot_churn_reports_and_never_claims_damage(
    server_factory,
) -> None:
    """Inspect reads a live store while the server snapshots and purges under it.

    With a snapshot every 10 txns and one retained, the log behind the
    newest snapshot is purged many times a second. Inspect must still report
    a consistent state (the znode count never changes here: the load is
    sets) and must never call a healthy store damaged.
    """
    server = server_factory(tick_ms=TICK_MS, snapshot_every=10, snapshot_retain=1)
    clients = [AsyncClient(server.address, session_timeout=4.0) for _ in range(4)]
    await asyncio.gather(*(c.start() for c in clients))
    try:
        for b in range(2):
            t = clients[0].transaction()
            for i in range(1000):
                t.create(f"/churn{b}" if i == 0 else f"/churn{b}/n{i}", b"z" * 200)
            await t.commit()
        znodes = (await admin_status(server.address)).znode_count
        stop = asyncio.Event()

        async def writer(c: AsyncClient, w: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                await c.set(f"/churn{w % 2}", str(n).encode())

        tasks = [asyncio.create_task(writer(c, w)) for w, c in enumerate(clients)]
        failures: list[str] = []
        reports = 0
        try:
            for _ in range(5):
                runs = await asyncio.gather(
                    *(cli("snapshot", "inspect", "--json", str(server.data_dir)) for _ in range(4))
                )
                for code, out, err in runs:
                    if code != 0:
                        failures.append(err.strip())
                        continue
                    reports += 1
                    assert json.loads(out)["znodes"] == znodes
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
    assert not failures, (
        f"{len(failures)} of {len(failures) + reports} inspect runs beside a live server failed"
        f" on a healthy store:\n" + "\n".join(failures)
    )


async def test_inspect_of_missing_or_damaged_dir_fails_clearly(server_factory, tmp_path) -> None:
    missing = tmp_path / "nothing-here"
    code, out, err = await cli("snapshot", "inspect", str(missing))
    assert code != 0 and out == ""
    assert str(missing) in err and "Traceback" not in err, err
    assert not missing.exists(), "inspect created the directory it was asked to read"

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = await cli("snapshot", "inspect", "--json", str(empty))
    assert code != 0 and str(empty) in err and "Traceback" not in err, err
    assert files(empty) == []

    server = server_factory(tick_ms=TICK_MS)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        await c.create("/x", b"y")
    assert server.stop() == 0
    data_file = server.data_dir / "lmdb" / "data.mdb"
    with open(data_file, "r+b") as f:
        f.truncate(data_file.stat().st_size // 2)
    code, out, err = await cli("snapshot", "inspect", str(server.data_dir))
    assert code != 0 and out == ""
    assert str(data_file) in err and "truncated" in err and "Traceback" not in err, err


# ---- backup and restore -------------------------------------------------------------

WRITERS = 4


async def test_backup_under_load_restores_a_consistent_prefix(server_factory, tmp_path) -> None:
    server = server_factory(tick_ms=TICK_MS, snapshot_every=200, snapshot_retain=2)
    out_dir, new_dir = tmp_path / "backup", tmp_path / "restored"
    clients = [AsyncClient(server.address, session_timeout=4.0) for _ in range(WRITERS)]
    await asyncio.gather(*(c.start() for c in clients))
    try:
        c0 = clients[0]
        await c0.create("/load")
        for b in range(5):  # some bulk, so the copy takes a moment
            t = c0.transaction()
            for i in range(500):
                t.create(f"/bulk{b}" if i == 0 else f"/bulk{b}/n{i}", b"b" * 100)
            await t.commit()

        stop = asyncio.Event()
        issued = acked = 0
        progress = asyncio.Event()

        async def writer(w: int, c: AsyncClient) -> None:
            nonlocal issued, acked
            i = 0
            while not stop.is_set():
                issued += 1
                await c.create("/load/n-", f"w{w}:{i}".encode(), sequence=True)
                acked += 1
                i += 1
                if acked % 50 == 0:
                    progress.set()

        tasks = [asyncio.create_task(writer(w, c)) for w, c in enumerate(clients)]
        try:
            await asyncio.wait_for(progress.wait(), 30)
            acked_at_start = acked
            code, out, err = await cli("backup", str(server.data_dir), str(out_dir))
            issued_at_end = issued
            progress.clear()
            await asyncio.wait_for(progress.wait(), 30)  # still writing after the backup
        finally:
            stop.set()
            await asyncio.gather(*tasks)  # re-raises a failed write
        assert code == 0, err
        assert str(out_dir) in out and "last_zxid" in out, out
        assert acked > issued_at_end >= acked_at_start > 0

        original = await children_with_stats(c0, "/load")
        bulk = await children_with_stats(c0, "/bulk4")
    finally:
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)

    code, out, err = await cli("restore", str(out_dir), str(new_dir))
    assert code == 0, err
    assert str(new_dir) in out
    restored_server = server_factory(data_dir=new_dir, tick_ms=TICK_MS)
    async with AsyncClient(restored_server.address, session_timeout=4.0) as c:
        restored = await children_with_stats(c, "/load")
        assert await children_with_stats(c, "/bulk4") == bulk
    assert acked_at_start <= len(restored) <= issued_at_end, (
        f"backup holds {len(restored)} writes; {acked_at_start} were acknowledged when it"
        f" started and {issued_at_end} issued when it ended"
    )
    # A prefix of the commit order: the first k sequence numbers, each node as written.
    by_seq = sorted(original, key=lambda p: int(p.rsplit("-", 1)[1]))
    assert sorted(restored) == by_seq[: len(restored)]
    for path, (data, stat) in restored.items():
        assert original[path] == (data, stat), f"{path} differs in the restored copy"

    # The restored directory is an ordinary data dir: inspect agrees with the server on it.
    code, out, err = await cli("snapshot", "inspect", "--json", str(new_dir))
    assert code == 0, err
    status = await admin_status(restored_server.address)
    assert json.loads(out)["znodes"] == status.znode_count


async def test_restore_and_backup_refuse_non_empty_targets(server_factory, tmp_path) -> None:
    server = server_factory(tick_ms=TICK_MS)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        await c.create("/a", b"1")
    backup_dir = tmp_path / "backup"
    code, _, err = await cli("backup", str(server.data_dir), str(backup_dir))
    assert code == 0, err

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    for args in (
        ("restore", str(backup_dir), str(occupied)),
        ("backup", str(server.data_dir), str(occupied)),
    ):
        code, out, err = await cli(*args)
        assert code != 0, f"{args[0]} into a non-empty dir succeeded: {out}"
        assert str(occupied) in err and "not empty" in err and "Traceback" not in err, err
        assert files(occupied) == ["keep.txt"] and (occupied / "keep.txt").read_text() == "mine"

    code, _, err = await cli("restore", str(tmp_path / "no-backup"), str(tmp_path / "fresh"))
    assert code != 0 and str(tmp_path / "no-backup") in err and "Traceback" not in err, err

    # Restoring the good backup into an existing empty directory works.
    target = tmp_path / "empty-target"
    target.mkdir()
    code, _, err = await cli("restore", str(backup_dir), str(target))
    assert code == 0, err
    restored = server_factory(data_dir=target, tick_ms=TICK_MS)
    async with AsyncClient(restored.address, session_timeout=4.0) as c:
        assert (await c.get("/a"))[0] == b"1"
