"""A real-process ensemble on loopback for the integration tests.

``Ensemble`` starts N ``coordsvc serve --peers ...`` processes on free ports
(``--tick-ms 200``), ``wait_leader`` polls Admin.Status with a deadline, and
every process is stopped by the PID it was started with (SIGKILL where a test
is about a crash). ``ensemble_factory`` is the fixture that cleans up.
"""

from __future__ import annotations

import asyncio
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import grpc
from composerun import free_port
from coordsvc.client import AsyncClient, KazooState

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

__all__ = ["Node", "Ensemble", "ensembles", "run", "_client", "record_states"]

LISTENING = "coordsvc listening on "


def spawn_listening(cmd: list[str], log_path: Path, what: str) -> subprocess.Popen:
    """Start ``coordsvc serve`` (stderr to ``log_path``); return once it says it listens."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            if time.monotonic() > deadline or proc.poll() is not None:
                logs = log_path.read_text(errors="replace") if log_path.exists() else ""
                raise RuntimeError(f"{what} did not start:\n{logs}")
            if sel.select(0.2):
                buf += os.read(proc.stdout.fileno(), 4096)
    assert buf.startswith(LISTENING.encode()), buf
    return proc


class Node:
    def __init__(self, nid: int, root: Path, peers: str, peer_port: int, observer: bool) -> None:
        self.id = nid
        self.data_dir = root / f"n{nid}"
        self.log_path = root / f"n{nid}.stderr.log"
        self.peers = peers
        self.peer_port = peer_port
        self.client_port = free_port()
        self.address = f"127.0.0.1:{self.client_port}"
        self.zk_address = f"127.0.0.1:{free_port()}"  # ZooKeeper's protocol (kazoo)
        self.observer = observer
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str) -> None:
        cmd = [sys.executable, "-m", "coordsvc", "serve", "--id", str(self.id)]
        cmd += ["--listen", self.address, "--data-dir", str(self.data_dir)]
        cmd += ["--peer-listen", f"127.0.0.1:{self.peer_port}", "--peers", self.peers]
        cmd += ["--zk-listen", self.zk_address]
        cmd += ["--tick-ms", "200", "--log-format", "json", *extra]
        if self.observer:
            cmd.append("--observer")
        self.proc = spawn_listening(cmd, self.log_path, f"node {self.id}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.up:
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.up:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def status(self) -> apb.StatusResponse | None:
        try:
            with grpc.insecure_channel(self.address) as ch:
                return apb_grpc.AdminStub(ch).Status(apb.StatusRequest(), timeout=2)
        except grpc.RpcError:
            return None


class Ensemble:
    def __init__(self, root: Path, voters: int, observers: int = 0) -> None:
        root.mkdir(parents=True, exist_ok=True)
        ids = list(range(1, voters + observers + 1))
        ports = {i: free_port() for i in ids}
        peers = ",".join(
            f"{i}=127.0.0.1:{ports[i]}" + (":observer" if i > voters else "") for i in ids
        )
        self.nodes = {i: Node(i, root, peers, ports[i], i > voters) for i in ids}

    def start(self, *extra: str) -> None:
        for node in self.nodes.values():
            node.start(*extra)

    def stop(self) -> None:
        for node in self.nodes.values():
            try:
                node.stop()
            except Exception:
                node.kill()

    def wait_leader(self, timeout: float = 30.0, among: Iterable[int] | None = None) -> Node:
        """Poll until the live nodes (of ``among``) agree on one leader in one epoch, all serving."""
        deadline = time.monotonic() + timeout
        last = None
        ids = set(self.nodes if among is None else among)
        while time.monotonic() < deadline:
            live = [n for n in self.nodes.values() if n.up and n.id in ids]
            st = {n.id: n.status() for n in live}
            last = st
            if all(s is not None for s in st.values()):
                leading = [i for i, s in st.items() if s.role == "leading"]
                epochs = {s.epoch for s in st.values()}
                leaders = {s.leader_id for s in st.values()}
                settled = all(s.role != "looking" for s in st.values())
                if len(leading) == 1 and len(epochs) == 1 and leaders == set(leading) and settled:
                    return self.nodes[leading[0]]
            time.sleep(0.05)  # poll interval of a deadline-bounded wait
        raise AssertionError(f"no single leader: {last}")

    def addresses(self, nodes=None) -> list[str]:
        return [n.address for n in (nodes or self.nodes.values())]


class InOrder(random.Random):
    """An rng that leaves the host list as given, so a test knows where a client goes first."""

    def shuffle(self, x, *args) -> None:  # noqa: ARG002
        return None


def ensembles(tmp_path: Path):
    """Generator behind each test module's ``ensemble_factory`` fixture: makes, then stops."""
    made: list[Ensemble] = []

    def make(voters: int = 3, observers: int = 0, *extra: str) -> Ensemble:
        ens = Ensemble(tmp_path / f"e{len(made)}", voters, observers)
        made.append(ens)
        ens.start(*extra)
        return ens

    yield make
    for ens in made:
        ens.stop()


def run(coro):
    return asyncio.run(coro)


async def _client(hosts: list[str], **kw) -> AsyncClient:
    c = AsyncClient(hosts, session_timeout=kw.pop("session_timeout", 6.0), **kw)
    await c.start()
    return c


def record_states(client: AsyncClient) -> tuple[list[KazooState], asyncio.Event]:
    """Every state ``client`` enters from now on, and an event set once it is SUSPENDED."""
    states: list[KazooState] = []
    suspended = asyncio.Event()

    def on_state(state: KazooState) -> None:
        states.append(state)
        if state == KazooState.SUSPENDED:
            suspended.set()

    client.add_listener(on_state)
    return states, suspended
