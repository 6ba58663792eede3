"""Peer transport: gRPC client streams between ensemble members.

Every server serves ``coordsvc.v1.Peer`` on ``--peer-listen`` and keeps one
outbound stream to each other member, reconnecting with backoff. The first
message of a stream is a hello naming the sender; the receiver trusts the
link for the sender id from then on. Sends go through a bounded queue per
peer and are dropped when it is full or the peer is down: ZAB tolerates
loss and retransmits what matters.

When a peer's inbound stream ends (its process died and the kernel closed
its connections, or the link reset), ``on_disconnect(peer)`` says so once,
unless a newer stream from that peer is already up. The core uses it as a
hint: a follower whose leader went away looks for a new one at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import structlog

from coordsvc.server import peer_codec
from coordsvc.v1 import peer_pb2 as ppb
from coordsvc.v1 import peer_pb2_grpc as ppb_grpc

__all__ = ["PeerTransport"]

log = structlog.get_logger("coordsvc.peers")

QUEUE_LIMIT = 10_000
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 1.0
MESSAGE_LIMIT = 256 << 20


class _Servicer(ppb_grpc.PeerServicer):
    def __init__(self, transport: PeerTransport) -> None:
        self._t = transport

    async def Stream(self, request_iterator, context):  # noqa: N802 - gRPC method name
        sender = None
        link = object()  # this stream, told apart from a newer one from the same peer
        try:
            async for msg in request_iterator:
                if sender is None:
                    sender = msg.from_id
                    if sender not in self._t.peers or sender == self._t.my_id:
                        await context.abort(
                            grpc.StatusCode.PERMISSION_DENIED, f"unknown peer {sender}"
                        )
                    self._t._inbound[sender] = link
                    continue
                try:
                    value = peer_codec.decode(msg.body)
                except peer_codec.PeerCodecError as exc:
                    log.warning("peer_message_dropped", sender=sender, error=str(exc)[:200])
                    continue
                self._t.on_message(sender, value)
        finally:  # ended, failed or cancelled: the link is gone either way
            t = self._t
            if sender is not None and t._inbound.get(sender) is link:
                del t._inbound[sender]
                if not t._stopping:
                    log.info("peer_disconnected", peer=sender)
                    t.on_disconnect(sender)
        return ppb.PeerStreamEnd()


class PeerTransport:
    """Outbound streams to every peer and the inbound Peer service."""

    def __init__(
        self,
        my_id: int,
        peers: dict[int, str],
        listen: str,
        on_message: Callable[[int, Any], None],
        on_disconnect: Callable[[int], None] = lambda peer: None,
    ) -> None:
        self.my_id = my_id
        self.peers = dict(peers)
        self.listen = listen
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self._inbound: dict[int, object] = {}  # peer -> its live inbound stream
        self._stopping = False
        self._queues: dict[int, asyncio.Queue[bytes]] = {}
        self._tasks: list[asyncio.Task] = []
        self._server: grpc.aio.Server | None = None
        self.dropped = 0
        self.address = ""

    async def start(self) -> str:
        opts = [
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(options=opts)
        ppb_grpc.add_PeerServicer_to_server(_Servicer(self), server)
        port = server.add_insecure_port(self.listen)
        if not port:
            raise OSError(f"cannot listen on --peer-listen {self.listen}")
        await server.start()
        self._server = server
        self.address = f"{self.listen.rpartition(':')[0]}:{port}"
        for pid, addr in sorted(self.peers.items()):
            if pid == self.my_id:
                continue
            self._queues[pid] = asyncio.Queue(QUEUE_LIMIT)
            self._tasks.append(asyncio.create_task(self._dial(pid, addr), name=f"peer-{pid}"))
        return self.address

    def send(self, to: int, value: Any) -> None:
        queue = self._queues.get(to)
        if queue is None:
            return
        try:
            queue.put_nowait(peer_codec.encode(value))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _dial(self, pid: int, addr: str) -> None:
        queue = self._queues[pid]
        backoff = BACKOFF_MIN_S
        opts = [
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        while True:
            sent = False

            async def messages():
                nonlocal sent
                yield ppb.PeerMessage(from_id=self.my_id)
                while True:
                    body = await queue.get()
                    sent = True
                    yield ppb.PeerMessage(body=body)

            try:
                async with grpc.aio.insecure_channel(addr, options=opts) as channel:
                    stub = ppb_grpc.PeerStub(channel)
                    await stub.Stream(messages(), wait_for_ready=True)
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.debug("peer_stream_down", peer=pid, code=exc.code().name)
            except Exception as exc:  # keep dialing whatever went wrong
                log.warning("peer_stream_failed", peer=pid, error=repr(exc)[:200])
            backoff = BACKOFF_MIN_S if sent else min(BACKOFF_MAX_S, backoff * 2)
            await asyncio.sleep(backoff)  # reconnect backoff (not synchronisation)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.stop(0.5)
