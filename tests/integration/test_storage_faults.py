"""A damaged or full store, with real server processes.

A damaged data directory (truncated or corrupted LMDB file, damaged newest
snapshot) must stop ``coordsvc serve`` quickly with a non-zero exit and a
message naming the file and the damage, and must leave every byte of the
directory as it was. A full LMDB map must fail writes with STORAGE_FULL
while reads go on, and a restart with a larger map must continue.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from coordsvc.client import AsyncClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordsvc.errors import StorageFullError
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc
from coordsvc.v1 import coordination_pb2 as cpb
from coordsvc.v1 import coordination_pb2_grpc as cpb_grpc

TICK_MS = 200
REFUSE_TIMEOUT_S = 20.0  # "quickly": a damaged store is refused in well under this
MARKER = b"LOG-RECORD-MARKER-" + bytes(range(65, 91)) * 2


def listing(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: relative path -> (size, sha256).

    ``lmdb/lock.mdb`` counts by size only: it is LMDB's shared reader table,
    holds no data, and every process that opens the environment, a read-only
    one included, reinitialises it when it is the first to open it.
    """
    return {
        str(p.relative_to(root)): (
            p.stat().st_size,
            "-" if p.name == "lock.mdb" else hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def serve_refuses(data_dir: Path, *flags: str) -> tuple[int, str, float]:
    """Run ``coordsvc serve`` on ``data_dir``; (exit code, stderr, seconds) of a refusal."""
    cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--data-dir", str(data_dir), "--tick-ms", str(TICK_MS), *flags]
    t = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=REFUSE_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"coordsvc serve kept running on a damaged store; stdout {exc.stdout!r}"
        ) from None
    return proc.returncode, proc.stderr + proc.stdout, time.monotonic() - t


class Stubs:
    """Blocking unary stubs of one server: the sync tests here use no event loop."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.coord = cpb_grpc.CoordinationStub(self.channel)
        self.admin = apb_grpc.AdminStub(self.channel)

    def __enter__(self) -> Stubs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()

    def create(self, path: str, data: bytes) -> str:
        return self.coord.Create(cpb.CreateRequest(path=path, data=data), timeout=10).path

    def set(self, path: str, data: bytes) -> None:
        self.coord.SetData(cpb.SetDataRequest(path=path, data=data), timeout=10)

    def get(self, path: str) -> bytes | None:
        resp = self.coord.Exists(cpb.ExistsRequest(path=path), timeout=10)
        if not resp.HasField("stat"):
            return None
        return self.coord.GetData(cpb.GetDataRequest(path=path), timeout=10).data

    def children(self, path: str) -> list[str]:
        return list(self.coord.GetChildren(cpb.GetChildrenRequest(path=path), timeout=10).names)

    def snapshot(self) -> int:
        return self.admin.Snapshot(apb.SnapshotRequest(), timeout=30).zxid


# ---- 4. damaged store ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A stopped server's data dir: two snapshots, then a log tail holding MARKER."""
    data_dir = tmp_path_factory.mktemp("pristine") / "data"
    cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--data-dir", str(data_dir), "--tick-ms", str(TICK_MS), "--snapshot-every", "0"]
    log = open(data_dir.parent / "stderr.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # the server prints it once listening
        assert line.startswith("coordsvc listening on "), line
        with Stubs(line.split()[-1]) as c:
            for i in range(60):
                c.create(f"/d{i}", b"data-%d" % i * 20)
            c.snapshot()
            for i in range(60):
                c.set(f"/d{i}", b"second-%d" % i)
            c.snapshot()
            c.create("/marker", MARKER)
            for i in range(30):
                c.create(f"/tail{i}", b"t")
        proc.terminate()
        assert proc.wait(STOP_S := 15) == 0, f"server did not stop cleanly in {STOP_S} s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    yield data_dir


def _copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(pristine, target)
    return target


def newest_snapshot(data_dir: Path) -> Path:
    snaps = sorted((data_dir / "snapshots").glob("snap-*"))
    assert len(snaps) == 2, snaps
    return snaps[-1]


def truncate_half(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def truncate_zero(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(0)


def flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def corrupt_marker_record(path: Path) -> None:
    """Flip one byte inside MARKER's log record (every copy LMDB left in the file)."""
    data = bytearray(path.read_bytes())
    at = data.find(MARKER)
    assert at >= 0, "the marker record is not in data.mdb"
    while at >= 0:
        data[at + len(MARKER) // 2] ^= 0x01
        at = data.find(MARKER, at + 1)
    path.write_bytes(bytes(data))


def smash_marker_page(path: Path) -> None:
    """Overwrite the header of every page holding MARKER (a page in the middle of the file)."""
    data = bytearray(path.read_bytes())
    psize = 4096
    at = data.find(MARKER)
    assert 2 * psize <= at < len(data) - psize, "the marker is not in a middle page"
    while at >= 0:
        page = at - at % psize
        data[page : page + 16] = b"\xa5" * 16
        at = data.find(MARKER, page + psize)
    path.write_bytes(bytes(data))


def cut_last_page(path: Path) -> None:
    """Lose the end of the file (a short write of the last page)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 100)


def smash_meta_pages(path: Path) -> None:
    """Garble both LMDB meta pages (pages 0 and 1) past their page headers."""
    data = bytearray(path.read_bytes())
    for page in (0, 4096):
        data[page + 16 : page + 80] = b"\x5a" * 64
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


DAMAGE: dict[str, tuple[Callable[[Path], Path], Callable[[Path], None], tuple[str, ...]]] = {
    # case: (which file, what to do to it, words one of which must describe the damage)
    "data.mdb truncated to half": (
        lambda d: d / "lmdb" / "data.mdb",
        truncate_half,
        ("truncated",),
    ),
    "data.mdb truncated to 0": (
        lambda d: d / "lmdb" / "data.mdb",
        truncate_zero,
        ("truncated", "empty"),
    ),
    "log record byte flipped": (
        lambda d: d / "lmdb" / "data.mdb",
        corrupt_marker_record,
        ("checksum",),
    ),
    "data.mdb page header smashed": (
        lambda d: d / "lmdb" / "data.mdb",
        smash_marker_page,
        ("damaged", "corrupt", "invalid", "bad", "not a readable"),
    ),
    "data.mdb last page cut short": (
        lambda d: d / "lmdb" / "data.mdb",
        cut_last_page,
        ("truncated", "damaged"),
    ),
    "data.mdb meta pages smashed": (
        lambda d: d / "lmdb" / "data.mdb",
        smash_meta_pages,
        ("damaged", "invalid", "not a readable", "meta"),
    ),
    "newest snapshot truncated": (newest_snapshot, truncate_half, ("truncated",)),
    "newest snapshot deleted": (newest_snapshot, delete, ("missing", "cannot open", "no such")),
    "newest snapshot bytes flipped": (
        newest_snapshot,
        flip_middle,
        ("checksum", "does not parse", "bad frame"),
    ),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_store_is_refused_and_left_alone(case: str, pristine: Path, tmp_path: Path) -> None:
    data_dir = _copy(pristine, tmp_path)
    which, damage, words = DAMAGE[case]
    target = which(data_dir)
    damage(target)
    before = listing(data_dir)

    code, stderr, seconds = serve_refuses(data_dir)

    assert code != 0, f"{case}: serve exited 0; stderr:\n{stderr}"
    assert "coordsvc listening on" not in stderr
    assert seconds < 10, f"{case}: took {seconds:.1f} s to refuse"
    assert str(target) in stderr, f"{case}: stderr does not name {target}:\n{stderr}"
    assert any(w in stderr.lower() for w in words), f"{case}: no {words} in:\n{stderr}"
    assert "Traceback" not in stderr, f"{case}: a crash, not a refusal:\n{stderr}"
    assert listing(data_dir) == before, f"{case}: the data dir changed"
    # Refusing is stable: a second attempt says the same and still changes nothing.
    code2, stderr2, _ = serve_refuses(data_dir)
    assert code2 == code and str(target) in stderr2
    assert listing(data_dir) == before


def test_undamaged_copy_starts(pristine: Path, tmp_path: Path, server_factory) -> None:
    """The control: the same copy, undamaged, serves every write made before the stop."""
    data_dir = _copy(pristine, tmp_path)
    server = server_factory(data_dir=data_dir, tick_ms=TICK_MS)
    with Stubs(server.address) as c:
        assert c.get("/marker") == MARKER
        assert c.get("/d7") == b"second-7"
        assert len(c.children("/")) == 60 + 1 + 30


def newest_meta_txnid_offset(data: bytes) -> int:
    """Where the newer LMDB meta page keeps its txn id (64-bit LMDB 0.9 layout).

    A meta page is a 16-byte page header, then magic and version (4 + 4),
    address and map size (8 + 8), two MDB_db records (48 each) and the last
    page number (8): the txn id follows at byte 144. LMDB opens the meta page
    with the larger txn id, so the two hold consecutive ids once anything
    has been committed.
    """
    offsets = [page + 144 for page in (0, 4096)]
    ids = [struct.unpack_from("<Q", data, off)[0] for off in offsets]
    assert abs(ids[0] - ids[1]) == 1, f"meta pages hold txn ids {ids}"
    return offsets[ids.index(max(ids))]


def test_corrupted_newest_meta_page_is_refused(tmp_path: Path, server_factory) -> None:
    """One flipped byte in the newest LMDB meta page must not roll the store back silently.

    LMDB keeps no checksum on its two meta pages and opens the one with the
    larger txn id. Lower the newer one's txn id by four (same parity, so the
    page still looks like it belongs where it is) and LMDB would open the
    older meta page: the last commit -- here an acknowledged create -- gone,
    every page the walk visits sound, and nothing saying so. The store can
    tell: after any commit the two ids are one apart (N and N - 1, or N - 1
    and N - 2 after a crash before meta page N was written).

    A change of exactly two is the one damage this cannot see: the pair then
    reads N - 1 and N - 2, the same as a crash just before commit N's meta
    write. Telling those apart needs a second durable record of the last
    commit, which would cost a second sync per write.
    """
    server = server_factory(tick_ms=TICK_MS)

    with Stubs(server.address) as c:
        c.create("/first", b"1")
        c.create("/last", b"acknowledged")  # session-less: the last LMDB commit
    server.kill()
    data_file = server.data_dir / "lmdb" / "data.mdb"
    data = bytearray(data_file.read_bytes())
    at = newest_meta_txnid_offset(data)
    txnid = struct.unpack_from("<Q", data, at)[0]
    # Keep the txn id's parity (meta page = txnid % 2) and put it below the
    # older page's, further back than any crash could leave it.
    struct.pack_into("<Q", data, at, txnid - 4)
    data_file.write_bytes(bytes(data))
    before = listing(server.data_dir)

    cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--data-dir", str(server.data_dir), "--tick-ms", str(TICK_MS)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the listening line, or "" once it exits
        if line.startswith("coordsvc listening on "):
            with Stubs(line.split()[-1]) as c:
                last = c.get("/last")
            raise AssertionError(
                f"serve started on a store whose newest meta page is corrupted; /last is"
                f" {'missing: the acknowledged create was rolled back' if last is None else last}"
            )
        code = proc.wait(REFUSE_TIMEOUT_S)
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert code != 0 and str(data_file) in stderr, stderr
    assert listing(server.data_dir) == before


# ---- 5. map full --------------------------------------------------------------------

SMALL_MAP = 256 << 10
VALUE = b"v" * 1024


def health_status(address: str) -> int:
    with grpc.insecure_channel(address) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return resp.status


async def test_map_full_fails_writes_keeps_reads_and_a_larger_map_continues(
    server_factory,
) -> None:
    server = server_factory(tick_ms=TICK_MS, lmdb_map_size=SMALL_MAP)
    acked: dict[str, bytes] = {}
    refused: list[str] = []
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        full: StorageFullError | None = None
        for i in range(10_000):
            path = f"/n{i:05d}"
            value = VALUE + str(i).encode()
            try:
                await c.create(path, value)
            except StorageFullError as exc:
                full = exc
                refused.append(path)
                break
            acked[path] = value
        assert full is not None, "the store never filled up"
        assert full.code == "STORAGE_FULL" and isinstance(full, StorageFullError)
        assert "map" in str(full).lower() or "full" in str(full).lower(), str(full)
        assert len(acked) >= 20, "a map this size should hold some writes"

        # A burst of writes into the full store: each one fails cleanly or is acknowledged.
        burst = [f"/burst{i}" for i in range(20)]
        results = await asyncio.gather(*(c.create(p, VALUE) for p in burst), return_exceptions=True)
        for path, res in zip(burst, results, strict=True):
            if isinstance(res, BaseException):
                assert isinstance(res, StorageFullError), repr(res)
                refused.append(path)
            else:
                acked[path] = VALUE
        assert len(refused) > 1, "the burst into a full store was not refused"
        with pytest.raises(StorageFullError):
            await c.set(next(iter(acked)), b"x" * 4096)

        # Reads keep working, on the session and session-less, and nothing refused shows.
        for path, value in list(acked.items())[:: max(1, len(acked) // 25)]:
            assert (await c.get(path))[0] == value
        for path in refused:
            assert await c.exists(path) is None, f"{path} was refused yet is visible"
        names = await c.get_children("/")
        assert sorted(f"/{n}" for n in names) == sorted(acked)
        async with grpc.aio.insecure_channel(server.address) as ch:
            stub = cpb_grpc.CoordinationStub(ch)
            first = next(iter(acked))
            resp = await stub.GetData(cpb.GetDataRequest(path=first), timeout=10)
            assert resp.data == acked[first]
        assert health_status(server.address) == health_pb2.HealthCheckResponse.SERVING
        assert server.proc.poll() is None

    assert server.stop() == 0, f"a full store did not stop cleanly:\n{server.logs()[-2000:]}"
    server = server_factory(data_dir=server.data_dir, tick_ms=TICK_MS, lmdb_map_size=4 * SMALL_MAP)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        names = await c.get_children("/")
        assert sorted(f"/{n}" for n in names) == sorted(acked)
        for path, value in acked.items():
            assert (await c.get(path))[0] == value
        # Writes continue: at least as many again as the small map held.
        for i in range(len(acked)):
            await c.create(f"/more{i:05d}", VALUE)
        assert len(await c.get_children("/")) == 2 * len(acked)
