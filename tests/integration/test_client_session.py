"""The SDK's session life against a real server: loss, resume, expiry, retry.

Network faults come from ``Proxy``, a TCP forwarder the test owns between
the client and the server: ``cut()`` resets every connection (the client
reconnects through the proxy to the same server), ``pause()`` stops moving
bytes without closing anything (a hung server or a partition), ``resume()``
undoes it. Waits are on events or polled with deadlines; never plain sleeps.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from coordsvc.client import AsyncClient, KazooState, SessionState, WatchedEvent
from coordsvc.client.errors import (
    ConnectionClosedError,
    OperationTimeoutError,
    SessionExpiredError,
)
from rawsession import RawSession

from coordsvc.v1 import coordination_pb2 as pb

K = KazooState


class Proxy:
    """A TCP forwarder to ``target`` that can cut or freeze its connections."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._replies = asyncio.Event()  # server -> client bytes flow while set
        self._replies.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.address = ""

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Reset every open connection (new ones are still accepted)."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def pause(self) -> None:
        """Stop forwarding bytes in both directions; connections stay open."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def hold_replies(self) -> None:
        """Keep forwarding requests but hold back what the server sends (until cut)."""
        self._replies.clear()

    def release_replies(self) -> None:
        self._replies.set()

    def retarget(self, target: str) -> None:
        """Send new connections to ``target`` (open ones are left alone)."""
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for src, dst, gate in ((reader, up_writer, None), (up_reader, writer, self._replies)):
            task = asyncio.get_running_loop().create_task(self._pump(src, dst, gate))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, gate: asyncio.Event | None
    ) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await src.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if gate is not None:
                    await gate.wait()
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(dst)
            dst.transport.abort()


@pytest.fixture
async def proxy(server) -> AsyncIterator[Proxy]:
    p = await Proxy(server.address).start()
    yield p
    await p.close()


class StateLog:
    """Records listener calls and lets a test wait for a given state."""

    def __init__(self) -> None:
        self.states: list[KazooState] = []
        self._changed = asyncio.Event()

    def __call__(self, state: KazooState) -> None:
        self.states.append(state)
        self._changed.set()

    async def wait_for(self, state: KazooState, count: int = 1, timeout: float = 15.0) -> None:
        async def until() -> None:
            while self.states.count(state) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> float:
    """Poll ``check`` until true; return the seconds it took. Fails after ``timeout``."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, "condition never became true"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait
    return time.monotonic() - start


def dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class KeepOrder(random.Random):
    """An rng whose shuffle keeps the host order, to put a dead host first."""

    def shuffle(self, x: list) -> None:  # type: ignore[override]
        pass


# ---- ephemerals and the end of a session ------------------------------------


async def test_stop_removes_ephemerals_at_once(server) -> None:
    watcher = AsyncClient(server.address, session_timeout=4.0)
    await watcher.start()
    owner = AsyncClient(server.address, session_timeout=4.0)
    await owner.start()
    await owner.create("/eph", b"", ephemeral=True)
    deleted = asyncio.Event()
    assert await watcher.exists("/eph", watch=lambda e: deleted.set()) is not None
    await owner.stop()
    assert await watcher.exists("/eph") is None  # no waiting for an expiry
    assert deleted.is_set()
    assert owner.state is K.LOST
    with pytest.raises(ConnectionClosedError) as info:
        await owner.get("/")
    assert not isinstance(info.value, SessionExpiredError)
    await watcher.stop()


async def test_ephemeral_vanishes_when_an_abandoned_session_expires(server) -> None:
    async with AsyncClient(server.address, session_timeout=4.0) as watcher:
        raw = RawSession(server.address)
        answer = await raw.connect(timeout_ms=400)
        timeout = answer.timeout_ms / 1000
        resp = await raw.call_op(create=pb.CreateRequest(path="/gone", ephemeral=True))
        assert not resp.HasField("error")
        events: list[WatchedEvent] = []
        fired = asyncio.Event()

        def on_delete(event: WatchedEvent) -> None:
            events.append(event)
            fired.set()

        assert await watcher.exists("/gone", watch=on_delete) is not None
        await raw.close()  # no close_session, no more pings
        dropped = time.monotonic()
        await asyncio.wait_for(fired.wait(), 10)
        took = time.monotonic() - dropped
        assert [e.type for e in events] == ["DELETED"]
        tick = 0.2
        assert took <= timeout + tick + 0.3, f"expired after {took:.2f}s"  # 0.3: CI slack
        assert await watcher.exists("/gone") is None


