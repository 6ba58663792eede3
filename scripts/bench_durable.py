"""Print end-to-end durability figures of a real ``coordsvc serve`` process.

    python scripts/bench_durable.py [--quick] [--dir DIR] [--writes N] [--seconds S] [--znodes N]

Everything is measured in one run, on the filesystem holding --dir:

(a) a raw loop of write(130 bytes) + fsync on a temp file in the server's
    data dir: the floor any durable write pays on this disk, p50/p99,
    interleaved in chunks of 25 with (b) so both see the same disk;
(b) sequential durable creates through a real server with the SDK, one in
    flight, p50/p99, and their ratio to (a) (the goal: p50 within 1.5x);
    beside them the same creates on a ``--storage memory`` server, so the
    part of (b) that is not the disk shows;
(c) throughput with 64 creates in flight (4 sessions x 16), ops/s, latency
    under load, and the mean batch per LMDB commit (LMDB's txn id, read
    read-only from outside, advances once per commit);
(d) a server holding N znodes (default 1,000,000; --quick 100,000) built with
    concurrent multis of 100 creates: build rate, then restart time (process
    start until health SERVING) and resident memory (VmRSS, VmHWM from
    /proc/PID/status): after a graceful stop (a multi is one txn, so such a
    build may stay below --snapshot-every and the restart replays the log),
    and after an Admin.Snapshot and kill -9 (the restart loads the snapshot).

It prints figures and asserts nothing. --quick finishes in well under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import lmdb
from benchfigures import fs_type, pct, raw_flushes
from benchfigures import ms as _ms
from coordsvc.client import AsyncClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

DATA = b"d" * 100
START_TIMEOUT_S = 600.0


# ---- helpers --------------------------------------------------------------------


def ms(seconds: float) -> str:
    return _ms(seconds, width=7)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024
    return out


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def lmdb_txnid(data_dir: Path) -> int:
    """LMDB's last committed write txn id, read-only beside the running server."""
    env = lmdb.open(
        str(data_dir / "lmdb"), readonly=True, lock=True, max_dbs=4, map_size=0, create=False
    )
    try:
        return env.info()["last_txnid"]
    finally:
        env.close()


class Server:
    """One ``coordsvc serve`` child: started, waited for, stopped or killed."""

    def __init__(self, data_dir: Path, *flags: str) -> None:
        cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
        cmd += ["--data-dir", str(data_dir), "--log-format", "json", *flags]
        self.data_dir = data_dir
        self.log = open(data_dir.parent / f"{data_dir.name}.log", "ab")  # noqa: SIM115
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("coordsvc listening on "):
            self.proc.wait()
            raise RuntimeError(f"server did not start; see {self.log.name}")
        self.listening_s = time.perf_counter() - self.started
        self.address = line.split()[-1]
        self.serving_s = self._wait_serving()

    def _wait_serving(self) -> float:
        deadline = time.monotonic() + START_TIMEOUT_S
        with grpc.insecure_channel(self.address) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < deadline:
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return time.perf_counter() - self.started
                except grpc.RpcError:
                    pass
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)  # poll interval of a deadline-bounded wait
        raise RuntimeError(f"server never became SERVING; see {self.log.name}")

    def stop(self) -> float:
        """SIGTERM and wait; returns the seconds it took."""
        t = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close()
        return time.perf_counter() - t

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


# ---- (a) raw fsync and (b) sequential creates, interleaved --------------------------


async def sequential_creates(
    address: str, n: int, raw_dir: Path | None = None, chunk: int = 25
) -> tuple[list[float], list[float]]:
    """``n`` creates one at a time; with ``raw_dir``, ``n`` raw fsyncs interleaved in chunks.

    Interleaving puts both loops under the same disk conditions: on a shared
    or virtual disk fsync latency drifts by several times within minutes.
    """
    fd = -1
    if raw_dir is not None:
        raw_path = raw_dir / "raw-fsync"
        fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    raw: list[float] = []
    out: list[float] = []
    try:
        async with AsyncClient(address, session_timeout=10.0) as c:
            await c.create("/seq")
            for i in range(50):  # warm up the connection and the server's code paths
                await c.create(f"/seq/warm{i}", DATA)
            for lo in range(0, n, chunk):
                if fd >= 0:
                    raw += raw_flushes(fd, min(chunk, n - lo))
                for i in range(lo, min(n, lo + chunk)):
                    t = time.perf_counter()
                    await c.create(f"/seq/n{i}", DATA)
                    out.append(time.perf_counter() - t)
    finally:
        if fd >= 0:
            os.close(fd)
            raw_path.unlink()
    return raw, out


