"""DataWatch, ChildrenWatch, TreeCache and ServiceRegistry against the FakeCoordClient."""

from __future__ import annotations

import asyncio
import threading

import pytest
from coordsvc.client.watches import EventType
from coordsvc.recipes import (
    AsyncChildrenWatch,
    AsyncDataWatch,
    AsyncServiceRegistry,
    AsyncTreeCache,
    DataWatch,
    TreeCache,
    TreeEventType,
)
from fake_coord import FakeCoordClient, FakeServer, FakeSyncClient

T = TreeEventType


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


async def started(server: FakeServer, n: int) -> list[FakeCoordClient]:
    clients = [server.client() for _ in range(n)]
    for c in clients:
        await c.start()
    return clients


async def until(check, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


# ---- DataWatch / ChildrenWatch ------------------------------------------------------------


async def test_data_watch_reports_missing_created_changed_deleted(server) -> None:
    a, b = await started(server, 2)
    seen: list[bytes | None] = []
    watch = AsyncDataWatch(a, "/cfg")

    @watch
    def on_data(data, stat):
        seen.append(data)
        assert (data is None) == (stat is None)

    await watch.started()
    await b.create("/cfg", b"v1")
    await until(lambda: len(seen) == 2)
    await b.set("/cfg", b"v2")
    await until(lambda: len(seen) == 3)
    await b.delete("/cfg")
    await until(lambda: len(seen) == 4)
    assert seen == [None, b"v1", b"v2", None]
    watch.stop()
    await b.create("/cfg", b"v3")
    await until(lambda: watch.stopped)
    assert seen[-1] is None


async def test_data_watch_returning_false_stops_and_gets_the_event(server) -> None:
    a, b = await started(server, 2)
    await b.create("/cfg", b"go")
    calls = []

    def on_data(data, stat, event):
        calls.append((data, event and event.type))
        return data != b"stop"

    watch = AsyncDataWatch(a, "/cfg", on_data)
    await watch.started()
    await b.set("/cfg", b"stop")
    await until(lambda: watch.stopped)
    await b.set("/cfg", b"after")
    await a.exists("/")  # any event for the watch would have been delivered by now
    assert calls == [(b"go", None), (b"stop", EventType.CHANGED)]


async def test_children_watch_follows_children_and_survives_a_new_session(server) -> None:
    a, b = await started(server, 2)
    await b.ensure_path("/w")
    seen: list[list[str]] = []
    watch = AsyncChildrenWatch(a, "/w", seen.append)
    await watch.started()
    await b.create("/w/x")
    await until(lambda: seen[-1] == ["x"])
    a.expire()
    await a.start()  # a new session: the watch is set again
    await until(lambda: a.calls["get_children"] >= 3)
    await b.create("/w/y")
    await until(lambda: seen[-1] == ["x", "y"])
    assert seen[0] == []


async def test_children_watch_can_stop_on_a_lost_session(server) -> None:
    (a,) = await started(server, 1)
    await a.ensure_path("/w")
    watch = AsyncChildrenWatch(a, "/w", lambda kids, ev: None, allow_session_lost=False)
    await watch.started()
    a.expire()
    await until(lambda: watch.stopped)


def test_sync_data_watch_decorator_returns_after_the_first_call(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        client.create("/cfg", b"v1")
        threads = []
        seen = []
        changed = threading.Event()

        @DataWatch(client, "/cfg")
        def on_data(data, stat):
            threads.append(threading.current_thread())
            seen.append(data)
            if len(seen) > 1:
                changed.set()
            client.exists("/")  # a callback may call the client

        assert seen == [b"v1"]  # called before the decorator returned
        client.set("/cfg", b"v2")
        assert changed.wait(5)
        assert seen == [b"v1", b"v2"] and threads[0] is not threading.current_thread()
    finally:
        client.close()


# ---- TreeCache ----------------------------------------------------------------------------------


async def test_tree_cache_loads_then_follows_every_change(server) -> None:
    a, b = await started(server, 2)
    await b.create("/app/web/port", b"80", makepath=True)
    cache = AsyncTreeCache(a, "/app")
    events = []
    cache.add_listener(events.append)
    await cache.start()
    assert cache.get_children("/app") == ["web"] and cache.get_data("/app/web/port").data == b"80"
    assert [e.type for e in events][-1] is T.INITIALIZED
    events.clear()

    await b.set("/app/web/port", b"81")
    await a.exists("/")  # b's events reached a's watch ...
    await cache.synced()  # ... and the cache applied them
    assert cache.get_data("/app/web/port").data == b"81"
    await b.create("/app/db/host/name", b"pg", makepath=True)
    await b.delete("/app/web", recursive=True)
    await a.exists("/")
    await cache.synced()
    assert cache.paths() == ["/app", "/app/db", "/app/db/host", "/app/db/host/name"]
    assert cache.get_data("/app/web") is None and cache.get_children("/app") == ["db"]
    kinds = [(e.type, e.node.path) for e in events]
    assert (T.NODE_UPDATED, "/app/web/port") in kinds
    assert (T.NODE_ADDED, "/app/db/host/name") in kinds
    assert (T.NODE_REMOVED, "/app/web/port") in kinds and (T.NODE_REMOVED, "/app/web") in kinds
    await cache.close()
    await b.create("/app/late")
    await a.exists("/")
    assert cache.get_data("/app/late") is None


async def test_tree_cache_reloads_after_reconnect_and_new_session(server) -> None:
    a, b = await started(server, 2)
    await b.ensure_path("/app")
    cache = AsyncTreeCache(a, "/app")
    events = []
    cache.add_listener(events.append)
    await cache.start()
    a.suspend()
    await b.create("/app/while-away", b"1")
    a.resume()
    await until(lambda: cache.get_data("/app/while-away") is not None)
    a.expire()
    await b.create("/app/while-lost", b"2")
    await a.start()
    await until(lambda: cache.get_data("/app/while-lost") is not None)
    await b.create("/app/after", b"3")
    await until(lambda: cache.get_data("/app/after") is not None)  # the watch is set again
    types = [e.type for e in events]
    for kind in (T.CONNECTION_SUSPENDED, T.CONNECTION_RECONNECTED, T.CONNECTION_LOST):
        assert kind in types
    await cache.close()


def test_sync_tree_cache(server) -> None:
    client = FakeSyncClient(server)
    client.start()
    try:
        client.create("/t/a", b"x", makepath=True)
        cache = TreeCache(client, "/t")
        cache.start()
        assert cache.get_children("/t") == ["a"] and cache.get_data("/t/a").data == b"x"
        client.create("/t/b")
        cache.synced()
        assert cache.get_children("/t") == ["a", "b"]
        cache.close()
    finally:
        client.close()


# ---- ServiceRegistry ----------------------------------------------------------------------------


async def test_registry_discovers_and_loses_instances_with_their_sessions(server) -> None:
    a, b, c = await started(server, 3)
    reg_a, reg_b = AsyncServiceRegistry(a), AsyncServiceRegistry(b)
    watcher = AsyncServiceRegistry(c)
    heard = []
    watcher.add_listener(lambda service, instances: heard.append(sorted(instances)))
    assert await watcher.instances("api") == {}
    await reg_a.register("api", "api-1", b"10.0.0.1:80")
    await reg_b.register("api", "api-2", b"10.0.0.2:80")
    await until(lambda: heard and heard[-1] == ["api-1", "api-2"])
    assert await watcher.instances("api") == {"api-1": b"10.0.0.1:80", "api-2": b"10.0.0.2:80"}
    b.expire()  # api-2 dies with its session
    await until(lambda: heard[-1] == ["api-1"])
    assert await watcher.instances("api") == {"api-1": b"10.0.0.1:80"}
    assert await reg_a.unregister("api", "api-1")
    await until(lambda: heard[-1] == [])
    await watcher.close()


async def test_registry_registers_again_on_a_new_session(server) -> None:
    a, c = await started(server, 2)
    reg = AsyncServiceRegistry(a)
    await reg.register("api", "api-1", b"x")
    watcher = AsyncServiceRegistry(c)
    assert await watcher.instances("api") == {"api-1": b"x"}
    a.expire()
    await until(lambda: "/services/api/api-1" not in server.nodes)
    await a.start()
    await until(lambda: "/services/api/api-1" in server.nodes)
    assert server.nodes["/services/api/api-1"].ephemeral_owner == a.session_id
    await until(lambda: watcher._caches["api"].get_data("/services/api/api-1") is not None)
    await reg.close()
    await watcher.close()
