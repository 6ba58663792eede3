"""Assemble and run one coordsvc server: storage, pipeline, runner and the grpc.aio server.

``App`` owns the start and graceful-stop order; ``serve`` runs it until
SIGTERM/SIGINT (or a fatal runner error) and is what ``coordsvc serve`` calls.
"""

from __future__ import annotations

import asyncio
import gc
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from coordsvc import __version__
from coordsvc.server.admin_service import AdminService
from coordsvc.server.client_service import CoordinationService
from coordsvc.server.health import HealthService
from coordsvc.server.metrics import ServerMetrics, view_of
from coordsvc.server.metrics_http import MetricsServer
from coordsvc.server.reflection import enable_reflection
from coordsvc.server.runner import Runner
from coordsvc.server.tls import load_peer_tls, load_server_tls
from coordsvc.server.zk_service import ZkService
from coordsvc.storage.base import Storage
from coordsvc.v1 import admin_pb2_grpc, coordination_pb2_grpc

__all__ = ["ServerConfig", "App", "serve", "message_limit", "COORDINATION_SERVICE"]

log = structlog.get_logger("coordsvc.app")

COORDINATION_SERVICE = "coordsvc.v1.Coordination"
ADMIN_SERVICE = "coordsvc.v1.Admin"
HEALTH_SERVICE = "grpc.health.v1.Health"
STOP_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``coordsvc serve`` can be told; None timeouts follow ZooKeeper's 2x/20x tick."""

    listen: str = "127.0.0.1:2181"
    data_dir: str = "./coordsvc-data"
    server_id: int = 1
    tick_ms: int = 2000
    min_session_timeout_ms: int | None = None
    max_session_timeout_ms: int | None = None
    max_data_bytes: int = 1 << 20
    storage: str = "lmdb"
    lmdb_map_size: int = 1 << 30
    snapshot_every: int = 100_000
    snapshot_retain: int = 3
    metrics_listen: str = ""  # HOST:PORT of the /metrics endpoint; "" turns it off
    zk_listen: str = ""  # HOST:PORT for ZooKeeper's own client protocol; "" turns it off
    zk_max_client_cnxns: int = 60  # per client host on that port (ZooKeeper's name); 0: no limit
    peers: str = ""  # "1=H:Q,2=H:Q,..." : an ensemble member; "" : standalone
    peer_listen: str = ""
    observer: bool = False
    zab_tick_ms: int = 100
    election_ticks: int = 10
    tls_cert: str = ""  # PEM files; "" serves the client port in plaintext
    tls_key: str = ""
    tls_client_ca: str = ""  # require client certificates signed by this CA
    peer_tls_cert: str = ""  # mutual TLS between members: all three or none
    peer_tls_key: str = ""
    peer_tls_ca: str = ""


def message_limit(max_data_bytes: int) -> int:
    """gRPC message cap: big enough that oversized data reaches validation (DATA_TOO_LARGE)."""
    return max(8 << 20, 4 * max_data_bytes + (64 << 10))


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) of "HOST:PORT" (IPv6 hosts in brackets)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, got {listen!r}")
    return host, int(port)


def open_storage(cfg: ServerConfig) -> Storage:
    """The configured store; raises StorageError (naming the file) if it is damaged."""
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    if cfg.storage == "memory":
        from coordsvc.storage.memory import MemoryStorage

        return MemoryStorage()
    if cfg.storage == "lmdb":
        from coordsvc.storage.lmdb_store import LmdbStorage

        return LmdbStorage(
            Path(cfg.data_dir),
            map_size=cfg.lmdb_map_size,
            sync=True,
            snapshot_retain=cfg.snapshot_retain,
        )
    raise ValueError(f"unknown storage {cfg.storage!r}")


def build_pipeline(cfg: ServerConfig, storage: Storage):
    """A Pipeline recovered from what ``storage`` holds."""
    from coordsvc.request.pipeline import Pipeline, pipeline_config

    pcfg = pipeline_config(cfg)
    from coordsvc.storage.snapshot import recover

    initial = storage.initial_state()
    tree, tail = recover(storage, initial)
    pipeline = Pipeline(
        pcfg,
        initial=initial,
        tree=tree,
        log=tail,
        now_ms=int(time.time() * 1000),
        rng=random.SystemRandom(),
        clock=lambda: int(time.time() * 1000),
    )
    set_epochs = getattr(storage, "set_epochs", None)
    if set_epochs is not None:  # a restart starts a new epoch; persist it before serving
        set_epochs(accepted=pipeline.epoch, current=pipeline.epoch)
    gc.freeze()  # the recovered tree is long-lived: keep full collections off it
    return pipeline


