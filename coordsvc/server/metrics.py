"""Prometheus metrics of one server, and the per-session counters behind Admin.Sessions.

The runner calls the hooks of ``ServerMetrics`` from its one loop; the
storage writer calls ``storage_appended`` from its thread (prometheus_client's
instruments are thread-safe). Gauges that describe state (znodes, sessions,
watches, role, ...) are not updated on every step: ``StateCollector`` reads a
``StateView`` when /metrics is scraped, and the scrape runs on the runner's
event loop (see metrics_http), so it sees the pipeline between two steps.

Every metric is named ``coordsvc_*``; docs/operations.md says what each one
means and what to alert on.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coordsvc.request import events as ev

__all__ = ["ROLES", "StateView", "SessionStats", "NoMetrics", "ServerMetrics", "op_name", "view_of"]

ROLES = ("standalone", "leading", "following", "observing", "looking")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10_000)
INFLIGHT_LIMIT = 200_000  # requests timed at once; past it timing restarts (a leak guard)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_OP_NAMES: dict[type, str] = {}


def op_name(op: object) -> str:
    """``get_data`` for a GetData op: the label value of the ``op`` label."""
    cls = type(op)
    name = _OP_NAMES.get(cls)
    if name is None:
        name = _OP_NAMES[cls] = _CAMEL.sub("_", cls.__name__).lower()
    return name


@dataclass(frozen=True, slots=True)
class StateView:
    """What the server looks like at one instant (read between two runner steps)."""

    role: str
    epoch: int
    last_zxid: int
    znodes: int
    sessions: int
    watches: int
    outstanding: int
    connections: int
    followers_in_sync: int = 0


@dataclass(slots=True)
class SessionStats:
    """Per-session request counters, the numbers ZooKeeper's ``cons`` shows."""

    requests: int = 0
    last_op: str = ""
    last_zxid: int = 0
    last_response_ms: int = 0
    min_latency_s: float = math.inf
    total_latency_s: float = 0.0
    max_latency_s: float = 0.0

    def record(self, op: str, zxid: int, latency_s: float, now_ms: int) -> None:
        self.requests += 1
        self.last_op, self.last_zxid, self.last_response_ms = op, zxid, now_ms
        self.min_latency_s = min(self.min_latency_s, latency_s)
        self.max_latency_s = max(self.max_latency_s, latency_s)
        self.total_latency_s += latency_s


class NoMetrics:
    """The hooks the runner calls, doing nothing (a runner built without metrics)."""

    def submitted(self, item: object) -> None: ...
    def stepping(self, inp: object) -> None: ...
    def proposed(self, txns: tuple[Any, ...]) -> None: ...
    def replied(self, reply: ev.Reply) -> None: ...
    def conn_closed(self, conn_id: int) -> None: ...
    def session_ended(self, session_id: int) -> None: ...
    def storage_appended(self, seconds: float, txns: int) -> None: ...
    def committed(self, zxid: int) -> None: ...
    def election_started(self) -> None: ...

    def session_stats(self, session_id: int) -> SessionStats | None:
        return None

    def outstanding_by_session(self) -> dict[int, int]:
        return {}


