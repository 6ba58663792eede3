"""ReplicaRunner: the Runner of an ensemble member (ZabPeer + EnsemblePipeline + peer links).

Same inbox and step loop as the standalone Runner; every pipeline input goes
through ``Replica.handle`` so the ZAB Ready loop runs after it. The peer
transport's messages and broken links, ZAB ticks (``--zab-tick-ms``) and
"storage work is durable" callbacks arrive as callables in the same inbox, so
the core and the pipeline are only ever touched by the loop task. Each
Ready's storage work is one job on the StorageWriter (FIFO with everything
else it writes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from coordsvc.errors import ConnectionLoss
from coordsvc.request.ensemble import NOT_SERVING, EnsemblePipeline, ForwardReply
from coordsvc.request.pipeline import PipelineConfig, pipeline_config
from coordsvc.server.logrole import set_role
from coordsvc.server.peer_transport import PeerTransport
from coordsvc.server.replica import Replica
from coordsvc.server.runner import Runner, _call_threadsafe
from coordsvc.server.snapshots import Snapshotter
from coordsvc.server.tls import PeerTls
from coordsvc.storage.snapshot import recover
from coordsvc.zab import PeerState, Phase, Ready, Role, ZabConfig, ZabPeer
from coordsvc.zab.leader import Stage

__all__ = ["ReplicaRunner", "Ensemble", "parse_peers", "build_replica_runner"]

log = structlog.get_logger("coordsvc.replica_runner")


@dataclasses.dataclass(frozen=True, slots=True)
class Ensemble:
    """Who is in the ensemble: id -> peer address, and which ids are observers."""

    members: dict[int, str]
    observers: frozenset[int]

    @property
    def voters(self) -> frozenset[int]:
        return frozenset(self.members) - self.observers


def parse_peers(text: str, own_id: int, *, observer: bool = False) -> Ensemble:
    """``"1=H:Q1,2=H:Q2,4=H:Q4:observer"`` -> Ensemble; ValueError with a clear reason."""
    members: dict[int, str] = {}
    observers: set[int] = set()
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        sid, eq, addr = item.partition("=")
        if not eq or not sid.strip().isdigit() or int(sid) <= 0:
            raise ValueError(f"--peers: expected ID=HOST:PORT, got {item!r}")
        nid = int(sid)
        if nid in members:
            raise ValueError(f"--peers: server id {nid} appears twice")
        if addr.endswith(":observer"):
            addr = addr[: -len(":observer")]
            observers.add(nid)
        host, sep, port = addr.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"--peers: bad address {addr!r} for server {nid} (want HOST:PORT)")
        members[nid] = addr
    if own_id not in members:
        raise ValueError(f"--peers does not list this server's --id {own_id}")
    if observer:
        observers.add(own_id)
    if not set(members) - observers:
        raise ValueError("--peers names no voter")
    return Ensemble(members, frozenset(observers))


class ReplicaRunner(Runner):
    """A Runner whose pipeline writes through ZAB and whose node talks to its peers."""

    def __init__(
        self,
        pipeline: EnsemblePipeline,
        storage: Any,
        replica: Replica,
        ensemble: Ensemble,
        *,
        peer_listen: str,
        zab_tick_ms: int,
        snapshot_every: int = 0,
        peer_tls: PeerTls | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pipeline, storage, snapshot_every=snapshot_every, **kwargs)
        self.replica = replica
        self.ensemble = ensemble
        self._zab_tick_ms = zab_tick_ms
        self.on_state: Callable[[PeerState], None] | None = None
        self._last_role: Role | None = None
        self._serving = False
        self._aloop: asyncio.AbstractEventLoop | None = None
        self.transport = PeerTransport(
            self.server_id,
            ensemble.members,
            peer_listen,
            self._on_peer_message,
            self._on_peer_disconnect,
            tls=peer_tls,
        )
        self.snapshots = Snapshotter(
            lambda: self.pipeline.tree.image(), self._save_snapshot, every_txns=snapshot_every
        )
        replica.io = self
        replica.on_state = self._state_changed
        replica.on_committed = self.metrics.committed
        set_role(replica.state.role.value.lower())  # looking, until the first state change

    # ---- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        self._aloop = asyncio.get_running_loop()
        await super().start()
        await self.transport.start()
        self._tasks.append(asyncio.create_task(self._zab_ticks(), name="coordsvc-zab-ticks"))

    async def stop(self) -> None:
        await self.transport.stop()
        await super().stop()

    async def _zab_ticks(self) -> None:
        period = self._zab_tick_ms / 1000.0
        while True:
            await asyncio.sleep(period)
            self.submit(self.replica.tick)

    def _on_peer_message(self, sender: int, value: Any) -> None:
        if isinstance(value, ForwardReply):
            self.submit(value.arrived())
        else:
            self.submit(lambda: self.replica.receive(sender, value))

    def _on_peer_disconnect(self, sender: int) -> None:
        self.submit(lambda: self.replica.disconnected(sender))

    def _state_changed(self, state: PeerState) -> None:
        if state.role is Role.LOOKING and self._last_role is not Role.LOOKING:
            self.metrics.election_started()
        if self._serving and not state.serving:
            # As in ZooKeeper: a member out of broadcast lets its clients go, so they
            # resume their sessions on a serving member instead of pinging this one
            # while the leader (on the other side of a partition) expires them.
            self.drop_session_streams(ConnectionLoss(NOT_SERVING))
        self._serving = state.serving
        self._last_role = state.role
        set_role(state.role.value.lower())
        if self.on_state is not None:
            self.on_state(state)

    # ---- read by metrics (between two steps) -----------------------------------

    def role_name(self) -> str:
        """leading, following, observing or looking: the role of the last reported PeerState."""
        return self.replica.state.role.value.lower()

    def followers_in_sync(self) -> int:
        """Leading in broadcast: voting followers synced and heard within the sync limit."""
        peer = self.replica.peer
        lead = peer.lead
        if peer.role is not Role.LEADING or peer.phase is not Phase.BROADCAST or lead is None:
            return 0
        limit = peer.config.sync_limit_ticks
        return sum(
            1
            for ln in lead.learners.values()
            if ln.stage is Stage.SYNCED and not ln.observer and peer.now - ln.heard <= limit
        )

    # ---- the step: every pipeline input goes through the replica -------------

    def _burst(self, starting: bool) -> None:
        if starting:
            self.replica.hold()
        else:
            self.replica.release()

    def _step(self, inp: Any) -> None:
        self.metrics.stepping(inp)
        self.replica.handle(inp)

    # ---- ReplicaIO ----------------------------------------------------------

    def send(self, to: int, msg: Any) -> None:
        self.transport.send(to, msg)

    def execute(self, actions: Sequence[Any]) -> None:
        for a in actions:
            if isinstance(a, ForwardReply):
                self.transport.send(a.origin, a)
            else:
                self._execute(a)

    def store(self, rd: Ready) -> None:
        storage, loop, writer = self._storage, self._aloop, self._writer
        assert loop is not None and writer is not None
        mark, sends = rd.persist_mark, rd.send_after_persist
        install, trunc, txns, epochs = rd.install_snapshot, rd.truncate_after, rd.persist, rd.epochs
        if txns:
            self.snapshots.note(len(txns))
            self.metrics.proposed(txns)

        def run() -> None:
            if install is not None:
                storage.install_snapshot(install.image)
            if trunc is not None:
                storage.truncate_after(trunc)
            if txns:
                storage.append(txns)
            if epochs is not None:
                storage.set_epochs(accepted=epochs.accepted, current=epochs.current)

        def done() -> None:
            _call_threadsafe(
                loop, self._inbox.put_nowait, lambda: self.replica.durable(mark, sends)
            )

        if txns and install is None and trunc is None and epochs is None:
            writer.submit_append(txns, done)  # grouped with its neighbours into one sync
        else:
            writer.submit_job(run, done)

    def _save_snapshot(self, image) -> None:
        """(Worker thread) save a snapshot, then tell the core how far the log was purged."""
        if image.last_zxid > self._storage.last_zxid():
            return  # the tree is ahead of the durable log: next time
        self._storage.save_snapshot(image)
        purged = self._storage.purged_through
        loop = self._aloop
        if purged and loop is not None:
            _call_threadsafe(loop, self._inbox.put_nowait, lambda: self.replica.purged(purged))


def expiry_config(pcfg: PipelineConfig, zab_tick_ms: int) -> PipelineConfig:
    """The leader expires sessions on replication ticks, not session ticks.

    A follower relays its clients' activity on the next heartbeat, up to one
    replication tick late; checking expiry every replication tick as well
    keeps a dead client's session ending within its timeout plus two
    replication ticks, which is within one session tick while --tick-ms is at
    least twice --zab-tick-ms (the defaults: 2000 and 100). The negotiable
    timeouts stay derived from --tick-ms.
    """
    if zab_tick_ms >= pcfg.tick_ms:
        return pcfg
    return dataclasses.replace(
        pcfg,
        tick_ms=zab_tick_ms,
        min_session_timeout_ms=pcfg.min_timeout_ms,
        max_session_timeout_ms=pcfg.max_timeout_ms,
    )


def build_replica_runner(
    cfg: Any, storage: Any, metrics: Any, peer_tls: PeerTls | None = None
) -> ReplicaRunner:
    """Recover the tree from the newest snapshot only (the core hands out the committed
    log after it) and wire ZabPeer, EnsemblePipeline, Replica and the runner."""
    for needed in ("set_epochs", "truncate_after", "install_snapshot", "save_snapshot"):
        if not hasattr(storage, needed):
            raise ValueError("an ensemble member needs --storage lmdb")
    ensemble = parse_peers(cfg.peers, cfg.server_id, observer=cfg.observer)
    initial = storage.initial_state()
    tree, _ = recover(storage, dataclasses.replace(initial, last_zxid=initial.snapshot_zxid))
    zcfg = ZabConfig(
        id=cfg.server_id,
        voters=ensemble.voters,
        observers=ensemble.observers,
        election_ticks=cfg.election_ticks,
        heartbeat_ticks=1,
        # 1 s of silence at the default tick (etcd's election timeout): a lossy link
        # (TCP retransmitting) is not taken for a dead leader; a crash breaks the
        # links and is noticed at once anyway
        sync_limit_ticks=10,
    )
    peer = ZabPeer(zcfg, storage, random.SystemRandom(), initial=initial)
    replica = Replica(peer, None)  # type: ignore[arg-type]  # the runner is its io
    pcfg = expiry_config(pipeline_config(cfg), cfg.zab_tick_ms)
    pipeline = EnsemblePipeline(
        pcfg,
        zab=replica,
        initial=initial,
        tree=tree,
        now_ms=int(time.time() * 1000),
        rng=random.SystemRandom(),
        clock=lambda: int(time.time() * 1000),
    )
    replica.attach(pipeline)
    return ReplicaRunner(
        pipeline,
        storage,
        replica,
        ensemble,
        peer_listen=cfg.peer_listen,
        zab_tick_ms=cfg.zab_tick_ms,
        peer_tls=peer_tls,
        server_id=cfg.server_id,
        tick_ms=pcfg.tick_ms,
        snapshot_every=cfg.snapshot_every,
        metrics=metrics,
    )
