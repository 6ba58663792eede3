"""Print storage figures: durable append latency next to raw fsync, batch throughput, snapshots.

    python scripts/bench_storage.py [--quick] [--dir DIR] [--znodes N] [--appends N]

Figures, all measured on the filesystem holding --dir in this run:

* a raw loop of write(~130 bytes) + fsync (and + fdatasync) on one file: the
  floor any durable write pays on this disk, p50/p99;
* ``LmdbStorage.append`` of one txn with sync=True, p50/p99, and its ratio
  to the raw fsync loop (an LMDB commit flushes data pages, then the meta
  page: two flushes);
* throughput appending batches of 64 txns (one commit per batch: group
  commit), and with 64 single-txn writes kept in flight through
  StorageWriter, the writer thread the server uses;
* snapshot write and load time and file size for N znodes, and a restart
  (open + verify + newest snapshot + log replay) in a fresh process with its
  time and resident memory.

It prints numbers and asserts nothing. --quick finishes in well under 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchfigures import fs_type, ms, pct, raw_flushes

from coordsvc.storage.lmdb_store import LmdbStorage
from coordsvc.storage.snapshot import load_snapshot, recover, write_snapshot
from coordsvc.storage.writer import StorageWriter
from coordsvc.tree.datatree import SessionRecord, TreeImage
from coordsvc.tree.txn import CreateTxn, Txn, make_zxid, zxid_counter
from coordsvc.tree.znode import Znode

PAYLOAD = b"v" * 100


def raw_loop(directory: Path, n: int, flush) -> list[float]:
    """Append a txn-sized record and flush it, n times; seconds per iteration."""
    fd = os.open(directory / f"raw-{flush.__name__}", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        return raw_flushes(fd, n, flush)
    finally:
        os.close(fd)


def txn(counter: int) -> Txn:
    return Txn(make_zxid(1, counter), 0, 0, counter, CreateTxn(f"/n{counter}", PAYLOAD))


def append_latency(directory: Path, n: int) -> list[float]:
    out = []
    with LmdbStorage(directory / "single") as store:
        for c in range(1, n + 1):
            one = [txn(c)]
            t = time.perf_counter()
            store.append(one)
            out.append(time.perf_counter() - t)
    return out


def batch_throughput(directory: Path, batches: int, size: int = 64) -> tuple[float, int]:
    with LmdbStorage(directory / "batched") as store:
        all_txns = [txn(c) for c in range(1, batches * size + 1)]
        t = time.perf_counter()
        for i in range(0, len(all_txns), size):
            store.append(all_txns[i : i + size])
        elapsed = time.perf_counter() - t
        return len(all_txns) / elapsed, store.syncs


def in_flight_throughput(directory: Path, in_flight: int, seconds: float) -> tuple[float, float]:
    """Keep ``in_flight`` single-txn writes outstanding through StorageWriter (the server's path).

    Each durable report frees that many slots, refilled at once; returns
    (txns per second, mean txns per commit).
    """
    with LmdbStorage(directory / "in-flight") as store:
        state = {"next": 1, "durable": 0}
        finished = threading.Event()
        deadline = time.perf_counter() + seconds

        def submit(count: int) -> None:
            first = state["next"]
            state["next"] += count
            writer.submit([txn(c) for c in range(first, first + count)])

        def on_durable(last: int) -> None:
            done = zxid_counter(last) - state["durable"]
            state["durable"] = zxid_counter(last)
            if time.perf_counter() < deadline:
                submit(done)
            elif state["durable"] == state["next"] - 1:
                finished.set()

        writer = StorageWriter(store, on_durable, lambda exc: finished.set())
        writer.start()
        t = time.perf_counter()
        submit(in_flight)
        finished.wait(seconds + 30)
        elapsed = time.perf_counter() - t
        writer.close()
        return state["durable"] / elapsed, writer.txns / max(1, writer.appends)


def big_image(znodes: int, last_zxid: int) -> TreeImage:
    """A tree of ``znodes`` nodes: 1,000 parents with leaves of 32-byte data."""
    parents = min(1000, max(1, znodes // 10))
    leaves = znodes - parents - 1
    nodes = {"/": Znode(num_children=parents, cversion=parents)}
    for p in range(parents):
        count = leaves // parents + (1 if p < leaves % parents else 0)
        nodes[f"/p{p:04d}"] = Znode(czxid=p + 1, num_children=count, cversion=count)
    for i in range(leaves):
        z = parents + i + 1
        nodes[f"/p{i % parents:04d}/leaf-{i:010d}"] = Znode(
            data=b"d" * 32, czxid=z, mzxid=z, pzxid=z, ctime=1_700_000_000_000 + i
        )
    sessions = {s: SessionRecord(s, 30_000, bytes(16)) for s in range(1, 101)}
    return TreeImage(last_zxid, nodes, sessions)


def snapshot_figures(directory: Path, znodes: int, tail: int) -> dict:
    """Write and load a snapshot directly, then record it in a store with a log tail."""
    image = big_image(znodes, make_zxid(1, 1))
    path = directory / "direct-snapshot"
    t = time.perf_counter()
    info = write_snapshot(image, path)
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    loaded = load_snapshot(path)
    load_s = time.perf_counter() - t
    assert len(loaded.nodes) == znodes
    del loaded
    with LmdbStorage(directory / "restart") as store:
        store.append([txn(1)])  # the snapshot stands for zxid 1
        store.save_snapshot(image)
        store.append([txn(c) for c in range(2, tail + 2)])
    return {"write_s": write_s, "load_s": load_s, "bytes": info.size}


def restart_child(data_dir: str) -> None:
    """Run in a fresh process: open the store and rebuild the tree, report time and memory."""
    t = time.perf_counter()
    with LmdbStorage(data_dir) as store:
        opened = time.perf_counter() - t
        tree, tail = recover(store)
    total = time.perf_counter() - t
    with open("/proc/self/statm") as f:
        rss_pages = int(f.read().split()[1])
    print(
        json.dumps(
            {
                "open_s": opened,
                "total_s": total,
                "znodes": tree.node_count,
                "replayed": len(tail),
                "rss_mb": rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, < 30 s")
    ap.add_argument("--dir", type=Path, default=None, help="where to measure (default: a temp dir)")
    ap.add_argument("--znodes", type=int, default=None, help="snapshot size (default 1,000,000)")
    ap.add_argument("--appends", type=int, default=None, help="single-txn appends (default 1000)")
    ap.add_argument("--restart-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.restart_child:
        restart_child(args.restart_child)
        return
    znodes = args.znodes or (100_000 if args.quick else 1_000_000)
    appends = args.appends or (200 if args.quick else 1000)
    base = Path(tempfile.mkdtemp(prefix="coordsvc-bench-", dir=args.dir))
    try:
        print(f"directory {base} ({fs_type(base)}); python {sys.version.split()[0]}")
        fsync = raw_loop(base, appends, os.fsync)
        fdatasync = raw_loop(base, appends, os.fdatasync)
        lmdb_one = append_latency(base, appends)
        print(f"\nsequential durable writes, {appends} each      p50          p99")
        for name, xs in (("raw write+fsync", fsync), ("raw write+fdatasync", fdatasync)):
            print(f"  {name:<28} {ms(pct(xs, 0.5))} {ms(pct(xs, 0.99))}")
        print(
            f"  {'LmdbStorage.append (1 txn)':<28} {ms(pct(lmdb_one, 0.5))} {ms(pct(lmdb_one, 0.99))}"
        )
        for name, raw in (("fsync", fsync), ("fdatasync", fdatasync)):
            print(
                f"  ratio append / raw {name:<10} p50 {pct(lmdb_one, 0.5) / pct(raw, 0.5):.2f}x"
                f"   p99 {pct(lmdb_one, 0.99) / pct(raw, 0.99):.2f}x"
                f"   mean {statistics.mean(lmdb_one) / statistics.mean(raw):.2f}x"
            )
        rate, syncs = batch_throughput(base, max(20, appends // 4))
        print(f"\nappend in batches of 64: {rate:,.0f} txns/s durable ({syncs} commits)")
        rate, per_commit = in_flight_throughput(base, 64, 1.0 if args.quick else 3.0)
        print(
            f"64 writes in flight via StorageWriter: {rate:,.0f} txns/s durable,"
            f" {per_commit:.1f} txns per commit"
        )

        figures = snapshot_figures(base, znodes, tail=1000)
        print(f"\nsnapshot of {znodes:,} znodes: {figures['bytes'] / 2**20:.1f} MiB")
        print(f"  write {figures['write_s']:.2f} s   load {figures['load_s']:.2f} s")
        child = subprocess.run(
            [sys.executable, __file__, "--restart-child", str(base / "restart")],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(child.stdout)
        print(
            f"  restart (fresh process): open+verify {r['open_s']:.2f} s, total {r['total_s']:.2f} s"
            f" for {r['znodes']:,} znodes + {r['replayed']} log txns;"
            f" RSS {r['rss_mb']:.0f} MiB (peak {r['maxrss_mb']:.0f} MiB)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
