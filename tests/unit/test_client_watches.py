"""Watch routing rules, the in-order dispatcher, re-arming, and the watch stream's
search for a server that keeps its history (against in-process fake servers)."""

from __future__ import annotations

import asyncio
import random
import socket

import grpc
import pytest
from coordsvc.client.errors import CompactedError
from coordsvc.client.hosts import HostRing
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.rewatch import rearm_ops
from coordsvc.client.watch_stream import WatchStream
from coordsvc.client.watches import (
    Dispatcher,
    EventType,
    WatchedEvent,
    WatchKind,
    WatchRegistry,
    event_from_pb,
    in_callback,
    missed_event,
)

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

E = EventType
D, C, P, R = WatchKind.DATA, WatchKind.CHILD, WatchKind.PERSISTENT, WatchKind.RECURSIVE


def ev(kind: EventType, path: str) -> WatchedEvent:
    return WatchedEvent(kind, "CONNECTED", path, 1)


# (registrations as (kind, path), event, names woken)
ROUTES = [
    ([(D, "/a")], ev(E.CREATED, "/a"), ["D/a"]),
    ([(D, "/a")], ev(E.CHANGED, "/a"), ["D/a"]),
    ([(D, "/a")], ev(E.DELETED, "/a"), ["D/a"]),
    ([(D, "/a")], ev(E.CHILD, "/a"), []),
    ([(C, "/a")], ev(E.CHILD, "/a"), ["C/a"]),
    ([(C, "/a")], ev(E.DELETED, "/a"), ["C/a"]),
    ([(C, "/a")], ev(E.CHANGED, "/a"), []),
    ([(D, "/a")], ev(E.CHANGED, "/b"), []),
    ([(P, "/a")], ev(E.CHILD, "/a"), ["P/a"]),
    ([(P, "/a")], ev(E.CHANGED, "/a"), ["P/a"]),
    ([(P, "/a")], ev(E.CHANGED, "/a/b"), []),
    ([(R, "/a")], ev(E.CREATED, "/a/b/c"), ["R/a"]),
    ([(R, "/a")], ev(E.CHANGED, "/a"), ["R/a"]),
    ([(R, "/a")], ev(E.CHILD, "/a"), []),
    ([(R, "/a")], ev(E.CREATED, "/ab"), []),
    ([(R, "/")], ev(E.DELETED, "/x/y"), ["R/"]),
    ([(D, "/a"), (C, "/a"), (P, "/a"), (R, "/")], ev(E.DELETED, "/a"), ["D/a", "C/a", "P/a", "R/"]),
]


def registry_with(regs: list[tuple[WatchKind, str]]) -> tuple[WatchRegistry, list[str]]:
    reg, woken = WatchRegistry(), []
    for kind, path in regs:
        name = f"{kind.name[0]}{path}"
        reg.add(kind, path, lambda e, name=name: woken.append(name))
    return reg, woken


@pytest.mark.parametrize(("regs", "event", "expected"), ROUTES)
def test_routing(regs: list, event: WatchedEvent, expected: list[str]) -> None:
    reg, woken = registry_with(regs)
    for fn in reg.route(event):
        fn(event)
    assert woken == expected


def test_one_shot_watches_are_consumed_persistent_ones_stay() -> None:
    reg, woken = registry_with([(D, "/a"), (P, "/a")])
    for _ in range(3):
        for fn in reg.route(ev(E.CHANGED, "/a")):
            fn(None)
    assert woken == ["D/a", "P/a", "P/a", "P/a"]
    assert not reg.has(D, "/a") and reg.has(P, "/a")


def test_same_callback_runs_once_per_event() -> None:
    reg, calls = WatchRegistry(), []
    fn = calls.append
    assert reg.add(D, "/a", fn) is True
    assert reg.add(D, "/a", fn) is False
    reg.add(C, "/a", fn)
    reg.add(P, "/a", fn)
    assert reg.route(ev(E.DELETED, "/a")) == [fn]


def test_remove_reports_the_last_callback_and_clear_forgets_all() -> None:
    reg = WatchRegistry()
    f, g = (lambda e: None), (lambda e: None)
    reg.add(P, "/a", f)
    reg.add(P, "/a", g)
    assert reg.remove(P, "/a", f) is False
    assert reg.remove(P, "/a", g) is True
    assert reg.paths(P) == []
    reg.add(R, "/b", f)
    reg.add(D, "/c", f)
    reg.clear()
    assert reg.route(ev(E.CHANGED, "/b")) == [] and reg.route(ev(E.CHANGED, "/c")) == []


