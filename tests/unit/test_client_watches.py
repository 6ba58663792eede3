"""Watch routing rules and the in-order dispatcher."""

from __future__ import annotations

import asyncio

import pytest
from coordsvc.client.rewatch import rearm_ops
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


def _reply(**kw: object) -> pb.Response:
    return pb.Response(xid=1, zxid=50, **kw)


def test_rearm_ops_cover_every_watch_and_deliver_what_was_missed() -> None:
    reg = WatchRegistry()
    calls: list[str] = []
    for kind, path in [(D, "/d"), (X, "/x"), (C, "/c"), (P, "/p"), (R, "/r"), (D, "/same")]:
        reg.add(kind, path, lambda e, k=kind: calls.append(f"{k.name}:{e.type}:{e.path}"))
    delivered: list[tuple[int, WatchedEvent]] = []

    def deliver(callbacks, event) -> None:
        delivered.append((len(callbacks), event))
        for fn in callbacks:
            fn(event)

    ops = rearm_ops(reg, seen_zxid=10, deliver=deliver)
    by_path = {msg.path: (name, msg, hook) for (name, msg), hook in ops}
    assert {p: (n, getattr(m, "watch", None)) for p, (n, m, _) in by_path.items()} == {
        "/d": ("exists", True),
        "/x": ("exists", True),
        "/same": ("exists", True),
        "/c": ("get_children", True),
        "/p": ("add_watch", None),
        "/r": ("add_watch", None),
    }
    assert by_path["/p"][1].mode == pb.WATCH_MODE_PERSISTENT
    assert by_path["/r"][1].mode == pb.WATCH_MODE_PERSISTENT_RECURSIVE
    assert by_path["/p"][2] is None

    by_path["/d"][2](_reply(exists=pb.ExistsResponse(stat=pb.Stat(mzxid=11))))
    by_path["/x"][2](_reply(exists=pb.ExistsResponse(stat=pb.Stat(mzxid=12))))
    by_path["/c"][2](_reply(error=pb.Error(code=pb.NO_NODE)))
    by_path["/same"][2](_reply(exists=pb.ExistsResponse(stat=pb.Stat(mzxid=9))))
    assert calls == ["DATA:CHANGED:/d", "EXIST:CREATED:/x", "CHILD:DELETED:/c"]
    assert all(event.zxid == 50 for _, event in delivered)
    assert reg.has(D, "/same")  # nothing missed: still armed
    assert not reg.has(D, "/d") and not reg.has(X, "/x") and not reg.has(C, "/c")


def test_rearm_hook_ignores_watches_already_consumed_and_unknown_errors() -> None:
    reg = WatchRegistry()
    reg.add(D, "/d", lambda e: None)
    reg.add(C, "/c", lambda e: None)
    delivered: list[WatchedEvent] = []
    ops = {
        msg.path: hook for (_, msg), hook in rearm_ops(reg, 10, lambda cbs, e: delivered.append(e))
    }
    reg.take(D, "/d")  # a buffered event consumed it before the reply came
    ops["/d"](_reply(exists=pb.ExistsResponse()))
    ops["/c"](_reply(error=pb.Error(code=pb.SYSTEM_ERROR)))
    assert delivered == []
    assert reg.has(C, "/c")
