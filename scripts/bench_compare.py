"""Measure coordsvc next to Apache ZooKeeper and etcd, on this machine, in one run.

The project's aim is to beat ZooKeeper and etcd at their own game, measured
on the same machine; this script is that measurement. Each system is started
here, in turn, on free loopback ports in a temporary directory (standalone
with ``--nodes 1``, a 3-member cluster on loopback with ``--nodes 3``), the
same workload is run against it, and it is stopped again before the next one
starts:

(a) writes: create (etcd: put) of a 100-byte value under a unique key, with
    1 request in flight, then with N (``--in-flight``, default 64) in flight;
(b) reads: get of one existing key, N in flight.

Each phase lasts a few seconds (``--quick``: about one) after an untimed
warm-up; it prints ops/s and p50/p99 latency per system, then the ratios
coordsvc / ZooKeeper and coordsvc / etcd. With 3 members the client talks to
the leader of each system (the shortest write path every system offers).

What limits the comparison -- read the ratios with these in mind:

- The clients differ. Each system is driven by its usual Python client:
  coordsvc by its own asyncio SDK (``coordsvc.client.AsyncClient``, one gRPC
  stream per session); ZooKeeper by kazoo, whose I/O and callbacks run on
  threads (``create_async``/``get_async`` keep N requests in flight); etcd
  by its gRPC KV API through grpc.aio (unary calls on one HTTP/2 channel,
  the messages declared here from etcd's public API), not by a full etcd
  client library. A slow client caps a fast server: for ZooKeeper the
  figures may say more about kazoo than about the server. That is why
  coordsvc is also measured through its ZooKeeper front end
  (``--zk-listen``) with the very same kazoo workload ("coordsvc/kazoo"):
  that row against ZooKeeper's compares the servers with the client held
  equal (and with ZooKeeper's read semantics: local reads).
- Everything shares this machine's cores (2 here): the benchmark client and
  the servers (and, with 3 members, all of them) compete for the same CPUs,
  so a system that spends less CPU per request in its client or its servers
  gains twice. A 3-member cluster on one machine also shares one disk.
- All three are durable, as each ships by default: coordsvc syncs its LMDB
  log before it acknowledges a write; ZooKeeper runs with forceSync=yes (set
  explicitly here, it is the default) and fsyncs its txn log before it acks;
  etcd fsyncs its WAL (``--unsafe-no-fsync`` is not used). No system gets a
  non-durable shortcut.
- Reads run at each system's default consistency: coordsvc and etcd serve
  linearizable reads (a read index: the answering server first makes sure it
  is up to date with the leader), while ZooKeeper answers a read at once from
  the connected server's tree (sequential consistency), which costs it less.
  coordsvc's ``consistency="local"`` is ZooKeeper's kind of read; it is not
  used here.
- One run on a shared, noisy machine: compare the ratios, not the absolute
  numbers, and expect them to drift between runs (by tens of percent while
  other work loads the machine).

Needs ``scripts/install_compare_deps.sh`` (the ``zookeeper`` and ``etcd-server``
packages) and ``pip install -e '.[compare]'`` (kazoo). A system that cannot
be started is reported with the reason and skipped; the exit status is
non-zero only when coordsvc itself cannot be measured. Every process started
here is stopped by its PID (SIGTERM, then SIGKILL) and the directory removed.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import importlib.metadata
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from bench_ensemble import DATA, Proc, ensemble, wait_leader
from benchfigures import free_port, fs_type, ms, pct
from coordsvc.client import AsyncClient

# ---- figures ------------------------------------------------------------------------


@dataclass
class Phase:
    rate: float
    lat: list[float]

    def cells(self) -> str:
        return f"{self.rate:8.0f}/s {ms(pct(self.lat, 0.5), 7)} {ms(pct(self.lat, 0.99), 7)}"


@dataclass
class Result:
    system: str
    version: str
    write1: Phase
    writen: Phase
    readn: Phase


async def drive(op: Callable[[int], Awaitable[object]], in_flight: int, seconds: float) -> Phase:
    """Keep ``in_flight`` calls of ``op`` (each with a fresh index) going for ``seconds``."""
    counter = itertools.count()
    lat: list[float] = []
    end = time.monotonic() + seconds

    async def slot() -> None:
        while time.monotonic() < end:
            t = time.perf_counter()
            await op(next(counter))
            lat.append(time.perf_counter() - t)

    started = time.monotonic()
    await asyncio.gather(*(slot() for _ in range(in_flight)))
    return Phase(len(lat) / (time.monotonic() - started), lat)


def drive_callbacks(start: Callable[[int], object], in_flight: int, seconds: float) -> Phase:
    """The same for an API that returns a kazoo async result per call.

    Each completion (on kazoo's callback thread) starts the next call of its
    slot, so ``in_flight`` calls stay outstanding until the time is up.
    """
    counter = itertools.count()
    lat: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = threading.Event()
    active = in_flight
    end = time.monotonic() + seconds

    def issue() -> None:
        t = time.perf_counter()
        start(next(counter)).rawlink(lambda res: finished(res, t))

    def finished(res, t: float) -> None:
        nonlocal active
        lat.append(time.perf_counter() - t)
        if not res.successful():
            errors.append(res.exception)
        if time.monotonic() < end and not errors:
            issue()
            return
        with lock:
            active -= 1
            if active == 0:
                done.set()

    started = time.monotonic()
    for _ in range(in_flight):
        issue()
    if not done.wait(seconds + 60):
        raise RuntimeError("requests did not complete")
    if errors:
        raise RuntimeError(f"a request failed: {errors[0]!r}")
    return Phase(len(lat) / (time.monotonic() - started), lat)


# ---- processes ----------------------------------------------------------------------


class Child:
    """A server process other than coordsvc: started here, stopped by its PID."""

    def __init__(self, name: str, cmd: list[str], log: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(
                f"{self.name} exited with status {self.proc.returncode}: " + " | ".join(tail)
            )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stop_all(procs: list) -> None:
    for p in procs:
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            print(f"    could not stop {p}: {e}", file=sys.stderr)


async def workload(
    make_write: Callable[[str], Callable[[int], Awaitable[object]]],
    read: Callable[[int], Awaitable[object]],
    args: argparse.Namespace,
) -> tuple[Phase, Phase, Phase]:
    """The three timed phases (after a warm-up) on one system's async client."""
    await drive(make_write("warm"), args.in_flight, args.warmup)
    w1 = await drive(make_write("w1"), 1, args.seconds)
    wn = await drive(make_write("wn"), args.in_flight, args.seconds)
    rn = await drive(read, args.in_flight, args.seconds)
    return w1, wn, rn


# ---- coordsvc -----------------------------------------------------------------------


async def bench_coordsvc(root: Path, args: argparse.Namespace) -> Result:
    root.mkdir()
    procs: list[Proc] = []
    try:
        if args.nodes == 1:
            target = Proc(root, "solo")
            procs.append(target)
            target.start()
        else:
            procs += ensemble(root, 3)
            for p in procs:
                p.start()
            target = await asyncio.to_thread(wait_leader, procs)
        async with AsyncClient(target.address, session_timeout=10.0) as c:
            for parent in ("/warm", "/w1", "/wn"):
                await c.create(parent)
            await c.create("/r", DATA)

            def make_write(parent: str) -> Callable[[int], Awaitable[object]]:
                return lambda i: c.create(f"/{parent}/k{i}", DATA)

            phases = await workload(make_write, lambda i: c.get("/r"), args)
        return Result("coordsvc", importlib.metadata.version("coordsvc"), *phases)
    finally:
        await asyncio.to_thread(stop_all, procs)


# ---- ZooKeeper ----------------------------------------------------------------------

ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def zk_classpath() -> str:
    """The Debian package's server jar (its manifest names the jars it needs) and a logger."""
    jars = ["/usr/share/java/zookeeper.jar"]
    if not os.path.exists(jars[0]):
        listed = subprocess.run(
            ["dpkg", "-L", "zookeeper", "libzookeeper-java"], capture_output=True, text=True
        ).stdout.split()
        jars = [p for p in listed if os.path.basename(p) in ("zookeeper.jar",)]
        if not jars:
            raise RuntimeError("no zookeeper.jar (run scripts/install_compare_deps.sh)")
    jars += glob.glob("/usr/share/java/slf4j-simple.jar")  # logs to the node's log file
    return ":".join(jars)


def four_letter(port: int, word: bytes = b"srvr") -> str:
    """One ZooKeeper four-letter-word command on the client port ('' when not answering)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(word)
            out = b""
            while chunk := s.recv(4096):
                out += chunk
            return out.decode(errors="replace")
    except OSError:
        return ""


def zk_wait_serving(nodes: list[tuple[Child, int]], timeout: float = 90.0) -> tuple[int, str]:
    """(client port of the leader or the standalone server, version) once all serve."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child, _ in nodes:
            child.check()
        modes = {port: four_letter(port) for _, port in nodes}
        if all("Mode:" in out for out in modes.values()):
            for port, out in modes.items():
                mode = next(ln for ln in out.splitlines() if ln.startswith("Mode:"))
                if mode.split()[1] in ("leader", "standalone"):
                    first = out.splitlines()[0]  # "Zookeeper version: 3.8.0-..., built on ..."
                    version = first.split(":", 1)[1].split(",")[0].split("-")[0].strip()
                    return port, version
        time.sleep(0.1)  # poll interval of a deadline-bounded wait
    raise RuntimeError(f"ZooKeeper did not serve within {timeout:.0f} s")


def zk_start(root: Path, n: int, procs: list) -> tuple[int, str]:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("no java (run scripts/install_compare_deps.sh)")
    classpath = zk_classpath()
    ids = range(1, n + 1)
    ports = {i: (free_port(), free_port(), free_port()) for i in ids}  # client, quorum, election
    nodes = []
    for i in ids:
        d = root / f"zk{i}"
        (d / "data").mkdir(parents=True)
        lines = [
            "tickTime=2000",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={d / 'data'}",
            f"clientPort={ports[i][0]}",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr",
            "autopurge.purgeInterval=0",
        ]
        if n > 1:
            (d / "data" / "myid").write_text(f"{i}\n")
            lines += [f"server.{j}=127.0.0.1:{q}:{e}" for j, (_, q, e) in ports.items()]
        (d / "zoo.cfg").write_text("\n".join(lines) + "\n")
        cmd = [java, "-Xmx1000m", "-Dzookeeper.forceSync=yes"]
        cmd += ["-Dzookeeper.jmx.log4j.disable=true", "-Dorg.slf4j.simpleLogger.showDateTime=true"]
        cmd += ["-cp", classpath, ZK_MAIN, str(d / "zoo.cfg")]
        child = Child(f"zookeeper {i}", cmd, root / f"zk{i}.log")
        procs.append(child)
        child.start()
        nodes.append((child, ports[i][0]))
    return zk_wait_serving(nodes)


def kazoo_phases(hosts: str, args: argparse.Namespace) -> tuple[Phase, Phase, Phase]:
    """The three timed phases through kazoo (ZooKeeper's protocol), on any server that speaks it."""
    try:
        from kazoo.client import KazooClient
    except ImportError as e:
        raise RuntimeError("kazoo is not installed (pip install -e '.[compare]')") from e
    logging.getLogger("kazoo").setLevel(logging.ERROR)
    zk = KazooClient(hosts=hosts, timeout=10.0)
    zk.start(30)
    try:
        for parent in ("/warm", "/w1", "/wn"):
            zk.create(parent)
        zk.create("/r", DATA)

        def write(parent: str) -> Callable[[int], object]:
            return lambda i: zk.create_async(f"/{parent}/k{i}", DATA)

        drive_callbacks(write("warm"), args.in_flight, args.warmup)
        w1 = drive_callbacks(write("w1"), 1, args.seconds)
        wn = drive_callbacks(write("wn"), args.in_flight, args.seconds)
        rn = drive_callbacks(lambda i: zk.get_async("/r"), args.in_flight, args.seconds)
        return w1, wn, rn
    finally:
        zk.stop()
        zk.close()


async def bench_zookeeper(root: Path, args: argparse.Namespace) -> Result:
    root.mkdir()
    procs: list[Child] = []
    try:
        port, version = await asyncio.to_thread(zk_start, root, args.nodes, procs)
        phases = await asyncio.to_thread(kazoo_phases, f"127.0.0.1:{port}", args)
        return Result("ZooKeeper", version, *phases)
    finally:
        await asyncio.to_thread(stop_all, procs)


async def bench_coordsvc_kazoo(root: Path, args: argparse.Namespace) -> Result:
    """coordsvc through its ZooKeeper front end (--zk-listen), driven by the same kazoo."""
    root.mkdir()
    procs = [Proc(root, "solo")] if args.nodes == 1 else ensemble(root, 3)
    zk_address = {}
    for p in procs:
        zk_address[p] = f"127.0.0.1:{free_port()}"
        p.flags = (*p.flags, "--zk-listen", zk_address[p])
    try:
        for p in procs:
            p.start()
        target = procs[0] if args.nodes == 1 else await asyncio.to_thread(wait_leader, procs)
        phases = await asyncio.to_thread(kazoo_phases, zk_address[target], args)
        return Result("coordsvc/kazoo", importlib.metadata.version("coordsvc"), *phases)
    finally:
        await asyncio.to_thread(stop_all, procs)


# ---- etcd ---------------------------------------------------------------------------


def etcd_messages() -> dict[str, type]:
    """The few etcd v3 API messages used here, declared with the fields this script reads.

    Field numbers are those of etcd's public gRPC API (etcdserverpb / mvccpb);
    fields left out are skipped on decode, as protobuf does with unknown fields.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(
        name="bench_compare/etcd_subset.proto", package="benchcompare.etcd", syntax="proto3"
    )
    one, many = fd.LABEL_OPTIONAL, fd.LABEL_REPEATED
    spec = {
        "ResponseHeader": [("member_id", 2, fd.TYPE_UINT64, one, "")],
        "KeyValue": [("key", 1, fd.TYPE_BYTES, one, ""), ("value", 5, fd.TYPE_BYTES, one, "")],
        "PutRequest": [("key", 1, fd.TYPE_BYTES, one, ""), ("value", 2, fd.TYPE_BYTES, one, "")],
        "PutResponse": [("header", 1, fd.TYPE_MESSAGE, one, "ResponseHeader")],
        "RangeRequest": [("key", 1, fd.TYPE_BYTES, one, "")],
        "RangeResponse": [
            ("header", 1, fd.TYPE_MESSAGE, one, "ResponseHeader"),
            ("kvs", 2, fd.TYPE_MESSAGE, many, "KeyValue"),
        ],
        "StatusRequest": [],
        "StatusResponse": [
            ("header", 1, fd.TYPE_MESSAGE, one, "ResponseHeader"),
            ("version", 2, fd.TYPE_STRING, one, ""),
            ("leader", 4, fd.TYPE_UINT64, one, ""),
        ],
    }
    for name, fields in spec.items():
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, tname in fields:
            field = m.field.add(name=fname, number=number, type=ftype, label=label)
            if tname:
                field.type_name = f".benchcompare.etcd.{tname}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"benchcompare.etcd.{name}")
        )
        for name in spec
    }


def etcd_method(channel, path: str, req: type, resp: type):
    return channel.unary_unary(
        path, request_serializer=req.SerializeToString, response_deserializer=resp.FromString
    )


def etcd_wait_leader(
    nodes: list[tuple[Child, int]], msgs: dict[str, type], timeout: float = 60.0
) -> tuple[int, str]:
    """(client port of the leader, version) once every member agrees on one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = {}
        for child, port in nodes:
            child.check()
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                status = etcd_method(
                    ch,
                    "/etcdserverpb.Maintenance/Status",
                    msgs["StatusRequest"],
                    msgs["StatusResponse"],
                )
                try:
                    answers[port] = status(msgs["StatusRequest"](), timeout=1)
                except grpc.RpcError:
                    break
        if len(answers) == len(nodes):
            leaders = {a.leader for a in answers.values()}
            if len(leaders) == 1 and 0 not in leaders:
                (leader,) = leaders
                for port, a in answers.items():
                    if a.header.member_id == leader:
                        return port, a.version
        time.sleep(0.1)  # poll interval of a deadline-bounded wait
    raise RuntimeError(f"etcd elected no leader within {timeout:.0f} s")


def etcd_start(root: Path, n: int, procs: list, msgs: dict[str, type]) -> tuple[int, str]:
    etcd = shutil.which("etcd")
    if etcd is None:
        raise RuntimeError("no etcd (run scripts/install_compare_deps.sh)")
    ids = range(1, n + 1)
    ports = {i: (free_port(), free_port()) for i in ids}  # client, peer
    cluster = ",".join(f"e{i}=http://127.0.0.1:{p}" for i, (_, p) in ports.items())
    nodes = []
    for i in ids:
        client, peer = ports[i]
        cmd = [etcd, "--name", f"e{i}", "--data-dir", str(root / f"e{i}")]
        cmd += ["--listen-client-urls", f"http://127.0.0.1:{client}"]
        cmd += ["--advertise-client-urls", f"http://127.0.0.1:{client}"]
        cmd += ["--listen-peer-urls", f"http://127.0.0.1:{peer}"]
        cmd += ["--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}"]
        cmd += ["--initial-cluster", cluster, "--initial-cluster-state", "new"]
        cmd += ["--initial-cluster-token", f"bench-{os.getpid()}", "--logger", "zap"]
        child = Child(f"etcd {i}", cmd, root / f"e{i}.log")
        procs.append(child)
        child.start()
        nodes.append((child, client))
    return etcd_wait_leader(nodes, msgs)


async def bench_etcd(root: Path, args: argparse.Namespace) -> Result:
    msgs = etcd_messages()
    root.mkdir()
    procs: list[Child] = []
    try:
        port, version = await asyncio.to_thread(etcd_start, root, args.nodes, procs, msgs)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            put = etcd_method(ch, "/etcdserverpb.KV/Put", msgs["PutRequest"], msgs["PutResponse"])
            rng = etcd_method(
                ch, "/etcdserverpb.KV/Range", msgs["RangeRequest"], msgs["RangeResponse"]
            )
            put_req, range_req = msgs["PutRequest"], msgs["RangeRequest"]
            await put(put_req(key=b"r", value=DATA), timeout=10)
            got = await rng(range_req(key=b"r"), timeout=10)
            if [kv.value for kv in got.kvs] != [DATA]:
                raise RuntimeError("etcd did not read back the value it was given")

            def make_write(prefix: str) -> Callable[[int], Awaitable[object]]:
                return lambda i: put(put_req(key=f"{prefix}/k{i}".encode(), value=DATA))

            read = range_req(key=b"r")
            phases = await workload(make_write, lambda i: rng(read), args)
        return Result("etcd", version, *phases)
    finally:
        await asyncio.to_thread(stop_all, procs)


# ---- main ---------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b > 0 else "    -"


def report(results: dict[str, Result | None], args: argparse.Namespace, root: Path) -> None:
    n = args.in_flight
    shape = "standalone" if args.nodes == 1 else "3 members, client on the leader"
    print(
        f"\ncoordsvc / ZooKeeper / etcd, {shape}, {os.cpu_count()} cpus,"
        f" data on {fs_type(root)}, {args.seconds:g} s per phase, one run"
    )
    head = f"{'ops/s':>10s} {'p50':>10s} {'p99':>10s}"
    print(f"{'':28s} {'writes, 1 in flight':^32s} | {f'writes, {n} in flight':^32s} |", end="")
    print(f" {f'reads, {n} in flight':^32s}")
    print(f"{'':28s} {head} | {head} | {head}")
    for name, r in results.items():
        if r is None:
            print(f"{name:28s} not measured (see above)")
            continue
        label = f"{r.system} {r.version}"
        print(f"{label:28s} {r.write1.cells()} | {r.writen.cells()} | {r.readn.cells()}")
    pairs = [
        (mine, theirs)
        for mine in ("coordsvc", "coordsvc/kazoo")
        for theirs in ("ZooKeeper", "etcd")
        if results.get(mine) is not None and results.get(theirs) is not None
    ]
    if not pairs:
        return
    print(
        "ratios (ops/s: above 1 means coordsvc does more; p50/p99: below 1 means it answers sooner)"
    )
    for mine, theirs in pairs:
        ours, r = results[mine], results[theirs]
        cells = []
        for a, b in ((ours.write1, r.write1), (ours.writen, r.writen), (ours.readn, r.readn)):
            cells.append(
                f"{ratio(a.rate, b.rate):>10s} {ratio(pct(a.lat, 0.5), pct(b.lat, 0.5)):>10s}"
                f" {ratio(pct(a.lat, 0.99), pct(b.lat, 0.99)):>10s}"
            )
        print(f"{mine + ' / ' + theirs:28s} " + " | ".join(cells))


async def run(args: argparse.Namespace) -> int:
    """Every system on one event loop (grpc.aio outlives a loop it was used on)."""
    root = Path(tempfile.mkdtemp(prefix="coordsvc-bench-cmp-"))
    results: dict[str, Result | None] = {}
    try:
        for name, bench in (
            ("coordsvc", bench_coordsvc),
            ("coordsvc/kazoo", bench_coordsvc_kazoo),
            ("ZooKeeper", bench_zookeeper),
            ("etcd", bench_etcd),
        ):
            print(f"{name}: starting {args.nodes} node(s) and measuring ...", flush=True)
            try:
                results[name] = await bench(root / name.lower().replace("/", "-"), args)
            except Exception as e:
                print(f"{name}: not measured: {type(e).__name__}: {e}", flush=True)
                results[name] = None
        report(results, args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if results.get("coordsvc") is not None else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="about 1 s per phase")
    p.add_argument("--in-flight", type=int, default=64, help="requests in flight (default 64)")
    p.add_argument("--nodes", type=int, choices=(1, 3), default=1, help="servers per system")
    args = p.parse_args()
    args.seconds = 1.0 if args.quick else 3.0
    args.warmup = 0.3 if args.quick else 1.0
    # A SIGTERM to this script still stops the servers (the finally clauses run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
