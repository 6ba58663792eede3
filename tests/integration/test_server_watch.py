"""The resumable Watch RPC against a real server: replay from a zxid, then live events."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

READ_TIMEOUT_S = 10.0


def events_of(resp: pb.WatchResponse) -> list[tuple[str, str, int]]:
    return [(pb.EventType.Name(e.type), e.path, e.zxid) for e in resp.events]


async def next_response(call) -> pb.WatchResponse:
    msg = await asyncio.wait_for(call.read(), READ_TIMEOUT_S)
    assert msg is not grpc.aio.EOF, "watch stream ended"
    return msg


async def test_resume_from_zxid_replays_in_order_then_goes_live(server) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        stub = pb_grpc.CoordinationStub(ch)
        await stub.Create(pb.CreateRequest(path="/r"))
        z1 = (await stub.Create(pb.CreateRequest(path="/r/a"))).stat.czxid
        z2 = (await stub.SetData(pb.SetDataRequest(path="/r/a", data=b"v"))).stat.mzxid
        z3 = (await stub.Create(pb.CreateRequest(path="/r/b"))).stat.czxid
        z4 = (await stub.Create(pb.CreateRequest(path="/elsewhere"))).stat.czxid
        call = stub.Watch(pb.WatchRequest(path="/r", recursive=True, start_zxid=z1))
        first, second = await next_response(call), await next_response(call)
        assert (first.zxid, events_of(first)) == (z2, [("NODE_DATA_CHANGED", "/r/a", z2)])
        assert second.zxid == z3
        assert sorted(events_of(second)) == [
            ("NODE_CHILDREN_CHANGED", "/r", z3),
            ("NODE_CREATED", "/r/b", z3),
        ]
        progress = await next_response(call)
        assert events_of(progress) == [] and progress.zxid == z4  # caught up, nothing of /elsewhere
        await stub.Delete(pb.DeleteRequest(path="/r/a"))
        live = await next_response(call)
        assert live.zxid > z4 and ("NODE_DELETED", "/r/a", live.zxid) in events_of(live)
        call.cancel()


async def test_non_recursive_watch_sees_only_its_path(server) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        stub = pb_grpc.CoordinationStub(ch)
        call = stub.Watch(pb.WatchRequest(path="/only"))
        progress = await next_response(call)  # the stream is live from here on
        assert events_of(progress) == []
        await stub.Create(pb.CreateRequest(path="/other"))
        made = await stub.Create(pb.CreateRequest(path="/only"))
        await stub.Create(pb.CreateRequest(path="/only/kid"))
        changed = await stub.SetData(pb.SetDataRequest(path="/only", data=b"x"))
        got = [await next_response(call) for _ in range(3)]
        assert [events_of(r) for r in got] == [
            [("NODE_CREATED", "/only", made.stat.czxid)],
            [("NODE_CHILDREN_CHANGED", "/only", got[1].zxid)],
            [("NODE_DATA_CHANGED", "/only", changed.stat.mzxid)],
        ]
        assert made.stat.czxid < got[1].zxid < changed.stat.mzxid
        call.cancel()


async def test_watch_on_invalid_path_is_invalid_path(server) -> None:
    async with grpc.aio.insecure_channel(server.address) as ch:
        call = pb_grpc.CoordinationStub(ch).Watch(pb.WatchRequest(path="no/slash"))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await asyncio.wait_for(call.read(), READ_TIMEOUT_S)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(info.value.trailing_metadata())["coordsvc-error"] == "INVALID_PATH"
