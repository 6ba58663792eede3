"""What the recipe integration tests share: where to connect, timelines, child processes.

``coord`` is the one fixture every ``tests/integration/test_recipe_*.py``
test connects through: the connection string of a real 3-node ensemble
(all three servers listed, so a client may land on the leader or on a
follower, and moves on when its server goes). Starting an ensemble costs a
few seconds, so each test module shares one (``cluster``, module-scoped,
stopped when the module is done) and each test works under its own root
path, ``base``, since the connection string takes no chroot. Test modules
take the three with ``coord, cluster, base = recipe_env.coord, ...``.
"""

from __future__ import annotations

import itertools
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from ensemble import Ensemble, Node

TICK_S = 0.2  # the servers' --tick-ms, in seconds (ensemble.Node starts them with 200)
ZAB_TICK_S = 0.1  # the servers' --zab-tick-ms: leader heartbeats, learner touches
SERVER_FLAGS = ("--zab-tick-ms", str(round(ZAB_TICK_S * 1000)))  # on top of ensemble.Node's

_tests = itertools.count()


def expiry_bound(session_timeout: float) -> float:
    """How long after a client's last message the ensemble may take to expire its session.

    Only the leader expires sessions, and it counts the timeout from when it
    hears of the session's last message. A client of the leader is heard at
    once; a follower reports the sessions its clients touched in its answer to
    the leader's next heartbeat, up to one replication tick (ZAB_TICK_S)
    later. The leader checks expiry every replication tick, so the deadline
    is rounded up by at most one more: timeout + 2 replication ticks, which is
    the issue's "timeout plus one tick" as TICK_S is twice ZAB_TICK_S here.
    Not counted: committing the CloseSession (a quorum of fsyncs), delivering
    its watch events and what a recipe then does to take over; tests allow
    for those.
    """
    return session_timeout + max(TICK_S, 2 * ZAB_TICK_S)


def start_cluster(root: Path, voters: int = 3) -> Ensemble:
    """A started ensemble with a leader; on any failure, whatever started is stopped."""
    ens = Ensemble(root, voters)
    try:
        nodes = list(ens.nodes.values())
        starting = [threading.Thread(target=n.start, args=SERVER_FLAGS) for n in nodes]
        for t in starting:  # in parallel: each start waits for its server's first line
            t.start()
        for t in starting:
            t.join(60)
        down = [n.id for n in ens.nodes.values() if not n.up]
        assert not down, f"nodes {down} did not start:\n" + "\n".join(
            ens.nodes[i].logs()[-2000:] for i in down
        )
        ens.wait_leader()
    except BaseException:
        stop_cluster(ens)
        raise
    return ens


def restart_node(ens: Ensemble, node: Node) -> None:
    """Start a stopped or killed node again (same data dir), then wait for one leader."""
    node.start(*SERVER_FLAGS)
    ens.wait_leader()


def stop_cluster(ens: Ensemble) -> None:
    """SIGTERM every live node first (they shut down in parallel), then reap each by its pid."""
    for node in ens.nodes.values():
        if node.up:
            node.proc.send_signal(signal.SIGTERM)
    ens.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ensemble]:
    """One 3-node ensemble (--tick-ms 200) for every test of a module."""
    ens = start_cluster(tmp_path_factory.mktemp("recipe-cluster"))
    try:
        yield ens
    finally:
        stop_cluster(ens)


@pytest.fixture
def coord(cluster: Ensemble) -> str:
    """The connection string of the coordination service under test: all three servers."""
    down = [n.id for n in cluster.nodes.values() if not n.up]
    assert not down, f"an earlier test left nodes {down} down"
    cluster.wait_leader()
    return ",".join(cluster.addresses())


@pytest.fixture
def base(request: pytest.FixtureRequest) -> str:
    """This test's own root path on the shared ensemble (no two tests share one)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    return f"/t{next(_tests):03d}-{name}"


@dataclass
class Span:
    who: str
    start: float
    end: float


class Timeline:
    """When each holder entered and left; checks that no two spans overlap.

    ``inside`` also counts holders in real time, so a violation is caught
    the moment it happens, not only when spans are compared afterwards.
    """

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()
        self._open: dict[str, float] = {}

    def enter(self, who: str) -> None:
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self._open[who] = time.monotonic()

    def exit(self, who: str) -> None:
        with self._lock:
            self.inside -= 1
            self.spans.append(Span(who, self._open.pop(who), time.monotonic()))

    @contextmanager
    def span(self, who: str) -> Iterator[None]:
        self.enter(who)
        try:
            yield
        finally:
            self.exit(who)

    def assert_no_overlap(self) -> None:
        assert self.most_inside == 1, f"{self.most_inside} holders at once"
        spans = sorted(self.spans, key=lambda s: s.start)
        for a, b in zip(spans, spans[1:], strict=False):
            assert a.end <= b.start, f"{a} overlaps {b}"


def python_child(code: str, *args: str) -> subprocess.Popen:
    """A separate python process running ``code`` (argv[1:] = args), line-buffered."""
    return subprocess.Popen(
        [sys.executable, "-u", "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def read_line(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """The child's next stdout line; fails after ``timeout`` or if the child exits."""
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line from pid {proc.pid} within {timeout}s: {buf!r}")
            if sel.select(min(left, 0.2)):
                chunk = os.read(proc.stdout.fileno(), 1)
                if not chunk:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise AssertionError(f"pid {proc.pid} ended: {buf!r}\n{err}")
                buf += chunk
    return buf.decode().rstrip("\n")


