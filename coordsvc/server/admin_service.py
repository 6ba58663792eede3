"""The Admin servicer: operator-facing status and introspection of one server.

Every answer is read from the runner's pipeline between two steps, so the
numbers in one response are consistent with each other.
"""

from __future__ import annotations

from collections import Counter

import grpc

from coordsvc import __version__
from coordsvc.server.runner import Runner
from coordsvc.tree.txn import zxid_epoch
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

__all__ = ["AdminService"]


class AdminService(apb_grpc.AdminServicer):
    """Status, sessions, watches and snapshot trigger of a standalone server."""

    def __init__(self, runner: Runner, *, server_id: int, address: str) -> None:
        self._runner = runner
        self._server_id = server_id
        self._address = address

    async def Status(  # noqa: N802 - gRPC method name
        self, request: apb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> apb.StatusResponse:
        p = self._runner.pipeline
        last = p.last_applied_zxid
        return apb.StatusResponse(
            server_id=self._server_id,
            role="standalone",
            epoch=zxid_epoch(last),
            last_zxid=last,
            leader_id=self._server_id,
            members=[apb.Member(id=self._server_id, address=self._address, role="voter")],
            znode_count=p.tree.node_count,
            session_count=len(p.sessions_listing()),
            watch_count=p.watches.count(),
            version=__version__,
        )

    async def Sessions(  # noqa: N802 - gRPC method name
        self, request: apb.SessionsRequest, context: grpc.aio.ServicerContext
    ) -> apb.SessionsResponse:
        p = self._runner.pipeline
        watches = Counter(sid for sid, _path, _kind in p.watches.listing())
        return apb.SessionsResponse(
            sessions=[
                apb.SessionInfo(
                    session_id=sid,
                    timeout_ms=timeout_ms,
                    connected_here=self._runner.connected_here(sid),
                    ephemeral_count=ephemerals,
                    watch_count=watches.get(sid, 0),
                )
                for sid, timeout_ms, ephemerals in p.sessions_listing()
            ]
        )

    async def Watches(  # noqa: N802 - gRPC method name
        self, request: apb.WatchesRequest, context: grpc.aio.ServicerContext
    ) -> apb.WatchesResponse:
        listing = self._runner.pipeline.watches.listing()
        return apb.WatchesResponse(
            watches=[apb.WatchInfo(session_id=s, path=path, kind=k) for s, path, k in listing]
        )

    async def Snapshot(  # noqa: N802 - gRPC method name
        self, request: apb.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> apb.SnapshotResponse:
        try:
            zxid = await self._runner.snapshot()
        except Exception as exc:  # the log still holds everything; say why it failed
            await context.abort(grpc.StatusCode.INTERNAL, f"SYSTEM_ERROR: snapshot failed: {exc}")
        return apb.SnapshotResponse(zxid=zxid)