class ServerMetrics(NoMetrics):
    """Counters and histograms in a registry of their own, plus per-session stats."""

    def __init__(
        self,
        *,
        server_id: int,
        version: str,
        clock: Callable[[], float] = time.perf_counter,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        disable_created_metrics()  # no *_created series: they only add noise to scrapes
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._wall_ms = wall_ms
        r = self.registry
        self.requests = Counter(
            "coordsvc_requests",
            "Client requests answered, by op and result code",
            ["op", "code"],
            registry=r,
        )
        self.request_latency = Histogram(
            "coordsvc_request_duration_seconds",
            "Time from a request's arrival to its reply, by op",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.proposals = Counter("coordsvc_proposals", "Txns proposed", registry=r)
        self.commit_latency = Histogram(
            "coordsvc_commit_duration_seconds",
            "Time from proposing a batch of txns to their commit",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.fsync_latency = Histogram(
            "coordsvc_fsync_duration_seconds",
            "Time of one durable storage append (write and sync of a batch)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.appends = Counter("coordsvc_storage_appends", "Durable storage appends", registry=r)
        self.txns_per_append = Histogram(
            "coordsvc_storage_txns_per_append",
            "Txns made durable by one storage append (group commit)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.elections = Counter("coordsvc_elections", "Leader elections started", registry=r)
        ProcessCollector(registry=r)  # process_* : CPU, memory, open fds
        GCCollector(registry=r)  # python_gc_*
        self.state = StateCollector(server_id, version)
        r.register(self.state)
        self._inflight: dict[int, dict[int, tuple[str, int, float]]] = {}
        self._inflight_count = 0
        self._proposed: deque[tuple[int, float]] = deque()
        self._sessions: dict[int, SessionStats] = {}
        self._latency_children: dict[str, Any] = {}

    # ---- runner hooks ---------------------------------------------------------

    def submitted(self, item: object) -> None:
        """A request entered the inbox: start its clock."""
        if isinstance(item, ev.ClientRequest):
            if self._inflight_count >= INFLIGHT_LIMIT:
                self._inflight.clear()
                self._inflight_count = 0
            per_conn = self._inflight.setdefault(item.conn_id, {})
            if item.xid not in per_conn:
                self._inflight_count += 1
            per_conn[item.xid] = (op_name(item.op), item.session_id, self._clock())

    def stepping(self, inp: object) -> None:
        """Before the pipeline steps ``inp``: a Persisted commits what it covers."""
        if isinstance(inp, ev.Persisted):
            self.committed(inp.zxid)
        elif isinstance(inp, ev.PersistFailed):
            self._proposed.clear()  # abandoned: never committed

    def proposed(self, txns: tuple[Any, ...]) -> None:
        if txns:
            self.proposals.inc(len(txns))
            self._proposed.append((txns[-1].zxid, self._clock()))

    def committed(self, zxid: int) -> None:
        """Txns through ``zxid`` are committed (standalone: durable; ensemble: quorum-acked)."""
        now = self._clock()
        while self._proposed and self._proposed[0][0] <= zxid:
            self.commit_latency.observe(now - self._proposed.popleft()[1])

    def election_started(self) -> None:
        """An ensemble member became LOOKING."""
        self.elections.inc()

    def replied(self, reply: ev.Reply) -> None:
        per_conn = self._inflight.get(reply.conn_id)
        started = per_conn.pop(reply.xid, None) if per_conn is not None else None
        if started is None:
            return
        self._inflight_count -= 1
        if not per_conn:
            del self._inflight[reply.conn_id]
        op, session_id, t0 = started
        latency = self._clock() - t0
        code = reply.error.code if reply.error is not None else "OK"
        self.requests.labels(op, code).inc()
        child = self._latency_children.get(op)
        if child is None:
            child = self._latency_children[op] = self.request_latency.labels(op)
        child.observe(latency)
        if session_id:
            stats = self._sessions.get(session_id)
            if stats is None:
                stats = self._sessions[session_id] = SessionStats()
            stats.record(op, reply.zxid, latency, self._wall_ms())

    def conn_closed(self, conn_id: int) -> None:
        self._inflight_count -= len(self._inflight.pop(conn_id, ()))

    def session_ended(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def storage_appended(self, seconds: float, txns: int) -> None:
        """One durable append (called on the storage writer's thread)."""
        self.fsync_latency.observe(seconds)
        self.appends.inc()
        self.txns_per_append.observe(txns)

    # ---- for Admin.Sessions ---------------------------------------------------

    def session_stats(self, session_id: int) -> SessionStats | None:
        return self._sessions.get(session_id)

    def outstanding_by_session(self) -> dict[int, int]:
        """session id -> requests received and not yet answered (one pass over them all)."""
        counts: dict[int, int] = {}
        for per_conn in self._inflight.values():
            for _, sid, _ in per_conn.values():
                counts[sid] = counts.get(sid, 0) + 1
        return counts


class StateCollector(Collector):
    """Gauges read at scrape time from the function given to ``bind``."""

    def __init__(self, server_id: int, version: str) -> None:
        self._server_id = str(server_id)
        self._version = version
        self._view: Callable[[], StateView] | None = None

    def bind(self, view: Callable[[], StateView]) -> None:
        self._view = view

    def describe(self) -> Iterable[Metric]:
        return []  # families are created per scrape; nothing to check up front

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "coordsvc_server_info",
            "Constant 1, labelled with server id and version",
            labels=["server_id", "version"],
        )
        info.add_metric([self._server_id, self._version], 1)
        yield info
        if self._view is None:
            return
        v = self._view()
        role = GaugeMetricFamily(
            "coordsvc_role", "1 for the server's current role, 0 for the others", labels=["role"]
        )
        for name in ROLES:
            role.add_metric([name], 1 if v.role == name else 0)
        yield role
        for name, doc, value in (
            ("epoch", "Current epoch", v.epoch),
            ("last_zxid", "Last applied zxid", v.last_zxid),
            ("znodes", "Znodes in the tree", v.znodes),
            ("sessions", "Live sessions", v.sessions),
            ("watches", "Registered watches (one per session, path and kind)", v.watches),
            ("outstanding_requests", "Requests received and not yet answered", v.outstanding),
            ("connections", "Open session streams on this server", v.connections),
            ("followers_in_sync", "Followers acking the leader (leader only)", v.followers_in_sync),
        ):
            yield GaugeMetricFamily(f"coordsvc_{name}", doc, value=value)


def view_of(runner: Any, role: str = "standalone") -> StateView:
    """The StateView of a Runner (duck-typed: this module must not import the runner).

    An ensemble member's runner has ``role_name()`` (its current ZAB role) and
    ``followers_in_sync()``; a standalone one has neither.
    """
    p = runner.pipeline
    followers = 0
    role_name = getattr(runner, "role_name", None)
    if role_name is not None:
        role, followers = role_name(), runner.followers_in_sync()
    return StateView(
        role=role,
        epoch=p.epoch,
        last_zxid=p.last_applied_zxid,
        znodes=p.tree.node_count,
        sessions=len(p.tree.sessions),
        watches=p.watches.count(),
        outstanding=p.pending_requests,
        connections=runner.open_streams,
        followers_in_sync=followers,
    )
