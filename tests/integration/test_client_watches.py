"""Watches against a real server: one-shot, persistent, recursive, and ordering.

A watch that must NOT fire again is checked after a later read returns:
the SDK runs the callbacks of every event that arrived before a reply before
it returns that reply, so a stray event would already have been seen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from composerun import free_port
from coordsvc.client import AsyncClient, Client, EventType, KazooState, WatchedEvent

E = EventType


@pytest.fixture
async def client(server) -> AsyncIterator[AsyncClient]:
    c = AsyncClient(server.address, session_timeout=4.0)
    await c.start()
    yield c
    await c.stop()


@pytest.fixture
async def other(server) -> AsyncIterator[AsyncClient]:
    c = AsyncClient(server.address, session_timeout=4.0)
    await c.start()
    yield c
    await c.stop()


def kinds(events: list[WatchedEvent]) -> list[tuple[str, str]]:
    return [(e.type.value, e.path) for e in events]


async def test_exists_watch_fires_once_on_create(client: AsyncClient, other: AsyncClient) -> None:
    seen: list[WatchedEvent] = []
    assert await client.exists("/w", watch=seen.append) is None
    await other.create("/w", b"1")
    await other.set("/w", b"2")
    await other.delete("/w")
    await client.sync("/")  # its reply comes after every event above
    assert kinds(seen) == [("CREATED", "/w")]
    assert seen[0].state == "CONNECTED"
    assert seen[0].zxid > 0


async def test_get_watch_fires_once_per_registration(
    client: AsyncClient, other: AsyncClient
) -> None:
    seen: list[WatchedEvent] = []
    await client.create("/g", b"0")
    await client.get("/g", watch=seen.append)
    await other.set("/g", b"1")
    await other.set("/g", b"2")
    await client.get("/g", watch=seen.append)  # re-arm
    await other.delete("/g")
    await client.exists("/g")
    assert kinds(seen) == [("CHANGED", "/g"), ("DELETED", "/g")]


async def test_child_watch_sees_children_and_deletion(
    client: AsyncClient, other: AsyncClient
) -> None:
    seen: list[WatchedEvent] = []
    await client.create("/c")
    await client.get_children("/c", watch=seen.append)
    await other.set("/c", b"data changes do not wake a child watch")
    await other.create("/c/x")
    await other.create("/c/y")
    await client.get_children("/c", watch=seen.append)
    await other.delete("/c/x")
    await client.get_children("/c", watch=seen.append)
    await other.delete("/c/y")
    await other.delete("/c")
    await client.exists("/c")
    assert kinds(seen) == [("CHILD", "/c"), ("CHILD", "/c"), ("CHILD", "/c")]
    seen.clear()
    await client.create("/d")
    await client.get_children("/d", watch=seen.append)
    await other.delete("/d")
    await client.exists("/d")
    assert kinds(seen) == [("DELETED", "/d")]


async def test_one_watch_per_callback_even_if_registered_twice(
    client: AsyncClient, other: AsyncClient
) -> None:
    seen: list[WatchedEvent] = []
    other_seen: list[WatchedEvent] = []
    await client.create("/twice")
    await client.get("/twice", watch=seen.append)
    await client.exists("/twice", watch=seen.append)
    await client.exists("/twice", watch=other_seen.append)
    await other.set("/twice", b"x")
    await client.sync("/")
    assert kinds(seen) == [("CHANGED", "/twice")]
    assert kinds(other_seen) == [("CHANGED", "/twice")]


async def test_persistent_watch_keeps_firing_until_removed(
    client: AsyncClient, other: AsyncClient
) -> None:
    seen: list[WatchedEvent] = []
    handle = await client.add_watch("/p", seen.append)
    await other.create("/p")
    await other.set("/p", b"1")
    await other.set("/p", b"2")
    await other.create("/p/kid")
    await other.create("/p/kid/grandkid")  # not at /p: not seen
    await other.delete("/p/kid/grandkid")
    await other.delete("/p/kid")
    await client.sync("/")
    assert kinds(seen) == [
        ("CREATED", "/p"),
        ("CHANGED", "/p"),
        ("CHANGED", "/p"),
        ("CHILD", "/p"),
        ("CHILD", "/p"),
    ]
    await client.remove_watch(handle)
    await other.set("/p", b"3")
    await other.delete("/p")
    await client.sync("/")
    assert len(seen) == 5


async def test_recursive_watch_sees_grandchildren(client: AsyncClient, other: AsyncClient) -> None:
    seen: list[WatchedEvent] = []
    await client.create("/r")
    handle = await client.add_watch("/r", seen.append, recursive=True)
    await other.create("/r/a")
    await other.create("/r/a/b", b"0")
    await other.set("/r/a/b", b"1")
    await other.delete("/r/a/b")
    await other.create("/rx")  # a sibling with the same prefix: not below /r
    await client.sync("/")
    assert kinds(seen) == [
        ("CREATED", "/r/a"),
        ("CREATED", "/r/a/b"),
        ("CHANGED", "/r/a/b"),
        ("DELETED", "/r/a/b"),
    ]
    await client.remove_watch(handle)
    await other.create("/r/z")
    await client.sync("/")
    assert len(seen) == 4


async def test_two_persistent_callbacks_share_one_server_watch(
    client: AsyncClient, other: AsyncClient
) -> None:
    a: list[WatchedEvent] = []
    b: list[WatchedEvent] = []
    ha = await client.add_watch("/shared", a.append)
    await client.add_watch("/shared", b.append)
    await other.create("/shared")
    await client.remove_watch(ha)  # b still holds the server watch
    await other.set("/shared", b"x")
    await client.sync("/")
    assert kinds(a) == [("CREATED", "/shared")]
    assert kinds(b) == [("CREATED", "/shared"), ("CHANGED", "/shared")]


async def test_async_callback_finishes_before_a_later_read_returns(
    client: AsyncClient, other: AsyncClient
) -> None:
    done = asyncio.Event()

    async def slow_callback(event: WatchedEvent) -> None:
        await asyncio.sleep(0.5)  # a slow callback widens the window a broken SDK would show
        done.set()

    await client.create("/o", b"old")
    await client.get("/o", watch=slow_callback)
    await other.set("/o", b"new")
    deadline = time.monotonic() + 10
    while (await client.get("/o"))[0] != b"new":
        assert time.monotonic() < deadline, "the change never became visible"
    assert done.is_set(), "get() returned the new data before the watch callback ran"


async def test_own_write_returns_after_its_watch_callback(client: AsyncClient) -> None:
    done = asyncio.Event()

    async def slow_callback(event: WatchedEvent) -> None:
        await asyncio.sleep(0.3)
        done.set()

    await client.create("/own", b"0")
    await client.exists("/own", watch=slow_callback)
    await client.set("/own", b"1")
    assert done.is_set()


async def test_callbacks_may_call_the_client(client: AsyncClient, other: AsyncClient) -> None:
    """A data watch that re-reads and re-arms itself (no deadlock on the barrier)."""
    values: list[bytes] = []
    got = asyncio.Event()

    async def rearm(event: WatchedEvent) -> None:
        data, _ = await client.get(event.path, watch=rearm)
        values.append(data)
        if data == b"3":
            got.set()

    await client.create("/re", b"0")
    await client.get("/re", watch=rearm)
    for v in (b"1", b"2", b"3"):
        await other.set("/re", v)
        await client.sync("/")  # one change per event, so none is coalesced
    await asyncio.wait_for(got.wait(), 10)
    assert values == [b"1", b"2", b"3"]


async def test_a_raising_callback_does_not_break_the_client(
    client: AsyncClient, other: AsyncClient
) -> None:
    after: list[WatchedEvent] = []

    def broken(event: WatchedEvent) -> None:
        raise RuntimeError("user bug")

    await client.create("/b")
    await client.get("/b", watch=broken)
    await client.exists("/b", watch=after.append)
    await other.set("/b", b"x")
    await client.sync("/")
    assert kinds(after) == [("CHANGED", "/b")]
    assert (await client.get("/b"))[0] == b"x"


async def _wait_state(states: list[KazooState], changed: asyncio.Event, want, n: int) -> None:
    async with asyncio.timeout(15.0):
        while states.count(want) < n:
            changed.clear()
            await changed.wait()


async def test_a_change_missed_while_away_fires_with_the_zxid_of_the_change(
    server_factory,
) -> None:
    """A server restarted from its log keeps the session but no watch: on resume the SDK
    re-arms them and synthesizes what they missed, dated by the change (as a live event
    would be), not by the re-arming read, which is later here.

    The changes are made through the store restarted on another port, so the client
    (which knows only the first port) cannot come back before they are all made.
    """
    home = f"127.0.0.1:{free_port()}"
    flags = {"tick_ms": 200, "max_session_timeout_ms": 20_000}
    server = server_factory(listen=home, **flags)
    states: list[KazooState] = []
    changed = asyncio.Event()

    def on_state(state: KazooState) -> None:
        states.append(state)
        changed.set()

    client = AsyncClient(server.address, session_timeout=10.0)
    client.add_listener(on_state)
    seen: list[WatchedEvent] = []
    try:
        await client.start()
        for path in ("/d", "/c", "/same", "/dir", "/dir/gone"):
            await client.create(path)
        await client.get("/d", watch=seen.append)
        await client.exists("/new", watch=seen.append)
        await client.get_children("/c", watch=seen.append)
        await client.get("/same", watch=seen.append)
        await client.get("/dir/gone", watch=seen.append)
        await client.get_children("/dir/gone", watch=seen.append)

        server.kill()
        await _wait_state(states, changed, KazooState.SUSPENDED, 1)
        aside = server_factory(data_dir=server.data_dir, **flags)  # on a port of its own
        async with AsyncClient(aside.address) as other:
            await other.set("/d", b"1")
            await other.create("/new", b"0")
            await other.set("/new", b"1")  # one CREATED stands for both: the newest zxid
            await other.create("/c/kid")
            await other.delete("/dir/gone")
            await other.create("/later")  # the re-arming reads come after this
            later = (await other.exists("/later")).czxid
        aside.kill()
        server = server_factory(data_dir=server.data_dir, listen=home, **flags)
        await _wait_state(states, changed, KazooState.CONNECTED, 2)
        await client.sync("/")  # its reply comes after every re-arming reply

        assert states == [KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.CONNECTED]
        got = {(e.type.value, e.path): e.zxid for e in seen}
        assert len(seen) == len(got)  # each once
        d, new, c, parent = [await client.exists(p) for p in ("/d", "/new", "/c", "/dir")]
        assert got == {
            ("CHANGED", "/d"): d.mzxid,
            ("CREATED", "/new"): new.mzxid,
            ("CHILD", "/c"): c.pzxid,
            ("DELETED", "/dir/gone"): parent.pzxid,  # the deletion set its parent's pzxid
        }
        assert max(got.values()) < later
    finally:
        await client.stop()


def test_sync_client_callback_runs_before_a_later_get_returns(server) -> None:
    done = threading.Event()
    thread_names: list[str] = []

    def slow_callback(event: WatchedEvent) -> None:
        thread_names.append(threading.current_thread().name)
        time.sleep(0.5)  # a slow callback widens the window a broken SDK would show
        done.set()

    with Client(server.address, session_timeout=4.0) as a, Client(server.address) as b:
        a.create("/s", b"old")
        a.get("/s", watch=slow_callback)
        b.set("/s", b"new")
        deadline = time.monotonic() + 10
        while a.get("/s")[0] != b"new":
            assert time.monotonic() < deadline, "the change never became visible"
        assert done.is_set(), "get() returned the new data before the watch callback ran"
        assert thread_names and thread_names[0] != threading.current_thread().name


def test_sync_client_callback_may_call_the_client(server) -> None:
    seen: list[bytes] = []
    got = threading.Event()

    def rearm(event: WatchedEvent) -> None:
        data, _ = c.get(event.path, watch=rearm)
        seen.append(data)
        if data == b"2":
            got.set()

    with Client(server.address, session_timeout=4.0) as c:
        c.create("/sr", b"0")
        c.get("/sr", watch=rearm)
        c.set("/sr", b"1")
        c.sync("/")
        c.set("/sr", b"2")
        assert got.wait(10)
        assert seen == [b"1", b"2"]


def test_sync_client_persistent_watch_and_listener_guard(server) -> None:
    seen: list[WatchedEvent] = []
    errors: list[BaseException] = []

    with Client(server.address, session_timeout=4.0) as c:

        def listener(state) -> bool:
            try:
                c.exists("/")  # blocking call on the loop thread: refused, not deadlocked
            except RuntimeError as exc:
                errors.append(exc)
            return True

        handle = c.add_watch("/sp", seen.append, recursive=True)
        c.create("/sp/a", makepath=True)
        c.set("/sp/a", b"1")
        c.remove_watch(handle)
        c.set("/sp/a", b"2")
        c.sync("/")
        assert kinds(seen) == [("CREATED", "/sp"), ("CREATED", "/sp/a"), ("CHANGED", "/sp/a")]
        c.add_listener(listener)
    assert len(errors) == 1 and "deadlock" in str(errors[0])
