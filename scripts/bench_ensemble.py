"""Print replication figures of real ``coordsvc serve`` processes on loopback.

Measured in one run, next to each other, because this kind of machine is
shared and noisy: compare the ratios, not the absolute numbers.

(a) sequential creates, 1 in flight and N in flight, on a standalone server
    and on a 3-node ensemble (all writes through the leader); the ensemble
    figure over the standalone one is the price of replication here.
(b) failover: kill -9 the leader under a steady writer and print the longest
    stretch without an acknowledged write.
(c) a follower stopped under load and started again: how many txns it was
    behind and how long until it follows again.

``--quick`` shortens every phase (the CI smoke run uses it). All processes
are started here on free loopback ports and stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from benchfigures import free_port, ms, pct
from coordsvc.client import AsyncClient

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

DATA = b"d" * 100


class Proc:
    """One ``coordsvc serve`` child, started without waiting for it to serve."""

    def __init__(self, root: Path, name: str, *flags: str) -> None:
        self.data_dir = root / name
        self.address = f"127.0.0.1:{free_port()}"
        self.flags = flags
        self.log = root / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", self.address]
        cmd += ["--data-dir", str(self.data_dir), "--log-format", "json", *self.flags]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
            )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(60) or not self.proc.stdout.readline().startswith(b"coordsvc"):
                raise RuntimeError(f"server did not start; see {self.log}")

    def status(self) -> apb.StatusResponse | None:
        try:
            with grpc.insecure_channel(self.address) as ch:
                return apb_grpc.AdminStub(ch).Status(apb.StatusRequest(), timeout=1)
        except grpc.RpcError:
            return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def ensemble(root: Path, voters: int = 3) -> list[Proc]:
    peer_ports = {i: free_port() for i in range(1, voters + 1)}
    peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in peer_ports.items())
    return [
        Proc(
            root,
            f"n{i}",
            *("--id", str(i), "--peer-listen", f"127.0.0.1:{peer_ports[i]}", "--peers", peers),
        )
        for i in peer_ports
    ]


def wait_leader(nodes: list[Proc], timeout: float = 60.0) -> Proc:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roles = {n: n.status() for n in nodes if n.proc and n.proc.poll() is None}
        leaders = [n for n, st in roles.items() if st is not None and st.role == "leading"]
        if len(leaders) == 1 and all(st is not None for st in roles.values()):
            return leaders[0]
        time.sleep(0.05)  # poll interval of a deadline-bounded wait
    raise RuntimeError("no leader elected")


# ---- (a) throughput and latency ---------------------------------------------------


async def creates(address: str, in_flight: int, seconds: float) -> tuple[float, list[float]]:
    async with AsyncClient(address, session_timeout=10.0) as c:
        parent = f"/b{time.monotonic_ns()}"
        await c.create(parent)
        for i in range(20):  # warm up
            await c.create(f"{parent}/w{i}", DATA)
        end = time.monotonic() + seconds
        lat: list[float] = []

        async def slot() -> None:
            while time.monotonic() < end:
                t = time.perf_counter()
                await c.create(f"{parent}/n-", DATA, sequence=True)
                lat.append(time.perf_counter() - t)

        started = time.monotonic()
        await asyncio.gather(*(slot() for _ in range(in_flight)))
        return len(lat) / (time.monotonic() - started), lat


# ---- (b) failover -----------------------------------------------------------------


async def failover_gap(nodes: list[Proc], leader: Proc) -> float:
    others = [n for n in nodes if n is not leader]
    hosts = [n.address for n in others] + [leader.address]
    async with AsyncClient(hosts, session_timeout=10.0) as c:
        acks: list[float] = []
        stop = asyncio.Event()

        async def writer() -> None:
            i = 0
            while not stop.is_set():
                await c.create(f"/f{i:06d}", DATA)
                acks.append(time.monotonic())
                i += 1

        task = asyncio.create_task(writer())
        while len(acks) < 50:
            await asyncio.sleep(0.01)  # poll interval: the writer is warming up
        killed = time.monotonic()
        leader.stop(signal.SIGKILL)
        while len([t for t in acks if t > killed]) < 20:
            await asyncio.sleep(0.01)  # poll interval; the writer resumes on its own
        stop.set()
        await task
    window = [t for t in acks if t >= killed - 1.0]
    return max(b - a for a, b in zip(window, window[1:], strict=False))


# ---- (c) catch-up -------------------------------------------------------------------


async def catch_up(nodes: list[Proc], leader: Proc, down_s: float) -> tuple[int, float]:
    follower = next(n for n in nodes if n is not leader and n.proc and n.proc.poll() is None)
    async with AsyncClient(leader.address, session_timeout=10.0) as c:
        await c.ensure_path("/c")
        stop = asyncio.Event()
        count = 0

        async def writer() -> None:
            nonlocal count
            while not stop.is_set():
                await c.create("/c/n-", DATA, sequence=True)
                count += 1

        tasks = [asyncio.create_task(writer()) for _ in range(8)]
        follower.stop()
        before = count
        await asyncio.sleep(down_s)  # the follower stays down this long under load
        behind = count - before
        started = time.monotonic()
        follower.start()
        while True:
            st = follower.status()
            if st is not None and st.role == "following" and st.last_zxid >= 1:
                break
            await asyncio.sleep(0.02)  # poll interval of a bounded wait (the loop below)
            if time.monotonic() - started > 120:
                raise RuntimeError("the follower never caught up")
        took = time.monotonic() - started
        stop.set()
        await asyncio.gather(*tasks)
    return behind, took


# ---- main ---------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short phases (CI smoke run)")
    p.add_argument("--in-flight", type=int, default=64)
    asyncio.run(run(p.parse_args()))


async def run(args: argparse.Namespace) -> None:
    """Every phase on one event loop (grpc.aio outlives a loop it was used on)."""
    seconds = 1.5 if args.quick else 5.0
    root = Path(tempfile.mkdtemp(prefix="coordsvc-bench-ens-"))
    procs: list[Proc] = []
    try:
        solo = Proc(root, "solo")
        procs.append(solo)
        solo.start()
        nodes = ensemble(root)
        procs += nodes
        for n in nodes:
            n.start()
        leader = wait_leader(nodes)
        rows = []
        for label, proc in (("standalone", solo), ("3-node ensemble", leader)):
            one_rate, one = await creates(proc.address, 1, seconds)
            many_rate, many = await creates(proc.address, args.in_flight, seconds)
            rows.append((label, one_rate, one, many_rate, many))
        print(f"coordsvc on {os.cpu_count()} cpus, one run (compare the ratios)")
        for label, one_rate, one, many_rate, many in rows:
            print(
                f"(a) {label:16s} 1 in flight: p50 {ms(pct(one, 0.5))}, {one_rate:6.0f}/s;"
                f" {args.in_flight} in flight: {many_rate:6.0f}/s, p50 {ms(pct(many, 0.5))}"
            )
        (_, s1, _, sn, _), (_, e1, _, en, _) = rows
        print(f"    ensemble / standalone: 1 in flight {e1 / s1:.2f}x, many {en / sn:.2f}x")
        gap = await failover_gap(nodes, leader)
        print(f"(b) failover: longest stretch without an acked write {gap:.3f} s (goal < 2 s)")
        leader.stop(signal.SIGKILL)  # make sure; then bring it back as a follower
        leader.start()
        new_leader = wait_leader(nodes)
        behind, took = await catch_up(nodes, new_leader, 2.0 if args.quick else 8.0)
        print(f"(c) a follower {behind} txns behind follows again after {took:.2f} s")
    finally:
        for proc in procs:
            proc.stop(signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
