"""Shared fixtures: real coordsvc server processes on free loopback ports.

``server_factory(**flags)`` starts ``python -m coordsvc serve`` (kwargs become
``--flag-name value``), reads the port from its one stdout line, waits for
health SERVING and always stops what it started (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordsvc.v1 import admin_pb2_grpc, coordination_pb2_grpc

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LISTENING = "coordsvc listening on "


class ServerProcess:
    """One ``coordsvc serve`` child process and how to reach and stop it."""

    def __init__(
        self,
        proc: subprocess.Popen,
        data_dir: Path,
        log_path: Path,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.proc = proc
        self.credentials = credentials  # how to reach a server started with --tls-*
        self.pid = proc.pid
        self.data_dir = data_dir
        self.log_path = log_path
        self.address = ""
        self.port = 0

    def __repr__(self) -> str:
        return f"<ServerProcess pid={self.pid} address={self.address}>"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> None:
        """Read the one stdout line and take the address from it."""
        deadline = time.monotonic() + timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"{self} did not start; stderr:\n{self.logs()}")
                if sel.select(min(left, 0.2)):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"{self} closed stdout; stderr:\n{self.logs()}")
                    buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        assert line.startswith(LISTENING), f"unexpected first line {line!r}"
        self.address = line[len(LISTENING) :].strip()
        self.port = int(self.address.rpartition(":")[2])

    def channel(self) -> grpc.Channel:
        """A blocking channel to the client port (TLS when the server was started with it)."""
        if self.credentials is None:
            return grpc.insecure_channel(self.address)
        return grpc.secure_channel(self.address, self.credentials)

    def wait_serving(self, timeout: float = START_TIMEOUT_S) -> None:
        """Poll grpc.health.v1 until the server reports SERVING."""
        deadline = time.monotonic() + timeout
        with self.channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{self} never became SERVING; stderr:\n{self.logs()}")
                time.sleep(0.05)  # poll interval of a deadline-bounded wait

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def kill(self) -> None:
        """SIGKILL (a crash, as far as the server knows)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _flag_args(flags: dict[str, object]) -> list[str]:
    args: list[str] = []
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


@pytest.fixture
def server_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., ServerProcess]:
    """``server_factory(**flags) -> ServerProcess``, started and SERVING.

    ``credentials=grpc.ssl_channel_credentials(...)`` is how the fixture (and
    ``ServerProcess.channel``) reaches a server started with ``tls_cert=...``.
    """
    started: list[ServerProcess] = []

    def stop_all() -> None:
        for server in started:
            try:
                server.stop()
            except Exception:  # keep stopping the others; SIGKILL as a last resort
                server.kill()

    request.addfinalizer(stop_all)

    def factory(
        *, credentials: grpc.ChannelCredentials | None = None, **flags: object
    ) -> ServerProcess:
        data_dir = Path(str(flags.pop("data_dir", None) or tmp_path_factory.mktemp("coordsvc")))
        log_path = data_dir.parent / f"{data_dir.name}.stderr.log"
        cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
        cmd += ["--data-dir", str(data_dir), *_flag_args(flags)]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
            )
        server = ServerProcess(proc, data_dir, log_path, credentials)
        started.append(server)
        server.wait_listening()
        server.wait_serving()
        return server

    return factory


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """A fresh server with 200 ms ticks (so the minimum session timeout is 400 ms)."""
    return server_factory(tick_ms=200)


@pytest.fixture
def grpc_channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as channel:
        yield channel


@pytest.fixture
def stub(grpc_channel: grpc.Channel) -> coordination_pb2_grpc.CoordinationStub:
    return coordination_pb2_grpc.CoordinationStub(grpc_channel)


@pytest.fixture
def admin_stub(grpc_channel: grpc.Channel) -> admin_pb2_grpc.AdminStub:
    return admin_pb2_grpc.AdminStub(grpc_channel)


@pytest.fixture
def ensemble_factory(tmp_path: Path):
    """Makes real-process ensembles (tests/integration/ensemble.py); stops them after the test."""
    from ensemble import ensembles

    yield from ensembles(tmp_path)
