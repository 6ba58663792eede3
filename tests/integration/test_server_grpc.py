"""Raw gRPC tests of a real server process: session stream, unary calls, health, admin."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rawsession import RawSession

from coordsvc.server.app import STOP_GRACE_S
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc
from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc


def error_name(resp: pb.Response) -> str:
    return pb.ErrorCode.Name(resp.error.code) if resp.HasField("error") else ""


async def wait_disconnected(address: str, session_id: int, timeout: float = 10.0) -> None:
    """Poll Admin.Sessions until the server has noticed the session's stream is gone."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with grpc.aio.insecure_channel(address) as ch:
        admin = admin_pb2_grpc.AdminStub(ch)
        while True:
            sessions = (await admin.Sessions(apb.SessionsRequest())).sessions
            if not any(x.session_id == session_id and x.connected_here for x in sessions):
                return
            assert asyncio.get_running_loop().time() < deadline, "disconnect never noticed"
            await asyncio.sleep(0.02)  # poll interval of a deadline-bounded wait


def unary_error(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str, str]:
    reason = dict(exc.trailing_metadata() or ()).get("coordsvc-error", "")
    return exc.code(), reason, exc.details()


async def test_connect_create_get(server) -> None:
    async with RawSession(server.address) as s:
        connected = await s.connect(timeout_ms=1000)
        assert connected.session_id != 0 and len(connected.password) == 16
        assert connected.timeout_ms == 1000 and connected.server_id == 1
        created = await s.call_op(create=pb.CreateRequest(path="/a", data=b"hello"))
        assert error_name(created) == "" and created.create.path == "/a"
        assert created.zxid == created.create.stat.czxid > connected.zxid
        got = await s.call_op(get_data=pb.GetDataRequest(path="/a"))
        assert got.get_data.data == b"hello" and got.get_data.stat.version == 0
        missing = await s.call_op(get_data=pb.GetDataRequest(path="/nope"))
        assert error_name(missing) == "NO_NODE"


async def test_session_timeout_is_clamped_to_tick_bounds(server) -> None:
    async with RawSession(server.address) as low, RawSession(server.address) as high:
        assert (await low.connect(timeout_ms=1)).timeout_ms == 400  # 2 ticks of 200 ms
        assert (await high.connect(timeout_ms=10**9)).timeout_ms == 4000  # 20 ticks


async def test_own_write_event_comes_before_its_response(server) -> None:
    async with RawSession(server.address) as s:
        await s.connect()
        exists = await s.call_op(exists=pb.ExistsRequest(path="/w", watch=True))
        assert not exists.exists.HasField("stat")
        xid = await s.send_request(create=pb.CreateRequest(path="/w"))
        first, second = await s.recv(), await s.recv()
        assert first.WhichOneof("kind") == "event", first
        assert pb.EventType.Name(first.event.type) == "NODE_CREATED" and first.event.path == "/w"
        assert second.WhichOneof("kind") == "response" and second.response.xid == xid
        assert first.event.zxid == second.response.zxid


async def test_event_arrives_before_a_later_read_of_the_change(server) -> None:
    async with RawSession(server.address) as a, RawSession(server.address) as b:
        await a.connect()
        await b.connect()
        await a.call_op(exists=pb.ExistsRequest(path="/x", watch=True))
        created = await b.call_op(create=pb.CreateRequest(path="/x", data=b"1"))
        xid = await a.send_request(get_data=pb.GetDataRequest(path="/x"))
        first, second = await a.recv(), await a.recv()
        assert first.WhichOneof("kind") == "event" and first.event.path == "/x", first
        assert first.event.zxid == created.zxid
        assert second.response.xid == xid and second.response.get_data.data == b"1"


async def test_ping_gets_pong_with_zxid(server) -> None:
    async with RawSession(server.address) as s:
        await s.connect()
        created = await s.call_op(create=pb.CreateRequest(path="/p"))
        await s.send(pb.ClientMessage(ping=pb.Ping(seq=7)))
        msg = await s.recv()
        assert msg.WhichOneof("kind") == "pong" and msg.pong.seq == 7
        assert msg.pong.zxid == created.zxid


async def test_first_message_must_be_connect(server) -> None:
    async with RawSession(server.address) as s:
        await s.send_request(get_data=pb.GetDataRequest(path="/"))
        msg = await s.recv()
        assert msg.WhichOneof("kind") == "ended", msg
        assert pb.ErrorCode.Name(msg.ended.error.code) == "BAD_ARGUMENTS"
        assert await s.recv() is None


