"""RawSession: drive one Coordination.Session stream by hand, message by message.

The server tests use it to check exactly what goes over the wire and in
which order, without the SDK in between. Every read has a deadline.
"""

from __future__ import annotations

import asyncio

import grpc

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

READ_TIMEOUT_S = 10.0


class RawSession:
    """One bidi Session call on its own channel."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = pb_grpc.CoordinationStub(self.channel)
        self.call = self.stub.Session()
        self.session_id = 0
        self.password = b""
        self._xid = 0

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()

    async def __aenter__(self) -> RawSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, msg: pb.ClientMessage) -> None:
        await self.call.write(msg)

    async def recv(self, timeout: float = READ_TIMEOUT_S) -> pb.ServerMessage | None:
        """The next server message, or None when the server finished the stream."""
        msg = await asyncio.wait_for(self.call.read(), timeout)
        return None if msg is grpc.aio.EOF else msg

    async def connect(
        self, session_id: int = 0, password: bytes = b"", timeout_ms: int = 4000
    ) -> pb.ConnectResponse:
        req = pb.ConnectRequest(session_id=session_id, password=password, timeout_ms=timeout_ms)
        await self.send(pb.ClientMessage(connect=req))
        msg = await self.recv()
        assert msg is not None and msg.WhichOneof("kind") == "connected", msg
        self.session_id = msg.connected.session_id
        self.password = msg.connected.password
        return msg.connected

    async def send_request(self, **op: object) -> int:
        """Send one Request (e.g. ``create=pb.CreateRequest(...)``); returns its xid."""
        self._xid += 1
        await self.send(pb.ClientMessage(request=pb.Request(xid=self._xid, **op)))
        return self._xid

    async def response(self, xid: int) -> pb.Response:
        """Read up to the response for ``xid``; fails on anything else in between."""
        msg = await self.recv()
        assert msg is not None and msg.WhichOneof("kind") == "response", msg
        assert msg.response.xid == xid, msg
        return msg.response

    async def call_op(self, **op: object) -> pb.Response:
        return await self.response(await self.send_request(**op))
