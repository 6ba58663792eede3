"""Watch routing rules and the in-order dispatcher."""

from __future__ import annotations

import asyncio

import pytest
from coordsvc.client.watches import (
    Dispatcher,
    EventType,
    WatchedEvent,
    WatchKind,
    WatchRegistry,
    event_from_pb,
    in_callback,
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