@pytest.mark.parametrize(
    ("wire", "kind"),
    [
        (pb.NODE_CREATED, E.CREATED),
        (pb.NODE_DELETED, E.DELETED),
        (pb.NODE_DATA_CHANGED, E.CHANGED),
        (pb.NODE_CHILDREN_CHANGED, E.CHILD),
    ],
)
def test_event_from_pb(wire: int, kind: EventType) -> None:
    got = event_from_pb(pb.WatchEvent(type=wire, path="/p", zxid=9))
    assert got == WatchedEvent(kind, "CONNECTED", "/p", 9)
    assert got.type == kind.value  # a str, like kazoo's EventType constants


def test_event_from_pb_unknown_type() -> None:
    assert event_from_pb(pb.WatchEvent(type=pb.EVENT_TYPE_UNSPECIFIED, path="/p")) is None


async def test_dispatcher_runs_callbacks_in_order_and_marks_progress() -> None:
    d = Dispatcher()
    d.start()
    gate = asyncio.Event()
    order: list[str] = []

    async def slow(e: WatchedEvent) -> None:
        await gate.wait()
        order.append("slow:" + e.path)

    d.submit([slow], ev(E.CHANGED, "/1"))
    d.submit([order.append], ev(E.CHANGED, "/2"))
    d.submit([], ev(E.CHANGED, "/ignored"))  # no callbacks: not even counted
    mark = d.received
    assert mark == 2
    waiter = asyncio.ensure_future(d.wait_done(mark))
    await asyncio.sleep(0)
    assert not waiter.done()  # the first callback is still blocked
    gate.set()
    await asyncio.wait_for(waiter, 5)
    assert order[0] == "slow:/1" and order[1].path == "/2"
    await d.stop(5)


async def test_dispatcher_survives_a_raising_callback(caplog: pytest.LogCaptureFixture) -> None:
    d = Dispatcher()
    d.start()
    ran: list[WatchedEvent] = []

    def broken(e: WatchedEvent) -> None:
        raise RuntimeError("callback bug")

    d.submit([broken, ran.append], ev(E.CHANGED, "/x"))
    await asyncio.wait_for(d.wait_done(d.received), 5)
    assert len(ran) == 1
    assert "callback bug" in caplog.text
    await d.stop(5)


async def test_wait_done_inside_a_callback_does_not_deadlock() -> None:
    d = Dispatcher()
    d.start()
    result: list[bool] = []

    async def nested(e: WatchedEvent) -> None:
        result.append(in_callback())
        await d.wait_done(d.received)  # would wait on itself without the bypass
        result.append(True)

    d.submit([nested], ev(E.CHANGED, "/x"))
    await asyncio.wait_for(d.wait_done(d.received), 5)
    assert result == [True, True]
    assert not in_callback()
    await d.stop(5)


async def test_stop_releases_waiters_and_custom_runner_is_used() -> None:
    used: list[str] = []

    async def runner(fn, event) -> None:
        used.append(event.path)
        fn(event)

    d = Dispatcher(runner)
    d.start()
    d.submit([lambda e: None], ev(E.CHANGED, "/r"))
    await d.stop(5)
    await asyncio.wait_for(d.wait_done(d.received), 1)
    assert used == ["/r"]


# ---- re-arming after a resume -------------------------------------------------

X = WatchKind.EXIST


@pytest.mark.parametrize(
    ("kind", "exists", "changed", "expected"),
    [
        (D, True, 5, None),  # unchanged since zxid 5 was seen
        (D, True, 6, E.CHANGED),
        (D, False, 0, E.DELETED),
        (X, False, 0, None),
        (X, True, 3, E.CREATED),
        (C, True, 5, None),
        (C, True, 9, E.CHILD),
        (C, False, 0, E.DELETED),
    ],
)
def test_missed_event(kind: WatchKind, exists: bool, changed: int, expected) -> None:
    assert missed_event(kind, exists, changed, seen_zxid=5) == expected


def test_exist_watches_route_like_data_watches() -> None:
    reg, woken = registry_with([(X, "/a")])
    for fn in reg.route(ev(E.CREATED, "/a")):
        fn(None)
    assert woken == ["E/a"] and not reg.has(X, "/a")


def _reply(zxid: int = 50, **kw: object) -> pb.Response:
    return pb.Response(xid=1, zxid=zxid, **kw)


def _hooks(ops) -> dict[tuple[str, str, bool], object]:
    """The re-arming ops by (request, path, watch?): their hooks."""
    return {(name, msg.path, getattr(msg, "watch", False)): hook for (name, msg), hook in ops}