async def test_resume_with_id_and_password_keeps_ephemerals(server) -> None:
    raw = RawSession(server.address)
    answer = await raw.connect(timeout_ms=1000)
    await raw.call_op(create=pb.CreateRequest(path="/mine", ephemeral=True))
    await raw.close()

    client = AsyncClient(
        server.address, session_timeout=1.0, client_id=(answer.session_id, answer.password)
    )
    await client.start()
    assert client.client_id == (answer.session_id, answer.password)
    stat = await client.exists("/mine")
    assert stat is not None and stat.ephemeral_owner == answer.session_id
    # outlive the original timeout several times over: the client's pings keep it
    until = time.monotonic() + 3 * answer.timeout_ms / 1000
    while time.monotonic() < until:
        assert await client.exists("/mine") is not None
        await asyncio.sleep(0.1)  # poll interval of a deadline-bounded observation
    await client.stop()
    async with AsyncClient(server.address) as check:
        assert await check.exists("/mine") is None


async def test_resuming_an_expired_session_fails_with_session_expired(server) -> None:
    owner = AsyncClient(server.address, session_timeout=4.0)
    await owner.start()
    client_id = owner.client_id
    await owner.stop()
    late = AsyncClient(server.address, client_id=client_id)
    with pytest.raises(SessionExpiredError):
        await late.start()
    assert late.state is K.LOST
    with pytest.raises(SessionExpiredError):
        await late.exists("/")


async def test_start_again_after_stop_opens_a_new_session(server) -> None:
    client = AsyncClient(server.address, session_timeout=4.0)
    await client.start()
    first = client.client_id
    await client.stop()
    assert client.session_state is SessionState.CLOSED
    await client.start()
    assert client.client_id is not None and client.client_id[0] != first[0]
    assert await client.exists("/") is not None
    await client.stop()


# ---- connection loss and reconnects ------------------------------------------


async def test_cut_connection_suspends_then_resumes_the_same_session(server, proxy: Proxy) -> None:
    log = StateLog()
    client = AsyncClient(proxy.address, session_timeout=4.0)
    client.add_listener(log)
    await client.start()
    session = client.client_id
    await client.create("/keep", ephemeral=True)
    changed: list[WatchedEvent] = []
    persistent: list[WatchedEvent] = []
    await client.create("/data", b"0")
    await client.get("/data", watch=changed.append)
    await client.add_watch("/data", persistent.append)

    proxy.cut()
    await log.wait_for(K.SUSPENDED)
    async with AsyncClient(server.address) as other:
        await other.set("/data", b"1")  # while the client is away
    await log.wait_for(K.CONNECTED, count=2)

    assert log.states == [K.CONNECTED, K.SUSPENDED, K.CONNECTED]
    assert client.client_id == session
    assert await client.exists("/keep") is not None
    await client.sync("/")
    assert [e.type for e in changed] == ["CHANGED"]  # buffered by the server, then delivered
    assert [e.type for e in persistent] == ["CHANGED"]
    await client.set("/data", b"2")
    assert [e.type for e in persistent] == ["CHANGED", "CHANGED"]  # still registered
    await client.stop()
    assert log.states[-1] is K.LOST


async def test_watches_are_rearmed_on_a_restarted_server(server_factory) -> None:
    """A server restarted from its log keeps sessions but not watches: the SDK re-arms
    them on resume and delivers what changed while it was away."""
    server = server_factory(tick_ms=200, max_session_timeout_ms=20_000)
    proxy = await Proxy(server.address).start()
    log = StateLog()
    client = AsyncClient(proxy.address, session_timeout=10.0)
    client.add_listener(log)
    try:
        await client.start()
        session = client.client_id
        for path in ("/d", "/c", "/same", "/p"):
            await client.create(path)
        seen: list[tuple[str, str]] = []

        def record(event: WatchedEvent) -> None:
            seen.append((event.type.value, event.path))

        await client.get("/d", watch=record)
        await client.exists("/new", watch=record)
        await client.get_children("/c", watch=record)
        await client.get("/same", watch=record)
        await client.add_watch("/p", record)

        server.kill()
        await log.wait_for(K.SUSPENDED)
        server = server_factory(
            data_dir=server.data_dir, tick_ms=200, max_session_timeout_ms=20_000
        )
        async with AsyncClient(server.address) as other:  # changes the client cannot see yet
            await other.set("/d", b"changed")
            await other.create("/new")
            await other.create("/c/kid")
        proxy.retarget(server.address)
        await log.wait_for(K.CONNECTED, count=2)
        assert client.client_id == session  # the restarted server kept the session
        await client.sync("/")
        assert sorted(seen) == [("CHANGED", "/d"), ("CHILD", "/c"), ("CREATED", "/new")]

        seen.clear()
        async with AsyncClient(server.address) as other:  # changes after the resume
            await other.set("/same", b"x")
            await other.set("/p", b"y")
        await client.sync("/")
        assert sorted(seen) == [("CHANGED", "/p"), ("CHANGED", "/same")]
    finally:
        await client.stop()
        await proxy.close()


