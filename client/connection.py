"""One session stream to one server: the handshake, then messages both ways.

A ``Connection`` knows nothing of xids, states or retries: it opens the
``Coordination.Session`` stream on its own grpc.aio channel, sends the
ConnectRequest, returns the server's answer, and then passes messages in and
out until it is closed or the stream breaks. Every failure to reach or hear
the server is reported as ConnectionLoss.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from coordsvc.client.codec import error_from_pb
from coordsvc.client.errors import ConnectionLoss, ProtocolError
from coordsvc.client.tls import ClientTls, open_channel

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

__all__ = ["Connection"]

_CHANNEL_OPTIONS = [
    # a dead server must fail the stream promptly, not after TCP's timeouts
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.enable_retries", 0),
]


class Connection:
    """A Session stream to ``address`` (over TLS when ``tls`` is given); messages out are queued."""

    def __init__(self, address: str, tls: ClientTls | None = None) -> None:
        self.address = address
        self._tls = tls
        self._outbox: asyncio.Queue[pb.ClientMessage | None] = asyncio.Queue()
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.StreamStreamCall | None = None
        self._closed = False

    async def open(self, connect: pb.ConnectRequest, timeout: float) -> pb.ConnectResponse:
        """Send ``connect`` and return the server's ConnectResponse.

        Raises ConnectionLoss when the server cannot be reached or does not
        answer within ``timeout``, and the registry error (SessionExpiredError
        for an unknown or expired session) when the server refuses the session.
        """
        self._channel = open_channel(self.address, self._tls, _CHANNEL_OPTIONS)
        stub = pb_grpc.CoordinationStub(self._channel)
        self.send(pb.ClientMessage(connect=connect))
        self._call = stub.Session(self._requests())
        try:
            async with asyncio.timeout(timeout):
                msg = await self.read()
        except TimeoutError:
            await self.close()
            raise ConnectionLoss(f"{self.address}: no answer within {timeout:.3g}s") from None
        except BaseException:
            await self.close()
            raise
        kind = None if msg is None else msg.WhichOneof("kind")
        if kind == "connected":
            return msg.connected
        await self.close()
        if kind == "ended":
            raise error_from_pb(msg.ended.error)
        if msg is None:
            raise ConnectionLoss(f"{self.address}: stream closed during the handshake")
        raise ProtocolError(f"{self.address}: expected ConnectResponse, got {kind}")

    def send(self, msg: pb.ClientMessage) -> None:
        """Queue ``msg`` for the stream (in order; dropped once closed)."""
        if not self._closed:
            self._outbox.put_nowait(msg)

    async def read(self) -> pb.ServerMessage | None:
        """The next server message; None when the server finished the stream."""
        if self._call is None:
            raise ConnectionLoss(f"{self.address}: not open")
        try:
            msg = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise ConnectionLoss(f"{self.address}: {exc.code().name}: {exc.details()}") from None
        except asyncio.InvalidStateError:  # read after the call was cancelled
            raise ConnectionLoss(f"{self.address}: stream closed") from None
        if msg is grpc.aio.EOF:
            return None
        return msg

    async def close(self) -> None:
        """End the stream and the channel; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._outbox.put_nowait(None)
        if self._call is not None:
            self._call.cancel()
        if self._channel is not None:
            await self._channel.close(grace=None)

    async def _requests(self) -> AsyncIterator[pb.ClientMessage]:
        while True:
            msg = await self._outbox.get()
            if msg is None:
                return
            yield msg