def _recorder(reg: WatchRegistry) -> tuple[list[tuple[int, WatchedEvent]], object]:
    delivered: list[tuple[int, WatchedEvent]] = []

    def deliver(callbacks, event) -> None:
        delivered.append((len(callbacks), event))
        for fn in callbacks:
            fn(event)

    return delivered, deliver


def _stat(**kw: int) -> pb.ExistsResponse:
    return pb.ExistsResponse(stat=pb.Stat(**kw))


def test_rearm_ops_cover_every_watch_and_deliver_what_was_missed() -> None:
    reg = WatchRegistry()
    calls: list[str] = []
    for kind, path in [(D, "/d"), (X, "/x"), (C, "/c"), (P, "/p"), (R, "/r"), (D, "/same")]:
        reg.add(kind, path, lambda e, k=kind: calls.append(f"{k.name}:{e.type}:{e.path}"))
    delivered, deliver = _recorder(reg)

    ops = rearm_ops(reg, seen_zxid=10, deliver=deliver)
    assert [(name, msg.path) for (name, msg), _ in ops] == [
        ("exists", "/d"),
        ("exists", "/same"),
        ("exists", "/x"),
        ("get_children", "/c"),
        ("exists", "/"),  # the parent of the data and child watches, once, after them
        ("add_watch", "/p"),
        ("add_watch", "/r"),
    ]
    hooks = _hooks(ops)
    assert ops[4][0][1].watch is False
    assert ops[5][0][1].mode == pb.WATCH_MODE_PERSISTENT
    assert ops[6][0][1].mode == pb.WATCH_MODE_PERSISTENT_RECURSIVE
    assert ops[5][1] is None and ops[6][1] is None

    hooks["exists", "/d", True](_reply(exists=_stat(mzxid=11, czxid=2)))
    hooks["exists", "/x", True](_reply(exists=_stat(mzxid=12, czxid=12)))
    hooks["get_children", "/c", True](_reply(zxid=51, error=pb.Error(code=pb.NO_NODE)))
    hooks["exists", "/same", True](_reply(exists=_stat(mzxid=9)))
    # the deletion waits for its parent's pzxid to be dated
    assert calls == ["DATA:CHANGED:/d", "EXIST:CREATED:/x"]
    hooks["exists", "/", False](_reply(zxid=52, exists=_stat(pzxid=20)))
    assert calls == ["DATA:CHANGED:/d", "EXIST:CREATED:/x", "CHILD:DELETED:/c"]
    # each event carries the zxid of its change, not that of the re-arming read
    assert [(e.path, e.zxid) for _, e in delivered] == [("/d", 11), ("/x", 12), ("/c", 20)]
    assert reg.has(D, "/same")  # nothing missed: still armed
    assert not reg.has(D, "/d") and not reg.has(X, "/x") and not reg.has(C, "/c")


@pytest.mark.parametrize(
    ("kind", "reply", "expected"),
    [
        (D, _reply(exists=_stat(mzxid=17, czxid=3)), (E.CHANGED, 17)),  # mzxid
        (X, _reply(exists=_stat(mzxid=17, czxid=12)), (E.CREATED, 17)),  # newest change
        (X, _reply(exists=_stat(mzxid=12, czxid=12)), (E.CREATED, 12)),  # = its creation
        (
            C,
            _reply(get_children=pb.GetChildrenResponse(stat=pb.Stat(pzxid=15, mzxid=30))),
            (E.CHILD, 15),
        ),
    ],
)
def test_a_missed_event_carries_the_zxid_of_the_change(kind, reply, expected) -> None:
    reg = WatchRegistry()
    reg.add(kind, "/a/n", lambda e: None)
    delivered, deliver = _recorder(reg)
    (_, hook), *_ = rearm_ops(reg, seen_zxid=10, deliver=deliver)
    hook(reply)
    assert [(e.type, e.zxid) for _, e in delivered] == [expected]