async def in_flight_creates(
    address: str, data_dir: Path | None, in_flight: int, seconds: float, sessions: int = 4
) -> dict[str, float]:
    """Keep ``in_flight`` creates outstanding for ``seconds``; commits need an LMDB ``data_dir``."""
    clients = [AsyncClient(address, session_timeout=10.0) for _ in range(sessions)]
    await asyncio.gather(*(c.start() for c in clients))
    try:
        await clients[0].create("/load")
        latencies: list[float] = []
        done = 0
        deadline = 0.0

        async def slot(c: AsyncClient, s: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                await c.create(f"/load/s{s}-{i}", DATA)
                latencies.append(time.perf_counter() - t)
                done += 1
                i += 1

        txn_before = lmdb_txnid(data_dir) if data_dir else 0
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(slot(clients[s % sessions], s) for s in range(in_flight)))
        elapsed = time.perf_counter() - start
        commits = lmdb_txnid(data_dir) - txn_before if data_dir else 0
    finally:
        await asyncio.gather(*(c.stop() for c in clients))
    return {
        "ops": done,
        "rate": done / elapsed,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "commits": commits,
        "batch": done / max(1, commits),
    }


# ---- (d) N znodes: build, restart, memory ----------------------------------------------


async def build_znodes(address: str, total: int, in_flight: int = 16, sessions: int = 4) -> int:
    """``total`` znodes (parents of 1,000 leaves each) via multis of 100 creates."""
    parents = max(1, total // 1001)
    clients = [AsyncClient(address, session_timeout=30.0) for _ in range(sessions)]
    await asyncio.gather(*(c.start() for c in clients))
    try:
        for p in range(0, parents, 100):
            t = clients[0].transaction()
            for q in range(p, min(parents, p + 100)):
                t.create(f"/p{q:05d}", b"")
            await t.commit()
        leaves = total - parents
        batches = [(b * 100, min(leaves, b * 100 + 100)) for b in range((leaves + 99) // 100)]
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)

        async def worker(c: AsyncClient) -> None:
            while not queue.empty():
                lo, hi = queue.get_nowait()
                t = c.transaction()
                for i in range(lo, hi):
                    t.create(f"/p{i % parents:05d}/leaf-{i:09d}", b"x" * 32)
                await t.commit()

        await asyncio.gather(*(worker(clients[w % sessions]) for w in range(in_flight)))
        return parents + leaves
    finally:
        await asyncio.gather(*(c.stop() for c in clients))


async def count_znodes(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as ch:
        return (await apb_grpc.AdminStub(ch).Status(apb.StatusRequest(), timeout=30)).znode_count


async def admin_snapshot(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as ch:
        return (await apb_grpc.AdminStub(ch).Snapshot(apb.SnapshotRequest(), timeout=600)).zxid


# ---- main -----------------------------------------------------------------------------


def main() -> None:
    asyncio.run(amain(parse_args()))


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, well under 60 s")
    ap.add_argument("--dir", type=Path, default=None, help="where to measure (default: a temp dir)")
    ap.add_argument("--writes", type=int, default=None, help="sequential writes (default 1000)")
    ap.add_argument("--seconds", type=float, default=None, help="in-flight run (default 5 s)")
    ap.add_argument("--znodes", type=int, default=None, help="big tree size (default 1,000,000)")
    return ap.parse_args()


async def amain(args: argparse.Namespace) -> None:
    """All of it on one event loop (grpc.aio keeps to the loop it first ran on)."""
    writes = args.writes or (300 if args.quick else 1000)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    znodes = args.znodes or (100_000 if args.quick else 1_000_000)
    base = Path(tempfile.mkdtemp(prefix="coordsvc-bench-durable-", dir=args.dir))
    rows: list[tuple[str, str]] = []
    try:
        print(
            f"directory {base} ({fs_type(base)}); python {sys.version.split()[0]};"
            f" {os.cpu_count()} CPUs",
            flush=True,
        )
        server = Server(base / "memory", "--storage", "memory")
        try:
            _, seq_mem = await sequential_creates(server.address, writes)
            load_mem = await in_flight_creates(server.address, None, 64, seconds)
        finally:
            server.stop()

        small = base / "small"
        server = Server(small)
        try:
            raw, seq = await sequential_creates(server.address, writes, raw_dir=small)
            load = await in_flight_creates(server.address, small, 64, seconds)
        finally:
            server.stop()
        rows += [
            ("(a) raw write+fsync p50 / p99", f"{ms(pct(raw, 0.5))} / {ms(pct(raw, 0.99))}"),
            (
                "(b) durable create, 1 in flight p50 / p99",
                f"{ms(pct(seq, 0.5))} / {ms(pct(seq, 0.99))}",
            ),
            (
                "    same, --storage memory (no disk) p50 / p99",
                f"{ms(pct(seq_mem, 0.5))} / {ms(pct(seq_mem, 0.99))}",
            ),
            (
                "    ratio (b)/(a) p50 / p99 / mean",
                f"{pct(seq, 0.5) / pct(raw, 0.5):.2f}x / {pct(seq, 0.99) / pct(raw, 0.99):.2f}x"
                f" / {statistics.mean(seq) / statistics.mean(raw):.2f}x   (goal p50 <= 1.5x)",
            ),
            (
                "(c) 64 in flight: throughput",
                f"{load['rate']:,.0f} creates/s ({load['ops']:,} in {seconds:.0f} s)",
            ),
            ("    latency p50 / p99", f"{ms(load['p50'])} / {ms(load['p99'])}"),
            (
                "    same, --storage memory (no disk)",
                f"{load_mem['rate']:,.0f} creates/s, p50 / p99"
                f" {ms(load_mem['p50'])} / {ms(load_mem['p99'])}",
            ),
            (
                "    LMDB commits, mean batch",
                f"{load['commits']:,} commits, {load['batch']:.1f} creates per commit",
            ),
        ]
        print_rows(rows)

        big = base / "big"
        server = Server(big)
        t = time.perf_counter()
        made = await build_znodes(server.address, znodes)
        build_s = time.perf_counter() - t
        count = await count_znodes(server.address)
        built_mem = proc_status(server.proc.pid)
        stop_s = server.stop()
        rows = [
            (
                f"(d) build {made:,} znodes (multis of 100)",
                f"{build_s:.1f} s, {made / build_s:,.0f} znodes/s; server holds {count:,};"
                f" RSS {built_mem['VmRSS']} MiB (peak {built_mem['VmHWM']} MiB)",
            ),
            (
                "    data dir after stop",
                f"{dir_bytes(big) / 2**20:,.0f} MiB; stop took {stop_s:.1f} s",
            ),
        ]
        # A multi is one txn, so the build may stay under --snapshot-every: the first
        # restart then replays the log; the second follows an Admin.Snapshot and kill -9.
        for how in ("after stop", "after Admin.Snapshot + kill -9"):
            snaps = len(list((big / "snapshots").glob("snap-*")))
            server = Server(big)
            mem = proc_status(server.proc.pid)
            count = await count_znodes(server.address)
            rows.append(
                (
                    f"    restart {how}",
                    f"SERVING in {server.serving_s:.2f} s (listening {server.listening_s:.2f} s);"
                    f" {count:,} znodes; {snaps} snapshot(s) on disk;"
                    f" RSS {mem['VmRSS']} MiB (peak {mem['VmHWM']} MiB)",
                )
            )
            if how == "after stop":
                t = time.perf_counter()
                await admin_snapshot(server.address)
                rows.append(("    Admin.Snapshot", f"{time.perf_counter() - t:.2f} s"))
                server.kill()
            else:
                server.stop()
        print_rows(rows)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", flush=True)


if __name__ == "__main__":
    main()
