"""Replica: one ensemble member's ZabPeer and EnsemblePipeline, driven by the Ready loop.

This is the pure half of the replicated runner (no asyncio, no sockets): it
steps the ZAB core and the request pipeline and runs coordsvc.zab.ready's
driver loop, handing every piece of I/O to a ``ReplicaIO``: sending a peer
message, queueing a Ready's storage work on the one FIFO writer (which calls
``durable(mark, sends)`` back once it is synced), and executing pipeline
actions. The async runner (``replica_runner``) and the in-memory unit-test
cluster both drive the same class, so the tests exercise the real wiring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog

from coordsvc.request.ensemble import (
    Committed,
    EnsemblePipeline,
    ForwardedRequest,
    ReadIndexReady,
    RoleChanged,
    Touched,
)
from coordsvc.tree.datatree import DataTree
from coordsvc.zab import (
    ClientRead,
    ClientWrite,
    LogPurged,
    PeerDisconnected,
    PeerState,
    Persisted,
    Propose,
    Ready,
    Received,
    Role,
    Tick,
    ZabPeer,
)
from coordsvc.zab import Touched as ZabTouched
from coordsvc.zab.messages import Message, Snap

__all__ = ["Replica", "ReplicaIO"]

log = structlog.get_logger("coordsvc.replica")


class ReplicaIO(Protocol):
    def send(self, to: int, msg: Message) -> None: ...

    def store(self, rd: Ready) -> None:
        """Queue rd's storage work behind earlier work; call ``durable`` when synced."""
        ...

    def execute(self, actions: Sequence[Any]) -> None: ...


class Replica:
    """Owns a ZabPeer and an EnsemblePipeline; implements the pipeline's ZabPort."""

    def __init__(self, peer: ZabPeer, io: ReplicaIO) -> None:
        self.peer = peer
        self.io = io
        self.pipeline: EnsemblePipeline | None = None
        self.state: PeerState = peer.state()
        self.on_state: Callable[[PeerState], None] | None = None
        self.on_committed: Callable[[int], None] | None = None  # last zxid of a commit batch
        self._pumping = False
        self._held = False  # inside a burst: pump once at its end
        self._owed = False  # a pump was asked for while held

    def attach(self, pipeline: EnsemblePipeline) -> None:
        self.pipeline = pipeline

    # ---- ZabPort ------------------------------------------------------------

    def propose(self, body: Any, session_id: int, xid: int, time_ms: int):
        return self.peer.step(Propose(body, session_id, xid, time_ms))

    def forward(self, payload: Any):
        return self.peer.step(ClientWrite(payload))

    def read(self, ctx: int):
        return self.peer.step(ClientRead(ctx))

    def touch(self, session_ids: tuple[int, ...]) -> None:
        self.peer.step(ZabTouched(tuple(session_ids)))

    # ---- inputs -------------------------------------------------------------

    def handle(self, inp: Any) -> None:
        """A pipeline input (client request, connect, ping, tick, forwarded reply)."""
        assert self.pipeline is not None
        self.io.execute(self.pipeline.step(inp))
        self.pump()

    def receive(self, sender: int, msg: Message) -> None:
        self.peer.step(Received(sender, msg))
        self.pump()

    def tick(self) -> None:
        self.peer.step(Tick())
        self.pump()

    def disconnected(self, peer: int) -> None:
        """The transport's link with ``peer`` broke."""
        self.peer.step(PeerDisconnected(peer))
        self.pump()

    def durable(self, mark: int, sends: Sequence[tuple[int, Message]]) -> None:
        """The storage work of the Ready with ``mark`` (and all before it) is synced."""
        for to, msg in sends:
            self.io.send(to, msg)
        if mark:
            self.peer.step(Persisted(mark))
        self.pump()

    def purged(self, zxid: int) -> None:
        """A snapshot purged the log through ``zxid``."""
        self.peer.step(LogPurged(zxid))
        self.pump()

    # ---- the Ready loop (coordsvc.zab.ready) ----------------------------------

    def hold(self) -> None:
        """Start a burst: inputs are stepped but their Readys wait for ``release``.

        The core accumulates everything in one Ready, so a burst of client
        writes becomes one storage append and one send per peer.
        """
        self._held = True

    def release(self) -> None:
        """End a burst and act on what it produced."""
        self._held = False
        if self._owed:
            self._owed = False
            self.pump()

    def pump(self) -> None:
        if self._held:
            self._owed = True
            return
        if self._pumping:  # a pipeline step inside the loop stepped the peer: the loop sees it
            return
        self._pumping = True
        try:
            self._pump()
        finally:
            self._pumping = False

    def _pump(self) -> None:
        peer, pipeline = self.peer, self.pipeline
        assert pipeline is not None
        while peer.has_ready():
            rd = peer.ready()
            if rd.install_snapshot is not None:
                image = rd.install_snapshot.image
                assert image is not None
                log.info("snapshot_installed", zxid=hex(image.last_zxid), znodes=len(image.nodes))
                pipeline.reset_tree(DataTree.from_image(image))
            if rd.persist_mark or rd.send_after_persist:
                self.io.store(rd)
            for to, msg in rd.send_now:
                if type(msg) is Snap:
                    image = pipeline.tree.image()
                    if image.last_zxid != msg.zxid:
                        raise AssertionError(
                            f"SNAP at {msg.zxid:#x} but the tree is at {image.last_zxid:#x}"
                        )
                    msg = dataclasses.replace(msg, image=image)
                self.io.send(to, msg)
            if rd.committed:
                if self.on_committed is not None:
                    self.on_committed(rd.committed[-1].zxid)
                self.io.execute(pipeline.step(Committed(rd.committed)))
            peer.advance(rd)
            # Inputs that may step the peer again come after advance.
            if rd.state is not None:
                self.state = rd.state
                log.info(
                    "zab_state",
                    role=rd.state.role.value.lower(),
                    leader=rd.state.leader,
                    epoch=rd.state.epoch,
                    phase=rd.state.phase.value,
                )
                if self.on_state is not None:
                    self.on_state(rd.state)
                leading = rd.state.role is Role.LEADING
                self.io.execute(
                    pipeline.step(RoleChanged(leading, rd.state.serving, rd.state.leader))
                )
            for rs in rd.read_states:
                self.io.execute(pipeline.step(ReadIndexReady(rs.ctx, rs.zxid)))
            for _learner, payload in rd.forwarded:
                origin, sid, xid, op = payload
                self.io.execute(pipeline.step(ForwardedRequest(origin, sid, xid, op)))
            if rd.touched:
                self.io.execute(pipeline.step(Touched(tuple(rd.touched))))
            for err in rd.protocol_errors:
                log.warning("peer_protocol_error", error=str(err))
