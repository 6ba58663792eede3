"""The blocking Client: same API as AsyncClient, driven from plain threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from coordsvc.client import Client, KazooState, Stat, WatchedEvent
from coordsvc.client.errors import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
)


@pytest.fixture
def client(server):
    c = Client(server.address, session_timeout=4.0)
    c.start()
    yield c
    c.close()


def test_ops_and_errors_from_a_plain_thread(client: Client) -> None:
    assert client.connected and client.state is KazooState.CONNECTED
    assert client.create("/a", b"1") == "/a"
    data, stat = client.get("/a")
    assert data == b"1" and isinstance(stat, Stat)
    assert client.set("/a", b"2", version=0).version == 1
    with pytest.raises(BadVersionError):
        client.set("/a", b"3", version=0)
    with pytest.raises(NodeExistsError):
        client.create("/a")
    with pytest.raises(NoNodeError):
        client.get("/nope")
    client.ensure_path("/b/c")
    assert client.get_children("/") == ["a", "b"]
    assert client.get_children("/b", include_data=True)[1].num_children == 1
    assert client.sync("/") == "/"
    client.delete("/b", recursive=True)
    assert client.exists("/b") is None
    session_id, password = client.client_id
    assert session_id > 0 and len(password) == 16
    assert client.last_zxid > 0
    assert client.server_id == 1  # the standalone server's default --id


def test_concurrent_callers_from_many_threads(client: Client) -> None:
    client.create("/many")
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda i: client.create("/many/x-", sequence=True), range(40)))
    assert len(set(names)) == 40
    assert client.get_children("/many") == sorted(n.rsplit("/", 1)[1] for n in names)


def test_transaction(client: Client) -> None:
    client.create("/t", b"0")
    txn = client.transaction()
    txn.create("/t/a")
    txn.set_data("/t", b"1", version=0)
    assert [type(r) for r in txn.commit()] == [str, Stat]
    bad = client.transaction()
    bad.create("/t/b")
    bad.delete("/t/missing")
    results = bad.commit()
    assert isinstance(results[0], RolledBackError) and isinstance(results[1], NoNodeError)
    assert client.exists("/t/b") is None


def test_retry_runs_a_blocking_function_under_the_policy(client: Client) -> None:
    calls: list[int] = []

    def flaky() -> bytes:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionLoss("simulated")
        return client.get("/")[0]

    assert client.retry(flaky) == b""
    assert len(calls) == 3


def test_watches_and_watch_stream(client: Client, server) -> None:
    seen: list[WatchedEvent] = []
    fired = threading.Event()

    def on_change(event: WatchedEvent) -> None:
        seen.append(event)
        fired.set()

    client.create("/w", b"0")
    client.exists("/w", watch=on_change)
    stream = client.watch_stream("/w", recursive=False)
    with Client(server.address) as other:
        other.set("/w", b"1")
    assert fired.wait(10)
    assert [(e.type, e.path) for e in seen] == [("CHANGED", "/w")]
    event = stream.next(timeout=10)
    assert (event.type, event.path) == ("CHANGED", "/w")
    assert stream.zxid == event.zxid
    with pytest.raises(TimeoutError):
        stream.next(timeout=0.2)
    stream.close()


def test_listener_states_and_restart(server) -> None:
    states: list[KazooState] = []
    before = set(threading.enumerate())  # other tests' clients may still be alive
    c = Client(server.address, session_timeout=4.0)
    c.add_listener(states.append)
    c.start()
    first = c.client_id
    c.stop()
    with pytest.raises(ConnectionClosedError):
        c.exists("/")
    c.start()
    assert c.client_id[0] != first[0]
    c.close()
    c.close()  # idempotent
    assert states == [KazooState.CONNECTED, KazooState.LOST, KazooState.CONNECTED, KazooState.LOST]
    with pytest.raises(RuntimeError, match="closed"):
        c.exists("/")
    assert set(threading.enumerate()) <= before  # the loop and callback threads ended


def test_an_unclosed_client_does_not_keep_its_threads(server) -> None:
    import gc

    before = set(threading.enumerate())
    c = Client(server.address, session_timeout=4.0)
    c.start()
    c.stop()  # stopped but never closed, then dropped
    loop_thread = next(t for t in set(threading.enumerate()) - before if "loop" in t.name)
    del c
    gc.collect()
    loop_thread.join(10)
    assert not loop_thread.is_alive()
