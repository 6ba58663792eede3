"""Peer transport: gRPC client streams between ensemble members.

Every server serves ``coordsvc.v1.Peer`` on ``--peer-listen`` and keeps one
outbound stream to each other member, reconnecting with backoff. The first
message of a stream is a hello naming the sender; the receiver trusts the
link for the sender id from then on; with ``tls`` (mutual TLS, one CA for
the ensemble) only a member holding a certificate from that CA, naming the
sender's host, gets a link. Sends go through a bounded queue per
peer and are dropped when it is full: ZAB tolerates loss and retransmits
what matters. Messages that pile up while one is being written go out
together in the next PeerMessage (a stream write costs far more than a
message), so the rate of writes, not of messages, tracks the load. While a peer's channel is not connected only its newest
DOWN_BACKLOG messages are kept, so a peer that restarts is not first fed
thousands of stale proposals meant for its previous run (its vote replies,
queued last, would wait behind them); and when its first stream arrives our
dial to it skips the rest of its reconnect backoff.

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
from coordsvc.server.tls import PeerTls, names_host
from coordsvc.v1 import peer_pb2 as ppb
from coordsvc.v1 import peer_pb2_grpc as ppb_grpc

__all__ = ["PeerTransport"]

log = structlog.get_logger("coordsvc.peers")

QUEUE_LIMIT = 10_000
DOWN_BACKLOG = 256  # messages kept for a peer whose channel is not connected
BATCH_BYTES = 1 << 20  # messages queued behind one are sent with it, up to this size
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
                    refused = self._t.refuses(sender, context.auth_context())
                    if refused:
                        log.warning("peer_refused", peer=sender, reason=refused)
                        await context.abort(grpc.StatusCode.PERMISSION_DENIED, refused)
                    self._t._inbound[sender] = link
                    self._t._peer_arrived(sender)
                    continue
                for body in (msg.body, *msg.more):
                    try:
                        value = peer_codec.decode(body)
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


async def backoff(kick: asyncio.Event, seconds: float) -> None:
    """Reconnect backoff (not synchronisation) that ``kick`` cuts short.

    Built on ``asyncio.wait``, which always passes a cancel on: Python 3.11's
    ``wait_for`` drops one that lands as the event fires, and a dial loop
    then outlives ``stop()``.
    """
    waiter = asyncio.ensure_future(kick.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


class PeerTransport:
    """Outbound streams to every peer and the inbound Peer service."""

    def __init__(
        self,
        my_id: int,
        peers: dict[int, str],
        listen: str,
        on_message: Callable[[int, Any], None],
        on_disconnect: Callable[[int], None] = lambda peer: None,
        tls: PeerTls | None = None,
    ) -> None:
        self.my_id = my_id
        self.peers = dict(peers)
        self.listen = listen
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        self.tls = tls
        self._inbound: dict[int, object] = {}  # peer -> its live inbound stream
        self._stopping = False
        self._queues: dict[int, asyncio.Queue[bytes]] = {}
        self._connected: dict[int, bool] = {}  # peer -> its outbound channel is READY
        self._kick: dict[int, asyncio.Event] = {}  # wakes a dial out of its backoff
        self._tasks: list[asyncio.Task] = []
        self._server: grpc.aio.Server | None = None
        self.dropped = 0
        self.address = ""
        self._last: tuple[Any, bytes] = (None, b"")  # a message sent to several peers in a row

    async def start(self) -> str:
        opts = [
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(options=opts)
        ppb_grpc.add_PeerServicer_to_server(_Servicer(self), server)
        if self.tls is None:
            port = server.add_insecure_port(self.listen)
        else:
            port = server.add_secure_port(self.listen, self.tls.server_credentials())
        if not port:
            raise OSError(f"cannot listen on --peer-listen {self.listen}")
        await server.start()
        self._server = server
        self.address = f"{self.listen.rpartition(':')[0]}:{port}"
        for pid, addr in sorted(self.peers.items()):
            if pid == self.my_id:
                continue
            self._queues[pid] = asyncio.Queue(QUEUE_LIMIT)
            self._connected[pid] = False
            self._kick[pid] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._dial(pid, addr), name=f"peer-{pid}"))
        return self.address

    def send(self, to: int, value: Any) -> None:
        queue = self._queues.get(to)
        if queue is None:
            return
        if not self._connected[to]:
            while queue.qsize() >= DOWN_BACKLOG:  # keep the newest: the oldest are stale
                queue.get_nowait()
                self.dropped += 1
        last, body = self._last
        if value is not last:
            body = peer_codec.encode(value)
            self._last = (value, body)
        try:
            queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1

    def refuses(self, sender: int, auth: dict[str, list[bytes]]) -> str:
        """Why a stream claiming to be ``sender`` is refused ("" when it is not).

        With TLS the client certificate must name the host ``sender`` has in
        --peers: a member's certificate speaks for that member only.
        """
        if self.tls is None:
            return ""
        host = self.peers[sender].rpartition(":")[0]
        names = [n.decode(errors="replace") for n in auth.get("x509_subject_alternative_name", [])]
        if names_host(names, host):
            return ""
        return f"peer {sender} is {host}, but its certificate names {names or 'no host'}"

    def _peer_arrived(self, pid: int) -> None:
        """A stream from ``pid`` began: if our link to it is down, dial now."""
        if not self._connected.get(pid, True):
            self._kick[pid].set()

    async def _stream(self, pid: int, channel, messages, kick: asyncio.Event) -> None:
        """One outbound stream until it breaks, or until ``kick`` says the peer came back."""
        tracker = asyncio.create_task(self._track(pid, channel))
        call = asyncio.ensure_future(
            ppb_grpc.PeerStub(channel).Stream(messages, wait_for_ready=True)
        )
        kicked = asyncio.ensure_future(kick.wait())
        try:
            await asyncio.wait({call, kicked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (tracker, kicked):
                task.cancel()
            if not call.done():  # kicked (or we are stopping): give up this channel
                call.cancel()
            await asyncio.gather(tracker, kicked, call, return_exceptions=True)
        if not call.cancelled():
            call.result()  # raises when the stream broke

    async def _track(self, pid: int, channel: grpc.aio.Channel) -> None:
        """Keep ``_connected[pid]`` equal to 'the channel is READY'."""
        state = channel.get_state(try_to_connect=True)
        while True:
            self._connected[pid] = state is grpc.ChannelConnectivity.READY
            await channel.wait_for_state_change(state)
            state = channel.get_state()

    async def _dial(self, pid: int, addr: str) -> None:
        queue = self._queues[pid]
        delay = BACKOFF_MIN_S
        opts = [
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        while not self._stopping:
            sent = False

            async def messages():
                nonlocal sent
                yield ppb.PeerMessage(from_id=self.my_id)
                while True:
                    body = await queue.get()
                    more: list[bytes] = []
                    size = len(body)
                    while not queue.empty() and size < BATCH_BYTES:  # what piled up goes along
                        more.append(queue.get_nowait())
                        size += len(more[-1])
                    sent = True
                    yield ppb.PeerMessage(body=body, more=more)

            kick = self._kick[pid]
            kick.clear()
            try:
                async with self._channel(addr, opts) as channel:
                    await self._stream(pid, channel, messages(), kick)
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.debug("peer_stream_down", peer=pid, code=exc.code().name)
            except Exception as exc:  # keep dialing whatever went wrong
                log.warning("peer_stream_failed", peer=pid, error=repr(exc)[:200])
            self._connected[pid] = False
            delay = BACKOFF_MIN_S if sent else min(BACKOFF_MAX_S, delay * 2)
            await backoff(kick, delay)

    def _channel(self, addr: str, opts: list[tuple[str, Any]]) -> grpc.aio.Channel:
        if self.tls is None:
            return grpc.aio.insecure_channel(addr, options=opts)
        return grpc.aio.secure_channel(addr, self.tls.channel_credentials(), options=opts)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.stop(0.5)