def sigkill(proc: subprocess.Popen) -> float:
    """SIGKILL ``proc`` (by its pid) and reap it; returns when the kill was sent."""
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    proc.wait(10)
    return killed


def end_children(procs: list[subprocess.Popen]) -> None:
    """Kill whatever the test left running (by pid) and close its pipes."""
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


class CountingClient:
    """A client wrapper that counts calls per op and the watch notifications it delivers.

    Recipes take a Protocol, so a test can hand them this instead of the
    client itself: ``calls["get_children"]`` then counts how often a
    recipe looked, and ``notifications`` how often one of its watches fired.
    """

    _COUNTED = ("create", "exists", "get", "get_children", "set", "delete")

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.calls: dict[str, int] = dict.fromkeys(self._COUNTED, 0)
        self.notifications = 0
        self._wrapped: dict[object, object] = {}

    def __getattr__(self, name: str) -> object:
        target = getattr(self._inner, name)
        if name not in self._COUNTED:
            return target

        async def counted(*args: object, **kwargs: object) -> object:
            self.calls[name] += 1
            if kwargs.get("watch") is not None:
                kwargs["watch"] = self._counting(kwargs["watch"])
            return await target(*args, **kwargs)

        return counted

    def _counting(self, fn: Callable[..., object]) -> object:
        wrapped = self._wrapped.get(fn)
        if wrapped is None:

            async def wrapped(event: object) -> None:
                self.notifications += 1
                result = fn(event)
                if hasattr(result, "__await__"):
                    await result

            self._wrapped[fn] = wrapped
        return wrapped


class Proxies:
    """A TCP proxy in front of every server of ``coord``, driven together.

    ``address`` is the connection string through the proxies, so a test
    that cuts or partitions a client works the same against one server and
    against an ensemble. The proxy is the SDK tests' ``Proxy`` (or a
    subclass, such as HoldReplies).
    """

    def __init__(self, coord: str, kind: type | None = None) -> None:
        from test_client_session import Proxy

        self.proxies = [(kind or Proxy)(a.strip()) for a in coord.split(",")]
        self.address = ""

    async def start(self) -> Proxies:
        for p in self.proxies:
            await p.start()
        self.address = ",".join(p.address for p in self.proxies)
        return self

    def pause(self) -> None:
        """Stop forwarding: the client is partitioned from every server."""
        for p in self.proxies:
            p.pause()

    def resume(self) -> None:
        for p in self.proxies:
            p.resume()

    def cut(self) -> None:
        """Reset every open connection (new ones are still accepted)."""
        for p in self.proxies:
            p.cut()

    def hold_replies(self) -> None:
        """(HoldReplies) let requests through but hold every reply."""
        for p in self.proxies:
            p.replies.clear()

    def release_replies(self) -> None:
        for p in self.proxies:
            p.replies.set()

    async def close(self) -> None:
        for p in self.proxies:
            await p.close()


def hold_replies_proxy() -> type:
    """The SDK tests' Proxy, able to hold server-to-client bytes while requests go through."""
    import asyncio

    from test_client_session import Proxy

    class HoldReplies(Proxy):
        def __init__(self, target: str) -> None:
            super().__init__(target)
            self.replies = asyncio.Event()
            self.replies.set()

        async def _accept(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                writer.transport.abort()
                return
            self._writers.update((writer, up_writer))
            for src, dst, gate in ((reader, up_writer, None), (up_reader, writer, self.replies)):
                task = asyncio.get_running_loop().create_task(self._gated(src, dst, gate))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        async def _gated(self, src, dst, gate) -> None:  # type: ignore[no-untyped-def]
            try:
                while data := await src.read(65536):
                    if gate is not None:
                        await gate.wait()
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                self._writers.discard(dst)
                dst.transport.abort()

    return HoldReplies