@pytest.mark.parametrize(
    ("parent_reply", "expected"),
    [
        (_reply(zxid=60, exists=_stat(pzxid=42)), 42),  # the deletion set the parent's pzxid
        (_reply(zxid=60, exists=_stat(pzxid=58)), 55),  # children changed since: the read's
        (_reply(zxid=60, error=pb.Error(code=pb.NO_NODE)), 55),  # parent gone too
        (_reply(zxid=60, error=pb.Error(code=pb.CONNECTION_LOSS)), 55),  # parent unread
    ],
)
def test_a_missed_deletion_is_dated_by_the_parents_pzxid_at_most_the_read(
    parent_reply: pb.Response, expected: int
) -> None:
    reg = WatchRegistry()
    reg.add(D, "/a/n", lambda e: None)
    reg.add(C, "/a/n", lambda e: None)
    delivered, deliver = _recorder(reg)
    hooks = _hooks(rearm_ops(reg, seen_zxid=10, deliver=deliver))
    assert set(hooks) == {
        ("exists", "/a/n", True),
        ("get_children", "/a/n", True),
        ("exists", "/a", False),
    }
    gone = _reply(zxid=55, error=pb.Error(code=pb.NO_NODE))
    hooks["exists", "/a/n", True](gone)
    hooks["get_children", "/a/n", True](gone)
    assert delivered == []
    hooks["exists", "/a", False](parent_reply)
    # one event for the node, as live, waking the data and the child watch
    assert [(n, e.type, e.zxid) for n, e in delivered] == [(2, E.DELETED, expected)]
    assert not reg.has(D, "/a/n") and not reg.has(C, "/a/n")
    hooks["exists", "/a", False](parent_reply)  # a resent parent read delivers nothing twice
    assert len(delivered) == 1


def test_a_callback_watching_a_deleted_nodes_data_and_children_runs_once() -> None:
    reg, woken = registry_with([(D, "/a/n")])
    fn = reg.take(D, "/a/n")[0]
    reg.add(D, "/a/n", fn)
    reg.add(C, "/a/n", fn)
    hooks = _hooks(rearm_ops(reg, seen_zxid=10, deliver=_recorder(reg)[1]))
    gone = _reply(zxid=55, error=pb.Error(code=pb.NO_NODE))
    hooks["exists", "/a/n", True](gone)
    hooks["get_children", "/a/n", True](gone)
    hooks["exists", "/a", False](_reply(zxid=56, exists=_stat(pzxid=44)))
    assert woken == ["D/a/n"]


def test_a_deletion_found_after_the_parents_reply_is_dated_by_its_own_read() -> None:
    """A node read resent (after CONNECTION_LOSS) is answered after its parent's read:
    that pzxid may predate the deletion, so the node's own read dates it."""
    reg = WatchRegistry()
    reg.add(D, "/a/n", lambda e: None)
    delivered, deliver = _recorder(reg)
    hooks = _hooks(rearm_ops(reg, seen_zxid=10, deliver=deliver))
    hooks["exists", "/a/n", True](_reply(error=pb.Error(code=pb.CONNECTION_LOSS)))
    hooks["exists", "/a", False](_reply(zxid=30, exists=_stat(pzxid=20)))
    hooks["exists", "/a/n", True](_reply(zxid=35, error=pb.Error(code=pb.NO_NODE)))
    assert [(e.type, e.zxid) for _, e in delivered] == [(E.DELETED, 35)]


def test_a_deletion_whose_watch_a_live_event_consumed_is_not_delivered() -> None:
    reg = WatchRegistry()
    reg.add(D, "/a/n", lambda e: None)
    delivered, deliver = _recorder(reg)
    hooks = _hooks(rearm_ops(reg, seen_zxid=10, deliver=deliver))
    hooks["exists", "/a/n", True](_reply(error=pb.Error(code=pb.NO_NODE)))
    reg.route(WatchedEvent(E.CREATED, "CONNECTED", "/a/n", 51))  # re-created meanwhile
    hooks["exists", "/a", False](_reply(exists=_stat(pzxid=51)))
    assert delivered == []


def test_rearm_hook_ignores_watches_already_consumed_and_unknown_errors() -> None:
    reg = WatchRegistry()
    reg.add(D, "/d", lambda e: None)
    reg.add(C, "/c", lambda e: None)
    delivered: list[WatchedEvent] = []
    hooks = _hooks(rearm_ops(reg, 10, lambda cbs, e: delivered.append(e)))
    reg.take(D, "/d")  # a buffered event consumed it before the reply came
    hooks["exists", "/d", True](_reply(exists=pb.ExistsResponse()))
    hooks["get_children", "/c", True](_reply(error=pb.Error(code=pb.SYSTEM_ERROR)))
    hooks["exists", "/", False](_reply(exists=_stat(pzxid=40)))
    assert delivered == []
    assert reg.has(C, "/c")


# ---- the watch stream looks for a server that keeps its history --------------