async def test_request_without_op_is_answered_and_stream_survives(server) -> None:
    async with RawSession(server.address) as s:
        await s.connect()
        bad = await s.call_op()
        assert error_name(bad) == "BAD_ARGUMENTS"
        ok = await s.call_op(exists=pb.ExistsRequest(path="/"))
        assert ok.exists.HasField("stat")


async def test_expired_session_gets_session_ended_and_loses_ephemerals(server) -> None:
    async with RawSession(server.address) as s:
        await s.connect(timeout_ms=400)
        await s.call_op(create=pb.CreateRequest(path="/eph", ephemeral=True))
        msg = await s.recv(timeout=10)  # no pings: the session must expire
        assert msg.WhichOneof("kind") == "ended", msg
        assert pb.ErrorCode.Name(msg.ended.error.code) == "SESSION_EXPIRED"
        assert await s.recv() is None
    async with grpc.aio.insecure_channel(server.address) as ch:
        resp = await pb_grpc.CoordinationStub(ch).Exists(pb.ExistsRequest(path="/eph"))
        assert not resp.HasField("stat")


async def test_close_session_replies_then_finishes(server) -> None:
    async with RawSession(server.address) as s:
        await s.connect()
        await s.call_op(create=pb.CreateRequest(path="/c", ephemeral=True))
        closed = await s.call_op(close_session=pb.CloseSessionRequest())
        assert closed.WhichOneof("result") == "close_session"
        assert await s.recv() is None
        async with RawSession(server.address) as again:
            await again.send(
                pb.ClientMessage(
                    connect=pb.ConnectRequest(session_id=s.session_id, password=s.password)
                )
            )
            msg = await again.recv()
            assert pb.ErrorCode.Name(msg.ended.error.code) == "SESSION_EXPIRED"


async def test_resume_moves_session_and_delivers_buffered_events(server) -> None:
    async with RawSession(server.address) as old, RawSession(server.address) as other:
        await old.connect(timeout_ms=4000)
        await other.connect()
        await old.call_op(exists=pb.ExistsRequest(path="/moved", watch=True))
        async with RawSession(server.address) as new:
            resumed = await new.connect(session_id=old.session_id, password=old.password)
            assert resumed.session_id == old.session_id
            msg = await old.recv()
            assert pb.ErrorCode.Name(msg.ended.error.code) == "SESSION_MOVED"
            assert await old.recv() is None
            await other.call_op(create=pb.CreateRequest(path="/moved"))
            event = await new.recv()
            assert event.WhichOneof("kind") == "event" and event.event.path == "/moved"


async def test_events_for_a_disconnected_session_wait_for_its_return(server) -> None:
    async with RawSession(server.address) as writer:
        await writer.connect()
        gone = RawSession(server.address)
        await gone.connect(timeout_ms=4000)
        await gone.call_op(exists=pb.ExistsRequest(path="/later", watch=True))
        await gone.close()
        await wait_disconnected(server.address, gone.session_id)
        created = await writer.call_op(create=pb.CreateRequest(path="/later"))
        async with RawSession(server.address) as back:
            await back.connect(session_id=gone.session_id, password=gone.password)
            event = await back.recv()
            assert event.WhichOneof("kind") == "event", event
            assert event.event.path == "/later" and event.event.zxid == created.zxid


def test_unary_errors_carry_reason_metadata_and_status(stub) -> None:
    stub.Create(pb.CreateRequest(path="/u", data=b"1"))
    with pytest.raises(grpc.RpcError) as info:
        stub.Create(pb.CreateRequest(path="/u"))
    code, reason, details = unary_error(info.value)
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "NODE_EXISTS")
    assert details.startswith("NODE_EXISTS: ")
    with pytest.raises(grpc.RpcError) as info:
        stub.GetData(pb.GetDataRequest(path="/missing"))
    assert unary_error(info.value)[:2] == (grpc.StatusCode.NOT_FOUND, "NO_NODE")
    with pytest.raises(grpc.RpcError) as info:
        stub.SetData(pb.SetDataRequest(path="/u", data=b"2", version=5))
    assert unary_error(info.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "BAD_VERSION")
    with pytest.raises(grpc.RpcError) as info:
        stub.Exists(pb.ExistsRequest(path="bad"))
    assert unary_error(info.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PATH")
    assert stub.SetData(pb.SetDataRequest(path="/u", data=b"2", version=0)).stat.version == 1


def test_unary_multi_reports_per_op_results(stub) -> None:
    ok = stub.Multi(
        pb.MultiRequest(
            ops=[
                pb.Op(create=pb.CreateRequest(path="/m")),
                pb.Op(set_data=pb.SetDataRequest(path="/m", data=b"v")),
            ]
        )
    )
    assert [r.WhichOneof("result") for r in ok.results] == ["create", "set_data"]
    failed = stub.Multi(
        pb.MultiRequest(
            ops=[
                pb.Op(create=pb.CreateRequest(path="/n")),
                pb.Op(delete=pb.DeleteRequest(path="/zz")),
            ]
        )
    )
    codes = [pb.ErrorCode.Name(r.error.code) for r in failed.results]
    assert codes == ["RUNTIME_INCONSISTENCY", "NO_NODE"]
    assert not stub.Exists(pb.ExistsRequest(path="/n")).HasField("stat")


async def test_unary_ephemeral_create_uses_metadata_session(server) -> None:
    async with RawSession(server.address) as s, grpc.aio.insecure_channel(server.address) as ch:
        await s.connect()
        stub = pb_grpc.CoordinationStub(ch)
        md = (
            ("coordsvc-session-id", hex(s.session_id)),
            ("coordsvc-session-password", s.password.hex()),
        )
        made = await stub.Create(pb.CreateRequest(path="/e", ephemeral=True), metadata=md)
        assert made.stat.ephemeral_owner == s.session_id
        bad = (("coordsvc-session-id", str(s.session_id)), ("coordsvc-session-password", "00"))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Create(pb.CreateRequest(path="/f", ephemeral=True), metadata=bad)
        assert unary_error(info.value)[:2] == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "SESSION_EXPIRED",
        )


