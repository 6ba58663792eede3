"""The Coordination servicer: thin glue between gRPC calls and the Runner.

It decodes wire messages with the codec, hands inputs to the runner and
streams back what the runner queues; it holds no coordination logic itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import structlog

from coordsvc.errors import (
    BadArgumentsError,
    CoordError,
    SessionExpiredError,
    SystemZookeeperError,
)
from coordsvc.request import ops
from coordsvc.server import codec
from coordsvc.server.conns import StreamConn, ended_message
from coordsvc.server.runner import Runner
from coordsvc.tree.paths import validate_path
from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

__all__ = ["CoordinationService", "abort_with", "SESSION_ID_KEY", "SESSION_PASSWORD_KEY"]

log = structlog.get_logger("coordsvc.client_service")

SESSION_ID_KEY = "coordsvc-session-id"
SESSION_PASSWORD_KEY = "coordsvc-session-password"
ERROR_KEY = "coordsvc-error"


async def abort_with(context: grpc.aio.ServicerContext, err: CoordError) -> None:
    """Fail the call with the error's status, reason in details and trailing metadata."""
    await context.abort(
        grpc.StatusCode[err.grpc_status],
        f"{err.code}: {err.message}",
        trailing_metadata=((ERROR_KEY, err.code),),
    )


def _session_from_metadata(context: grpc.aio.ServicerContext) -> tuple[int, bytes]:
    md = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
    raw_id, raw_pw = md.get(SESSION_ID_KEY), md.get(SESSION_PASSWORD_KEY)
    if raw_id is None:
        raise BadArgumentsError(f"an ephemeral create needs {SESSION_ID_KEY} metadata")
    try:
        text = str(raw_id).strip().lower()
        sid = int(text, 16) if text.startswith("0x") else int(text, 10)
        password = bytes.fromhex(str(raw_pw or ""))
    except ValueError:
        raise BadArgumentsError(f"bad {SESSION_ID_KEY} or {SESSION_PASSWORD_KEY}") from None
    return sid, password


class CoordinationService(pb_grpc.CoordinationServicer):
    """Session stream, session-less unary calls and the resumable Watch stream."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    # ---- the session stream ---------------------------------------------------

    async def Session(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[pb.ClientMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ServerMessage]:
        conn = self._runner.open_stream()
        reader = asyncio.create_task(self._read(request_iterator, conn))
        try:
            while (msg := await conn.out.get()) is not None:
                yield msg
        finally:
            reader.cancel()
            self._runner.close_stream(conn)

    async def _read(self, it: AsyncIterator[pb.ClientMessage], conn: StreamConn) -> None:
        try:
            await self._read_messages(it, conn)
        except (asyncio.CancelledError, grpc.aio.AioRpcError, StopAsyncIteration):
            pass
        except Exception:  # never let a reader die silently: end the stream instead
            log.exception("session_reader_failed", conn_id=conn.conn_id)
            conn.send(ended_message(SystemZookeeperError("internal error reading the stream")))
            conn.finish()

    async def _read_messages(self, it: AsyncIterator[pb.ClientMessage], conn: StreamConn) -> None:
        first = await anext(it, None)
        if first is None:
            conn.finish()
            return
        if first.WhichOneof("kind") != "connect":
            conn.send(ended_message(BadArgumentsError("the first message must be a connect")))
            conn.finish()
            return
        self._runner.connect(conn, first.connect)
        await conn.ready.wait()
        async for msg in it:
            if conn.closed:
                return
            kind = msg.WhichOneof("kind")
            if kind == "request":
                self._request(conn, msg.request)
            elif kind == "ping":
                self._runner.ping(conn, msg.ping.seq)
            else:
                conn.send(ended_message(BadArgumentsError(f"unexpected {kind} message")))
                conn.finish()
                return
        conn.half_closed = True
        conn.maybe_finish_after_half_close()

    def _request(self, conn: StreamConn, req: pb.Request) -> None:
        try:
            op = codec.op_from_request(req)
        except CoordError as err:
            conn.reply_local(req.xid, self._runner.pipeline.last_applied_zxid, err)
            return
        self._runner.request(conn, req.xid, codec.request_field(req) or "", op)

    # ---- unary calls ------------------------------------------------------------

    async def _unary(self, context: grpc.aio.ServicerContext, op: ops.Op, session_id: int = 0):
        result, error, _zxid = await self._runner.call(op, session_id)
        if error is not None:
            await abort_with(context, error)
        return codec.result_to_pb(result)[1]

    async def Create(self, request: pb.CreateRequest, context) -> pb.CreateResponse:  # noqa: N802
        op = codec.create_from_pb(request)
        session_id = 0
        if op.ephemeral:
            try:
                session_id, password = _session_from_metadata(context)
            except CoordError as err:
                await abort_with(context, err)
            if not self._runner.check_session(session_id, password):
                await abort_with(context, SessionExpiredError(f"session {session_id:#x} unknown"))
        return await self._unary(context, op, session_id)

    async def Delete(self, request: pb.DeleteRequest, context) -> pb.DeleteResponse:  # noqa: N802
        return await self._unary(context, codec.delete_from_pb(request))

    async def Exists(self, request: pb.ExistsRequest, context) -> pb.ExistsResponse:  # noqa: N802
        return await self._decoded(context, codec.exists_from_pb, request)

    async def GetData(self, request: pb.GetDataRequest, context) -> pb.GetDataResponse:  # noqa: N802
        return await self._decoded(context, codec.get_data_from_pb, request)

    async def SetData(self, request: pb.SetDataRequest, context) -> pb.SetDataResponse:  # noqa: N802
        return await self._unary(context, codec.set_data_from_pb(request))

    async def GetChildren(  # noqa: N802
        self, request: pb.GetChildrenRequest, context
    ) -> pb.GetChildrenResponse:
        return await self._decoded(context, codec.get_children_from_pb, request)

    async def Multi(self, request: pb.MultiRequest, context) -> pb.MultiResponse:  # noqa: N802
        return await self._decoded(context, codec.multi_from_pb, request)

    async def Sync(self, request: pb.SyncRequest, context) -> pb.SyncResponse:  # noqa: N802
        return await self._unary(context, codec.sync_from_pb(request))

    async def _decoded(self, context, decode, request):
        try:
            op = decode(request)
        except CoordError as err:
            await abort_with(context, err)
        return await self._unary(context, op)

    # ---- the resumable watch stream ---------------------------------------------

    async def Watch(  # noqa: N802 - gRPC method name
        self, request: pb.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchResponse]:
        try:
            validate_path(request.path)
            sub, replay = self._runner.subscribe(
                request.path, request.recursive, request.start_zxid
            )
        except CoordError as err:
            await abort_with(context, err)
            return
        try:
            for msg in replay:
                yield msg
            # progress marker: the stream is live and has sent everything up to here
            yield pb.WatchResponse(zxid=sub.sent_zxid)
            while (msg := await sub.out.get()) is not None:
                yield msg
            if sub.overflowed:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "watch stream too slow")
        finally:
            self._runner.unsubscribe(sub)