class HistoryServer(pb_grpc.CoordinationServicer):
    """A fake server whose watch history covers the txns after ``floor``: one event at
    each zxid in ``zxids``; older start points get COMPACTED, as from a real one."""

    def __init__(self, floor: int, zxids: range) -> None:
        self.floor = floor
        self.zxids = zxids
        self.asked: list[int] = []
        self.address = ""
        self._server: grpc.aio.Server | None = None

    async def start(self) -> HistoryServer:
        self._server = grpc.aio.server()
        pb_grpc.add_CoordinationServicer_to_server(self, self._server)
        self.address = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        await self._server.start()
        return self

    async def stop(self) -> None:
        assert self._server is not None
        await self._server.stop(grace=None)

    async def Watch(self, request: pb.WatchRequest, context):  # noqa: N802 - gRPC method name
        self.asked.append(request.start_zxid)
        if request.start_zxid < self.floor:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                f"COMPACTED: history from {self.floor:#x}",
                trailing_metadata=(("coordsvc-error", "COMPACTED"),),
            )
        for zxid in self.zxids:
            if zxid > request.start_zxid:
                event = pb.WatchEvent(type=pb.NODE_DATA_CHANGED, path="/w", zxid=zxid)
                yield pb.WatchResponse(events=[event], zxid=zxid)
        yield pb.WatchResponse(zxid=self.zxids[-1])
        await asyncio.Event().wait()  # live, with nothing more to say


class InOrder(random.Random):
    """Leaves the host list as given, so a test knows which server a stream tries first."""

    def shuffle(self, x, *args) -> None:  # noqa: ARG002
        return None


class FakeTime:
    """The backoff's clock and sleep: sleeping moves the clock, at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _stream(hosts: list[str], start_zxid: int, time: FakeTime, timeout: float) -> WatchStream:
    backoff = RetryPolicy(
        max_tries=None, delay=0.05, max_delay=1.0, max_jitter=0, sleep=time.sleep, clock=time.clock
    )
    ring = HostRing(hosts, InOrder())
    return WatchStream(
        ring, "/w", recursive=True, start_zxid=start_zxid, backoff=backoff, search_timeout=timeout
    )


@pytest.fixture
async def servers():
    started: list[HistoryServer] = []

    async def start(floor: int, zxids: range) -> HistoryServer:
        started.append(await HistoryServer(floor, zxids).start())
        return started[-1]

    yield start
    for server in started:
        await server.stop()


async def test_a_stream_goes_past_servers_without_its_history(servers) -> None:
    restarted = await servers(8, range(1, 13))  # keeps only what came after zxid 8
    snapped = await servers(10, range(1, 13))
    full = await servers(0, range(1, 13))
    stream = _stream([restarted.address, snapped.address, full.address], 3, FakeTime(), 5.0)
    async with asyncio.timeout(10), stream:
        got = [(await anext(stream)).zxid for _ in range(9)]
    assert got == list(range(4, 13))  # every event after 3, in order, once
    assert restarted.asked == [3] and snapped.asked == [3] and full.asked == [3]


async def test_a_stream_raises_compacted_once_every_server_said_so(servers) -> None:
    time = FakeTime()
    a, b = await servers(8, range(1, 13)), await servers(10, range(1, 13))
    stream = _stream([a.address, b.address], 3, time, 5.0)
    with pytest.raises(CompactedError) as err:
        async with asyncio.timeout(10):
            await anext(stream)
    await stream.aclose()
    assert a.address in str(err.value) and b.address in str(err.value)
    assert "0x3" in str(err.value) and "not reached" not in str(err.value)
    assert time.now == 0  # both answered: no waiting for anything
    assert a.asked == [3] and b.asked == [3]


async def test_a_stream_searches_unreachable_servers_until_its_timeout(servers) -> None:
    time = FakeTime()
    short = await servers(8, range(1, 13))
    dead = _dead_address()
    stream = _stream([short.address, dead], 3, time, 5.0)
    with pytest.raises(CompactedError) as err:
        async with asyncio.timeout(20):
            await anext(stream)
    await stream.aclose()
    assert f"not reached within 5s: {dead}" in str(err.value)
    assert time.now == pytest.approx(5.0)  # kept trying for the whole timeout, not longer
    assert short.asked == [3]  # a server that said COMPACTED is not asked again


async def test_a_stream_with_one_server_raises_compacted_at_once(servers) -> None:
    short = await servers(8, range(1, 13))
    stream = _stream([short.address], 3, FakeTime(), 5.0)
    with pytest.raises(CompactedError):
        async with asyncio.timeout(10):
            await anext(stream)
    await stream.aclose()