async def test_silent_server_is_detected_and_the_session_survives(server, proxy: Proxy) -> None:
    log = StateLog()
    client = AsyncClient(proxy.address, session_timeout=3.0, connect_timeout=0.5)
    client.add_listener(log)
    await client.start()
    await client.create("/still", ephemeral=True)
    proxy.pause()
    await log.wait_for(K.SUSPENDED)  # nothing heard for 2/3 of the timeout
    assert not client.connected
    proxy.resume()
    await log.wait_for(K.CONNECTED, count=2)
    assert await client.exists("/still") is not None
    await client.stop()


async def test_session_lost_when_no_server_answers_within_the_timeout(server, proxy: Proxy) -> None:
    log = StateLog()
    client = AsyncClient(proxy.address, session_timeout=1.0, connect_timeout=0.3)
    client.add_listener(log)
    await client.start()
    await client.create("/doomed", ephemeral=True)
    async with AsyncClient(server.address, session_timeout=4.0) as watcher:
        deleted = asyncio.Event()
        await watcher.exists("/doomed", watch=lambda e: deleted.set())
        proxy.pause()
        await log.wait_for(K.LOST)
        assert log.states == [K.CONNECTED, K.SUSPENDED, K.LOST]
        assert client.session_state is SessionState.EXPIRED
        with pytest.raises(SessionExpiredError):
            await client.get("/")
        await asyncio.wait_for(deleted.wait(), 10)  # the server expired it too
        assert await watcher.exists("/doomed") is None
    proxy.resume()
    await client.start()  # a fresh session
    assert await client.exists("/doomed") is None
    await client.stop()


async def test_states_iterator(server, proxy: Proxy) -> None:
    client = AsyncClient(proxy.address, session_timeout=4.0)
    seen: list[KazooState] = []
    progressed = asyncio.Event()

    async def collect() -> None:
        async for state in client.states():
            seen.append(state)
            progressed.set()

    task = asyncio.get_running_loop().create_task(collect())
    await asyncio.wait_for(progressed.wait(), 5)
    await client.start()
    proxy.cut()
    await eventually(lambda: _true(seen.count(K.CONNECTED) == 2))
    await client.stop()
    await asyncio.wait_for(task, 5)  # ends when the client is stopped
    assert seen == [K.LOST, K.CONNECTED, K.SUSPENDED, K.CONNECTED, K.LOST]


async def _true(value: bool) -> bool:
    return value


async def test_a_write_whose_reply_was_lost_is_sent_again_and_applied_once(
    server, proxy: Proxy
) -> None:
    client = AsyncClient(proxy.address, session_timeout=3.0, connect_timeout=0.5)
    states = StateLog()
    client.add_listener(states)
    await client.start()
    await client.create("/q", b"")
    observer = AsyncClient(server.address)
    await observer.start()
    try:
        proxy.hold_replies()
        made = asyncio.create_task(client.create("/q/s-", b"", sequence=True))
        deadline = time.monotonic() + 10
        while not await observer.get_children("/q"):  # applied; its reply is held back
            assert time.monotonic() < deadline, "the create never reached the server"
            await asyncio.sleep(0.02)
        proxy.cut()  # the reply is lost with the connection
        proxy.release_replies()
        path = await asyncio.wait_for(made, 10)  # sent again on a new connection, same xid
        assert await observer.get_children("/q") == [path.rsplit("/", 1)[1]]
        assert states.states.count(K.SUSPENDED) == 1  # it really went through a reconnect
    finally:
        await observer.stop()
        await client.stop()