def test_oversized_data_is_data_too_large_not_a_transport_error(server_factory) -> None:
    srv = server_factory(tick_ms=200, max_data_bytes=2 << 20)
    with grpc.insecure_channel(srv.address) as ch:
        stub = pb_grpc.CoordinationStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Create(pb.CreateRequest(path="/big", data=b"x" * (5 << 20)))  # > gRPC's 4 MiB
        assert unary_error(info.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "DATA_TOO_LARGE")
        assert not stub.Exists(pb.ExistsRequest(path="/big")).HasField("stat")
        stub.Create(pb.CreateRequest(path="/fits", data=b"y" * (2 << 20)))
        assert len(stub.GetData(pb.GetDataRequest(path="/fits")).data) == 2 << 20


def test_health_is_serving(grpc_channel) -> None:
    health = health_pb2_grpc.HealthStub(grpc_channel)
    for service in ("", "coordsvc.v1.Coordination"):
        resp = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


async def test_admin_status_sessions_and_watches(server_factory) -> None:
    srv = server_factory(tick_ms=200, id=3)
    async with RawSession(srv.address) as s, grpc.aio.insecure_channel(srv.address) as ch:
        await s.connect()
        created = await s.call_op(create=pb.CreateRequest(path="/s", ephemeral=True))
        await s.call_op(exists=pb.ExistsRequest(path="/s", watch=True))
        admin = admin_pb2_grpc.AdminStub(ch)
        st = await admin.Status(apb.StatusRequest())
        assert (st.server_id, st.role, st.leader_id) == (3, "standalone", 3)
        assert st.last_zxid == created.zxid and st.epoch == created.zxid >> 40 >= 1
        assert [(m.id, m.address) for m in st.members] == [(3, srv.address)]
        assert (st.znode_count, st.session_count, st.watch_count) == (2, 1, 1)
        assert st.version
        sessions = (await admin.Sessions(apb.SessionsRequest())).sessions
        assert [
            (x.session_id, x.connected_here, x.ephemeral_count, x.watch_count) for x in sessions
        ] == [(s.session_id, True, 1, 1)]
        watches = (await admin.Watches(apb.WatchesRequest())).watches
        assert [(w.session_id, w.path) for w in watches] == [(s.session_id, "/s")]
        assert (await admin.Snapshot(apb.SnapshotRequest())).zxid == created.zxid


def test_sigterm_stops_gracefully(server) -> None:
    assert server.stop() == 0


def test_a_health_watch_hears_not_serving_and_does_not_hold_the_stop(server) -> None:
    with grpc.insecure_channel(server.address) as ch:
        call = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=30
        )
        updates = iter(call)
        assert next(updates).status == health_pb2.HealthCheckResponse.SERVING
        server.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        rest = []
        try:
            for update in updates:
                rest.append(update.status)
        except grpc.RpcError as exc:  # the process may exit before the stream's last word
            assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc
        assert rest and rest[-1] == health_pb2.HealthCheckResponse.NOT_SERVING
        # the open watch did not hold the stop for the grace period
        left = STOP_GRACE_S - 1 - (time.monotonic() - signalled)
        assert left > 0, "the watch stream was held for the grace period"
        assert server.proc.wait(timeout=left) == 0
