"""Runner: the one asyncio task that owns the pure Pipeline and carries out its actions.

Servicers never touch the pipeline's state machine directly: they put inputs
in the runner's inbox and read what the runner puts in their per-connection
queues. Each input is stepped and its actions executed without an await in
between, so every servicer sees the pipeline either before or after a step,
never half-way, and action order (a watch event before its reply) holds on
every stream.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from coordsvc.errors import CoordError, SessionMovedError
from coordsvc.errors import StorageFullError as StorageFull
from coordsvc.request import events as ev
from coordsvc.request.ops import Op
from coordsvc.server import codec
from coordsvc.server.conns import StreamConn, WatchSub, ended_message
from coordsvc.server.metrics import NoMetrics
from coordsvc.server.snapshots import Snapshotter, txn_weight
from coordsvc.storage.base import Storage, StorageFullError
from coordsvc.storage.writer import StorageWriter
from coordsvc.v1 import coordination_pb2 as pb

__all__ = ["Runner", "UnaryOutcome", "BACKLOG_LIMIT"]

log = structlog.get_logger("coordsvc.runner")

BURST = 256  # inputs handled back to back before the loop yields
BACKLOG_LIMIT = 10_000  # watch events kept for a session while it has no connection

UnaryOutcome = tuple[Any, CoordError | None, int]  # (result, error, zxid)


class Runner:
    """Drives a Pipeline from an inbox; routes replies, events and session ends."""

    def __init__(
        self,
        pipeline: Any,
        storage: Storage,
        *,
        server_id: int,
        tick_ms: int,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        snapshot_every: int = 0,
        metrics: NoMetrics | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = metrics if metrics is not None else NoMetrics()
        self._storage = storage
        self.server_id = server_id
        self._tick_ms = tick_ms
        self._clock_ms = clock_ms
        self._inbox: asyncio.Queue[ev.Input | Callable[[], None]] = asyncio.Queue()
        self._next_conn_id = 0
        self._streams: dict[int, StreamConn] = {}
        self._unary: dict[int, asyncio.Future[UnaryOutcome]] = {}
        self._session_conn: dict[int, StreamConn] = {}
        self._backlog: dict[int, deque[ev.WatchEventValue]] = {}
        self._subs: set[WatchSub] = set()
        self._tasks: list[asyncio.Task] = []
        self._writer: StorageWriter | None = None
        self.started = False
        self.failed: asyncio.Event = asyncio.Event()
        self.failure: BaseException | None = None
        self.snapshots = Snapshotter(
            pipeline.tree.image, getattr(storage, "save_snapshot", None), every_txns=snapshot_every
        )

    # ---- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Start the storage writer, the step loop and the tick timer."""
        loop = asyncio.get_running_loop()

        def on_durable(zxid: int) -> None:
            _call_threadsafe(loop, self._inbox.put_nowait, ev.Persisted(zxid))

        def on_error(exc: BaseException) -> None:
            _call_threadsafe(loop, self._fail, exc)

        def on_full(exc: StorageFullError) -> None:
            _call_threadsafe(loop, self._inbox.put_nowait, lambda: self._storage_full(exc))

        self._writer = StorageWriter(
            self._storage,
            on_durable,
            on_error,
            on_full=on_full,
            on_append=self.metrics.storage_appended,
        )
        self._writer.start()
        self._tasks = [
            asyncio.create_task(self._loop(), name="coordsvc-runner"),
            asyncio.create_task(self._ticks(), name="coordsvc-ticks"),
        ]
        self.started = True

    def drop_session_streams(self, error: CoordError) -> None:
        """End every session stream with ``error``; the sessions live on (their clients
        reconnect elsewhere and resume them)."""
        conns = [c for c in self._streams.values() if c.session_id and not c.closed]
        if conns:
            log.info("session_streams_dropped", count=len(conns), reason=error.message)
        for conn in conns:
            conn.send(ended_message(error))
            conn.finish()

    def close_streams(self) -> None:
        """Finish every session and watch stream (first step of a graceful stop)."""
        for conn in list(self._streams.values()):
            conn.ended = True
            conn.finish()
        for sub in list(self._subs):
            sub.close()

    async def stop(self) -> None:
        """Stop stepping, flush queued txns to storage and stop the writer."""
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.snapshots.wait()
        for fut in self._unary.values():
            if not fut.done():
                fut.cancel()
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        self.started = False

    @property
    def storage_appends(self) -> int:
        return self._writer.appends if self._writer else 0

    def _storage_full(self, exc: StorageFullError) -> None:
        """Abandon what was not written, answer it with STORAGE_FULL, accept writes again."""
        log.error("storage_full", error=str(exc), zxid=self.pipeline.last_applied_zxid)
        self._step(ev.PersistFailed(StorageFull(str(exc))))
        assert self._writer is not None
        self._writer.resume()

    async def snapshot(self) -> int:
        """Take a snapshot now (or join the one running); returns its zxid."""
        return await self.snapshots.start()

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
            log.error("runner_failed", error=repr(exc))
        self.failed.set()

    # ---- the step loop --------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            item = await self._inbox.get()
            self._burst(True)
            try:
                for _ in range(BURST):  # what is already queued is handled together
                    if callable(item):
                        item()
                    else:
                        self._step(item)
                    if self._inbox.empty():
                        break
                    item = self._inbox.get_nowait()
                self._burst(False)
                if self.snapshots.due():
                    self.snapshots.start()
            except Exception as exc:  # a broken core must stop the node, not limp on
                log.exception("step_failed", input=repr(item)[:200])
                self._fail(exc)
                return

    def _burst(self, starting: bool) -> None:
        """Inputs handled back to back; an ensemble member acts on them once, at the end."""

    async def _ticks(self) -> None:
        # Ticks land on multiples of tick_ms, where session expiry buckets end,
        # so a silent session expires within its timeout plus one tick.
        tick = self._tick_ms
        while True:
            now = self._clock_ms()
            await asyncio.sleep(((now // tick + 1) * tick - now) / 1000.0)
            self.submit(ev.Tick(self._clock_ms()))

    def submit(self, item: ev.Input | Callable[[], None]) -> None:
        """Queue a pipeline input (or a runner-local callback) for the step loop."""
        self.metrics.submitted(item)
        self._inbox.put_nowait(item)

    def _step(self, inp: ev.Input) -> None:
        self.metrics.stepping(inp)
        for action in self.pipeline.step(inp):
            self._execute(action)

    def _execute(self, a: ev.Action) -> None:
        if isinstance(a, ev.Persist):
            assert self._writer is not None
            self._writer.submit(a.txns)
            self.snapshots.note(sum(txn_weight(t) for t in a.txns))
            self.metrics.proposed(a.txns)
        elif isinstance(a, ev.Reply):
            self._on_reply(a)
        elif isinstance(a, ev.Notify):
            self._on_notify(a)
        elif isinstance(a, ev.Connected):
            self._on_connected(a)
        elif isinstance(a, ev.ConnectFailed):
            conn = self._streams.get(a.conn_id)
            log.info("connect_failed", conn_id=a.conn_id, error=a.error.code)
            if conn is not None:
                conn.ended = True
                conn.send(ended_message(a.error))
                conn.finish()
        elif isinstance(a, ev.EndSession):
            self._on_end_session(a)
        elif isinstance(a, ev.Published):
            for sub in list(self._subs):
                sub.publish(a.zxid, a.events)
        else:
            raise TypeError(f"unknown action {a!r}")

    def _on_reply(self, a: ev.Reply) -> None:
        self.metrics.replied(a)
        fut = self._unary.pop(a.conn_id, None)
        if fut is not None:
            if not fut.done():
                fut.set_result((a.result, a.error, a.zxid))
            return
        conn = self._streams.get(a.conn_id)
        if conn is not None:
            conn.reply(a.xid, a.zxid, a.result, a.error)

    def _on_notify(self, a: ev.Notify) -> None:
        conn = self._session_conn.get(a.session_id)
        if conn is not None and not conn.closed:
            conn.send(pb.ServerMessage(event=codec.event_to_pb(a.event)))
            return
        backlog = self._backlog.setdefault(a.session_id, deque())
        if len(backlog) >= BACKLOG_LIMIT:
            log.warning("watch_backlog_dropped", session_id=hex(a.session_id), dropped=len(backlog))
            backlog.clear()
        backlog.append(a.event)

    def _on_connected(self, a: ev.Connected) -> None:
        conn = self._streams.get(a.conn_id)
        if conn is None or conn.closed:
            # the client left before its session was ready: let the session time out
            self.submit(ev.Disconnected(a.conn_id, a.session_id))
            return
        old = self._session_conn.get(a.session_id)
        if old is not None and old is not conn:
            old.superseded = True
            old.send(ended_message(SessionMovedError("session moved to another connection")))
            old.finish()
        conn.session_id = a.session_id
        self._session_conn[a.session_id] = conn
        conn.send(
            pb.ServerMessage(
                connected=pb.ConnectResponse(
                    session_id=a.session_id,
                    password=a.password,
                    timeout_ms=a.timeout_ms,
                    server_id=self.server_id,
                    zxid=a.zxid,
                    last_xid=a.last_xid,
                )
            )
        )
        for event in self._backlog.pop(a.session_id, ()):
            conn.send(pb.ServerMessage(event=codec.event_to_pb(event)))
        conn.ready.set()
        log.info("session_connected", session_id=hex(a.session_id), zxid=a.zxid, conn_id=a.conn_id)

    def _on_end_session(self, a: ev.EndSession) -> None:
        self._backlog.pop(a.session_id, None)
        self.metrics.session_ended(a.session_id)
        conn = self._session_conn.pop(a.session_id, None)
        log.info(
            "session_ended",
            session_id=hex(a.session_id),
            reason=a.error.code if a.error else "closed",
            zxid=self.pipeline.last_applied_zxid,
        )
        if conn is None:
            return
        conn.ended = True
        if a.error is not None:
            conn.send(ended_message(a.error))
        conn.finish()

    # ---- API for servicers ----------------------------------------------------

    def _new_conn_id(self) -> int:
        self._next_conn_id += 1
        return self._next_conn_id

    def open_stream(self) -> StreamConn:
        """A new session-stream connection with its own outbound queue."""
        conn = StreamConn(self._new_conn_id())
        self._streams[conn.conn_id] = conn
        return conn

    def connect(self, conn: StreamConn, req: pb.ConnectRequest) -> None:
        self.submit(
            ev.Connect(conn.conn_id, req.session_id, req.password, req.timeout_ms, req.last_zxid)
        )

    def request(self, conn: StreamConn, xid: int, field: str, op: Op) -> None:
        """Send a decoded request of an established session to the pipeline."""
        conn.expect(xid, field)
        self.submit(ev.ClientRequest(conn.conn_id, conn.session_id, xid, op))

    def ping(self, conn: StreamConn, seq: int) -> None:
        """Touch the session and answer with a Pong, in order with the stream's replies."""

        def run() -> None:
            self._step(ev.Ping(conn.conn_id, conn.session_id))
            pong = pb.Pong(seq=seq, zxid=self.pipeline.last_applied_zxid)
            conn.send(pb.ServerMessage(pong=pong))

        self.submit(run)

    def close_stream(self, conn: StreamConn) -> None:
        """The RPC is over: forget the connection and tell the pipeline if it owned a session."""
        conn.finish()
        self._streams.pop(conn.conn_id, None)
        self.metrics.conn_closed(conn.conn_id)
        sid = conn.session_id
        if sid and self._session_conn.get(sid) is conn:
            del self._session_conn[sid]
        if sid and not conn.ended and not conn.superseded:
            self.submit(ev.Disconnected(conn.conn_id, sid))

    async def call(self, op: Op, session_id: int = 0) -> UnaryOutcome:
        """Run one session-less (or metadata-session) request: ``(result, error, zxid)``."""
        conn_id = self._new_conn_id()
        fut: asyncio.Future[UnaryOutcome] = asyncio.get_running_loop().create_future()
        self._unary[conn_id] = fut
        try:
            self.submit(ev.ClientRequest(conn_id, session_id, 1, op))
            return await fut
        finally:
            self._unary.pop(conn_id, None)

    def check_session(self, session_id: int, password: bytes) -> bool:
        """True when ``session_id`` is live and ``password`` is its password."""
        return self.pipeline.check_session(session_id, password)

    def connected_here(self, session_id: int) -> bool:
        return session_id in self._session_conn

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def subscribe(
        self, path: str, recursive: bool, start_zxid: int
    ) -> tuple[WatchSub, list[pb.WatchResponse]]:
        """Register a Watch stream; return it with the replayed history after ``start_zxid``.

        Runs without an await, so no committed event falls between the replay
        and the live feed. Raises CompactedError when the history is gone.
        """
        history = self.pipeline.history_since(start_zxid) if start_zxid > 0 else []
        sub = WatchSub(path, recursive)
        replay = [r for zxid, evs in history if (r := sub.response(zxid, evs)) is not None]
        sub.sent_zxid = max(start_zxid, self.pipeline.last_applied_zxid)
        self._subs.add(sub)
        return sub, replay

    def unsubscribe(self, sub: WatchSub) -> None:
        self._subs.discard(sub)


def _call_threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # loop already closed during shutdown
        pass