async def test_a_write_in_flight_across_a_partition_completes_after_the_reconnect(
    server, proxy: Proxy
) -> None:
    client = AsyncClient(proxy.address, session_timeout=3.0, connect_timeout=0.5)
    resume_on_suspend = StateLog()
    client.add_listener(resume_on_suspend)
    client.add_listener(lambda s: proxy.resume() if s is K.SUSPENDED else None)
    await client.start()
    await client.create("/w", b"0")

    proxy.pause()
    stat = await client.set("/w", b"1")  # sent again after the reconnect, not lost
    assert stat.version == 1
    assert resume_on_suspend.states.count(K.CONNECTED) == 2
    assert (await client.set("/w", b"2")).version == 2
    await client.stop()


async def test_reads_are_retried_across_a_reconnect(server, proxy: Proxy) -> None:
    client = AsyncClient(proxy.address, session_timeout=3.0, connect_timeout=0.5)
    client.add_listener(lambda s: proxy.resume() if s is K.SUSPENDED else None)
    await client.start()
    await client.create("/r", b"v")
    proxy.pause()
    assert (await client.get("/r"))[0] == b"v"  # lost once, retried after reconnecting
    await client.stop()


async def test_session_expired_is_not_retried(server, proxy: Proxy) -> None:
    client = AsyncClient(proxy.address, session_timeout=1.0, connect_timeout=0.3)
    log = StateLog()
    client.add_listener(log)
    await client.start()
    proxy.pause()
    await log.wait_for(K.LOST)
    calls = 0

    async def read() -> None:
        nonlocal calls
        calls += 1
        await client.get("/")

    with pytest.raises(SessionExpiredError):
        await client.retry(read)
    assert calls == 1


async def test_several_hosts_with_a_dead_one_first(server) -> None:
    client = AsyncClient(f"{dead_address()},{server.address}", session_timeout=4.0, rng=KeepOrder())
    await client.start(timeout=10)
    assert client.connected
    assert await client.create("/via", b"live") == "/via"
    await client.stop()


async def test_start_times_out_when_no_server_answers() -> None:
    client = AsyncClient(f"{dead_address()},{dead_address()}", connect_timeout=0.2)
    with pytest.raises(OperationTimeoutError):
        await client.start(timeout=1.0)
    assert client.session_state is SessionState.CLOSED


# ---- the resumable watch stream ----------------------------------------------


async def test_watch_stream_delivers_and_replays(server) -> None:
    async with AsyncClient(server.address, session_timeout=4.0) as client:
        await client.create("/ws")
        stream = client.watch_stream("/ws", recursive=True)  # opens lazily: from last_zxid
        await client.create("/ws/a", b"1")
        await client.set("/ws/a", b"2")
        await client.delete("/ws/a")
        got = [await asyncio.wait_for(anext(stream), 5) for _ in range(5)]
        await stream.aclose()
        assert [(e.type.value, e.path) for e in got] == [
            ("CREATED", "/ws/a"),
            ("CHILD", "/ws"),
            ("CHANGED", "/ws/a"),
            ("DELETED", "/ws/a"),
            ("CHILD", "/ws"),
        ]
        assert [e.zxid for e in got] == sorted(e.zxid for e in got)
        assert stream.zxid == got[-1].zxid

        replay = client.watch_stream("/ws", recursive=True, start_zxid=got[0].zxid)
        async with replay:
            again = [await asyncio.wait_for(anext(replay), 5) for _ in range(3)]
        assert again == got[2:]  # everything after that zxid, nothing of it

        only_node = client.watch_stream("/ws/a", recursive=False, start_zxid=got[0].zxid - 1)
        async with only_node:
            first = await asyncio.wait_for(anext(only_node), 5)
        assert first == got[0]


async def test_watch_stream_resumes_after_a_cut_without_gaps_or_repeats(
    server, proxy: Proxy
) -> None:
    async with AsyncClient(server.address, session_timeout=4.0) as writer:
        await writer.create("/res")
        reader = AsyncClient(proxy.address)  # the Watch RPC needs no session
        start = (await writer.exists("/res")).mzxid
        stream = reader.watch_stream("/res", recursive=False, start_zxid=start)
        await writer.set("/res", b"0")
        first = await asyncio.wait_for(anext(stream), 5)
        proxy.cut()
        for i in range(1, 6):
            await writer.set("/res", str(i).encode())
        got = [await asyncio.wait_for(anext(stream), 10) for _ in range(5)]
        assert [e.type.value for e in got] == ["CHANGED"] * 5
        zxids = [first.zxid] + [e.zxid for e in got]
        assert zxids == sorted(set(zxids))  # strictly increasing: no repeats
        last = (await writer.get("/res"))[1].mzxid
        assert got[-1].zxid == last  # no gaps up to the latest change
        await stream.aclose()