class App:
    """One running server; ``start`` binds and serves, ``stop`` shuts down gracefully."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        # TLS files first: a bad one stops the start before the data directory is touched
        self.tls = load_server_tls(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca)
        peer_tls = load_peer_tls(cfg.peer_tls_cert, cfg.peer_tls_key, cfg.peer_tls_ca)
        self.storage = open_storage(cfg)
        self.metrics = ServerMetrics(server_id=cfg.server_id, version=__version__)
        if cfg.peers:
            from coordsvc.server.replica_runner import build_replica_runner

            self.runner = build_replica_runner(cfg, self.storage, self.metrics, peer_tls)
        else:
            self.runner = Runner(
                build_pipeline(cfg, self.storage),
                self.storage,
                server_id=cfg.server_id,
                tick_ms=cfg.tick_ms,
                snapshot_every=cfg.snapshot_every,
                metrics=self.metrics,
            )
        self.metrics.state.bind(lambda: view_of(self.runner))
        self._metrics_server: MetricsServer | None = None
        self.metrics_address = ""
        self._zk_service: ZkService | None = None
        self.zk_address = ""
        self.health = HealthService()
        self.address = ""
        self._server: grpc.aio.Server | None = None

    async def start(self) -> str:
        """Bind, start serving and mark healthy; returns "HOST:PORT" with the real port."""
        limit = message_limit(self.cfg.max_data_bytes)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", 0),
            ]
        )
        host, _ = split_listen(self.cfg.listen)
        coordination_pb2_grpc.add_CoordinationServicer_to_server(
            CoordinationService(self.runner), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        for name in ("", COORDINATION_SERVICE):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        # The Admin service answers whenever the process does: liveness probes ask for it.
        await self.health.set(ADMIN_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        if self.tls is None:
            port = server.add_insecure_port(self.cfg.listen)
        else:
            port = server.add_secure_port(self.cfg.listen, self.tls.credentials())
        if not port:
            raise OSError(f"cannot listen on {self.cfg.listen}")
        self.address = f"{host}:{port}"
        if self.cfg.metrics_listen:
            self._metrics_server = MetricsServer(self.metrics.registry, self.cfg.metrics_listen)
            self.metrics_address = await self._metrics_server.start()
        admin = AdminService(
            self.runner,
            server_id=self.cfg.server_id,
            address=self.address,
            metrics_address=self.metrics_address,
        )
        ensemble = getattr(self.runner, "ensemble", None)
        admin_pb2_grpc.add_AdminServicer_to_server(admin, server)
        enable_reflection([COORDINATION_SERVICE, ADMIN_SERVICE, HEALTH_SERVICE], server)
        await server.start()
        self._server = server
        if ensemble is not None:  # SERVING only while the ZAB core is in broadcast
            self.runner.on_state = self._on_zab_state
        await self.runner.start()
        if self.cfg.zk_listen:
            tls = self.tls.context if self.tls is not None else None
            self._zk_service = ZkService(
                self.runner, self.cfg.zk_listen, limit, tls, self.cfg.zk_max_client_cnxns
            )
            self.zk_address = await self._zk_service.start()
        if ensemble is None:
            for name in ("", COORDINATION_SERVICE):
                await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "serving",
            address=self.address,
            metrics=self.metrics_address or None,
            zookeeper=self.zk_address or None,
            zxid=self.runner.pipeline.last_applied_zxid,
        )
        return self.address

    def _on_zab_state(self, state) -> None:
        self._zab_serving = state.serving

        async def set_all() -> None:  # always the latest state, whatever order tasks run in
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if self._zab_serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ("", COORDINATION_SERVICE):
                await self.health.set(name, status)

        self._health_task = asyncio.get_running_loop().create_task(set_all())

    async def stop(self) -> None:
        """NOT_SERVING, end the streams, let calls finish, then flush storage."""
        await self.health.enter_graceful_shutdown()
        self.runner.close_streams()
        if self._zk_service is not None:
            await self._zk_service.stop()
        if self._server is not None:
            await self._server.stop(STOP_GRACE_S)
        await self.runner.stop()
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        self.storage.close()
        log.info("stopped", zxid=self.runner.pipeline.last_applied_zxid)


async def serve(
    cfg: ServerConfig,
    on_listening: Callable[[str], None],
    on_metrics: Callable[[str], None] | None = None,
) -> int:
    """Run a server until SIGTERM/SIGINT; returns the process exit code."""
    app = App(cfg)
    address = await app.start()
    on_listening(address)
    if on_metrics is not None and app.metrics_address:
        on_metrics(app.metrics_address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopped = asyncio.create_task(stop.wait())
    failed = asyncio.create_task(app.runner.failed.wait())
    await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stopped, failed):
        task.cancel()
    log.info("stopping", reason="failure" if app.runner.failure else "signal")
    await app.stop()
    return 1 if app.runner.failure else 0
