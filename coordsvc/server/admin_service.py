"""The Admin servicer: operator-facing status and introspection of one server.

Every answer is read from the runner's pipeline between two steps, so the
numbers in one response are consistent with each other. Per-session request
counters (the ``cons`` columns) come from the runner's metrics hooks.
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

_ROLES = {"LOOKING": "looking", "FOLLOWING": "following", "LEADING": "leading"}
_ROLES["OBSERVING"] = "observing"


class AdminService(apb_grpc.AdminServicer):
    """Status, members, sessions, watches, ruok and snapshot trigger of a standalone server."""

    def __init__(
        self, runner: Runner, *, server_id: int, address: str, metrics_address: str = ""
    ) -> None:
        self._runner = runner
        self._server_id = server_id
        self._address = address
        self._metrics_address = metrics_address

    def _members(self) -> list[apb.Member]:
        ensemble = getattr(self._runner, "ensemble", None)
        if ensemble is None:  # standalone: an ensemble of one, which leads itself
            return [
                apb.Member(id=self._server_id, address=self._address, role="voter", leader=True)
            ]
        leader = self._leader_id()
        return [
            apb.Member(
                id=nid,
                address=addr,
                role="observer" if nid in ensemble.observers else "voter",
                leader=nid == leader,
            )
            for nid, addr in sorted(ensemble.members.items())
        ]

    def _zab(self) -> tuple[str, int, int] | None:
        """(role, epoch, last zxid) of an ensemble member, None when standalone."""
        replica = getattr(self._runner, "replica", None)
        if replica is None:
            return None
        peer = replica.peer
        return _ROLES[peer.role.value], peer.epoch, peer.last_zxid

    def _leader_id(self) -> int:
        replica = getattr(self._runner, "replica", None)
        if replica is None:
            return self._server_id
        return replica.peer.leader_id or 0

    async def Status(  # noqa: N802 - gRPC method name
        self, request: apb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> apb.StatusResponse:
        p = self._runner.pipeline
        last = p.last_applied_zxid
        role, epoch = "standalone", zxid_epoch(last)
        zab = self._zab()
        if zab is not None:
            role, epoch, last = zab
        return apb.StatusResponse(
            server_id=self._server_id,
            role=role,
            epoch=epoch,
            last_zxid=last,
            leader_id=self._leader_id(),
            members=self._members(),
            znode_count=p.tree.node_count,
            session_count=len(p.sessions_listing()),
            watch_count=p.watches.count(),
            version=__version__,
            metrics_address=self._metrics_address,
        )

    async def Members(  # noqa: N802 - gRPC method name
        self, request: apb.MembersRequest, context: grpc.aio.ServicerContext
    ) -> apb.MembersResponse:
        return apb.MembersResponse(
            server_id=self._server_id, leader_id=self._leader_id(), members=self._members()
        )

    async def Sessions(  # noqa: N802 - gRPC method name
        self, request: apb.SessionsRequest, context: grpc.aio.ServicerContext
    ) -> apb.SessionsResponse:
        p = self._runner.pipeline
        watches = Counter(sid for sid, _path, _kind in p.watches.listing())
        outstanding = self._runner.metrics.outstanding_by_session()
        return apb.SessionsResponse(
            sessions=[
                self._session_info(sid, timeout_ms, ephemerals, watches[sid], outstanding)
                for sid, timeout_ms, ephemerals in p.sessions_listing()
            ]
        )

    def _session_info(
        self, sid: int, timeout_ms: int, ephemerals: int, watches: int, outstanding: dict
    ) -> apb.SessionInfo:
        info = apb.SessionInfo(
            session_id=sid,
            timeout_ms=timeout_ms,
            connected_here=self._runner.connected_here(sid),
            ephemeral_count=ephemerals,
            watch_count=watches,
            outstanding=outstanding.get(sid, 0),
        )
        stats = self._runner.metrics.session_stats(sid)
        if stats is not None and stats.requests:
            info.requests = stats.requests
            info.last_op = stats.last_op
            info.last_zxid = stats.last_zxid
            info.last_response_ms = stats.last_response_ms
            info.min_latency_ms = stats.min_latency_s * 1000
            info.avg_latency_ms = stats.total_latency_s * 1000 / stats.requests
            info.max_latency_ms = stats.max_latency_s * 1000
        return info

    async def Watches(  # noqa: N802 - gRPC method name
        self, request: apb.WatchesRequest, context: grpc.aio.ServicerContext
    ) -> apb.WatchesResponse:
        listing = self._runner.pipeline.watches.listing()
        chosen = [
            apb.WatchInfo(session_id=s, path=path, kind=k)
            for s, path, k in listing
            if (not request.session_id or s == request.session_id)
            and (not request.path or path == request.path)
        ]
        return apb.WatchesResponse(
            watches=chosen,
            total=len(listing),
            session_count=len({s for s, _, _ in listing}),
            path_count=len({path for _, path, _ in listing}),
        )

    async def Ruok(  # noqa: N802 - gRPC method name
        self, request: apb.RuokRequest, context: grpc.aio.ServicerContext
    ) -> apb.RuokResponse:
        if not self._runner.started or self._runner.failed.is_set():
            await context.abort(grpc.StatusCode.UNAVAILABLE, "SYSTEM_ERROR: the server has failed")
        return apb.RuokResponse(answer="imok")

    async def Snapshot(  # noqa: N802 - gRPC method name
        self, request: apb.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> apb.SnapshotResponse:
        try:
            zxid = await self._runner.snapshot()
        except Exception as exc:  # the log still holds everything; say why it failed
            await context.abort(grpc.StatusCode.INTERNAL, f"SYSTEM_ERROR: snapshot failed: {exc}")
        return apb.SnapshotResponse(zxid=zxid)
