"""The session machine: one session carried over a series of connections.

It owns what must survive a reconnect: session id and password, negotiated
timeout, last zxid, the xid counter, and the requests in flight. One task
runs the loop: connect to a server, serve the stream (a single reader that
matches replies to requests strictly in order and hands watch events on
without running any user code), and on a broken stream move to SUSPENDED and
try the servers again with backoff, with the same id and password, until the
session timeout has passed since the server was last heard: then EXPIRED.

Requests in flight when a connection dies are sent again on the next one,
in order and with their original xids; so is everything from a reply of
CONNECTION_LOSS on (the server lost its ensemble: the client moves on). The
servers answer a write they already applied with its first result, so a
write is applied once even when its reply was lost. Only requests sent with
``send_now`` (the caller re-issues those itself) fail with ConnectionLoss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from coordsvc.client.codec import OpMessage, error_from_pb
from coordsvc.client.connection import Connection
from coordsvc.client.errors import (
    ConnectionClosedError,
    ConnectionLoss,
    CoordError,
    OperationTimeoutError,
    ProtocolError,
    SessionExpiredError,
)
from coordsvc.client.hosts import HostRing
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.states import SessionState, StateTracker

from coordsvc.v1 import coordination_pb2 as pb

__all__ = ["Session", "ReplyHook"]

log = logging.getLogger(__name__)

#: run by the reader on the reply (success or error), before it reads the next message
ReplyHook = Callable[[pb.Response], None]

_EXPIRED = "expired"


@dataclass(slots=True)
class _Pending:
    xid: int
    future: asyncio.Future[tuple[pb.Response, int]]
    on_reply: ReplyHook | None
    message: pb.ClientMessage
    resend: bool  # sent again, same xid, on the next connection if this one dies


class Session:
    """Keeps one coordsvc session alive across connections; see module doc."""

    def __init__(
        self,
        hosts: HostRing,
        states: StateTracker,
        *,
        timeout: float,
        connect_timeout: float,
        on_event: Callable[[pb.WatchEvent], None],
        event_mark: Callable[[], int],
        reconnect: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_resumed: Callable[[int], None] | None = None,
        client_id: tuple[int, bytes] | None = None,
        connection_factory: Callable[[str], Connection] = Connection,
    ) -> None:
        self._hosts = hosts
        self._connection_factory = connection_factory
        self._states = states
        self._requested_timeout = timeout
        self._connect_timeout = connect_timeout
        self._on_event = on_event
        self._event_mark = event_mark
        self._reconnect = reconnect
        self._clock = clock
        self._sleep = sleep
        self._on_resumed = on_resumed
        self.session_id, self.password = client_id or (0, b"")
        self.timeout = timeout  # the negotiated one once connected, in seconds
        self.server_id: int | None = None
        self.last_zxid = 0
        self._xid = 0
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_heard = 0.0
        self._changed = asyncio.Event()
        self._closing = False
        self._last_failure = ""  # "host: why" of the newest failed connect, for errors
        states.observe(lambda _new, _user: self._wake())

    # ---- lifecycle --------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Connect (a new session, or resume the given one) within ``timeout``."""
        state = self._states.state
        if state in (SessionState.CONNECTED, SessionState.SUSPENDED):
            return
        if state is SessionState.CONNECTING:
            raise RuntimeError("start() is already in progress")
        if state is SessionState.EXPIRED:
            self.session_id, self.password = 0, b""
        self._closing = False
        self._xid = 0
        self._last_failure = ""
        self._states.transition(SessionState.CONNECTING)
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            async with asyncio.timeout(timeout):
                await self._until_started()
        except TimeoutError:
            await self.close(0)
            why = f"no server answered within {timeout}s"
            if self._last_failure:
                why += f" (last: {self._last_failure})"
            raise OperationTimeoutError(why) from None
        except SessionExpiredError:
            raise  # the session to resume is gone; stay EXPIRED, as later calls will say
        except BaseException:
            await self.close(0)
            raise

    async def _until_started(self) -> None:
        while True:
            state = self._states.state
            if state is SessionState.CONNECTED:
                return
            if state is SessionState.EXPIRED:
                raise SessionExpiredError("the session to resume has expired")
            await self._changes()

    async def close(self, timeout: float) -> None:
        """End the session on the server (if reachable in ``timeout``) and stop."""
        if self._states.state is SessionState.CONNECTED and timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await self.call(("close_session", pb.CloseSessionRequest()))
            except (CoordError, TimeoutError) as exc:
                log.info("close_session not confirmed (%s); the session will expire", exc)
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
        await self._drop_connection(ConnectionClosedError("the client was stopped"))
        self.session_id, self.password = 0, b""  # a later start() opens a new session
        if self._states.state is not SessionState.CLOSED:
            self._states.transition(SessionState.CLOSED)

    # ---- requests ---------------------------------------------------------

    async def call(
        self, op: OpMessage, on_reply: ReplyHook | None = None
    ) -> tuple[pb.Response, int]:
        """Send one request; return its Response and the event mark at its arrival.

        Waits for a connection first (a request not yet sent is safe to
        delay); a request in flight when its connection dies is sent again
        on the next one with the same xid (see the module doc). Raises
        SessionExpiredError or ConnectionClosedError when the session is gone.
        A Response carrying an error is returned, not raised.
        """
        conn = await self._connected()
        return await self._send(conn, op, on_reply, resend=True)

    def send_now(
        self, op: OpMessage, on_reply: ReplyHook | None = None
    ) -> asyncio.Future[tuple[pb.Response, int]]:
        """Send at once on the live connection (ahead of any waiting call).

        For requests that must precede everything else on a new connection;
        only valid while CONNECTED, e.g. from the on_resumed hook. Not sent
        again on another connection: it fails with ConnectionLoss instead.
        """
        if self._conn is None or self._states.state is not SessionState.CONNECTED:
            raise ConnectionLoss("not connected")
        return self._send(self._conn, op, on_reply, resend=False)

    def _send(
        self, conn: Connection, op: OpMessage, on_reply: ReplyHook | None, *, resend: bool
    ) -> asyncio.Future[tuple[pb.Response, int]]:
        self._xid += 1
        xid = self._xid
        name, msg = op
        future: asyncio.Future[tuple[pb.Response, int]] = asyncio.get_running_loop().create_future()
        message = pb.ClientMessage(request=pb.Request(xid=xid, **{name: msg}))
        self._pending[xid] = _Pending(xid, future, on_reply, message, resend)
        conn.send(message)
        return future

    async def _connected(self) -> Connection:
        while True:
            state = self._states.state
            if state is SessionState.CONNECTED and self._conn is not None:
                return self._conn
            if state is SessionState.EXPIRED:
                raise SessionExpiredError("the session has expired")
            if state is SessionState.CLOSED or self._closing:
                raise ConnectionClosedError("the client is not started")
            await self._changes()

    # ---- the connection loop ----------------------------------------------

    async def _run(self) -> None:
        failures = 0
        pauses = self._reconnect.delays()
        while True:
            host = self._hosts.next()
            if self._expired_locally():
                why = "no server took the session within the session timeout"
                last = self._last_failure
                await self._expire(f"{why} (last: {last})" if last else why)
                return
            try:
                conn, answer = await self._connect(host)
            except SessionExpiredError as exc:
                await self._expire(str(exc))
                return
            except CoordError as exc:
                log.info("connecting to %s failed: %s", host, exc)
                why = exc.message  # most already start with the address
                self._last_failure = why if why.startswith(host) else f"{host}: {why}"
                failures += 1
                if failures % len(self._hosts) == 0:
                    pause = next(pauses, self._reconnect.max_delay)
                    if self._states.state is SessionState.SUSPENDED:  # don't oversleep expiry
                        pause = min(pause, max(self._time_left(), 0.0))
                    await self._sleep(pause)
                continue
            failures = 0
            pauses = self._reconnect.delays()
            self._attach(conn, answer)
            outcome = await self._serve(conn)
            if self._closing:
                return
            if outcome is _EXPIRED:
                await self._expire("the server ended the session")
                return
            log.info("connection to %s lost: %s", host, outcome)
            lost = ConnectionLoss(f"connection to {host} lost: {outcome}")
            await self._drop_connection(lost, keep_resendable=True)
            self._states.transition(SessionState.SUSPENDED)

    async def _connect(self, host: str) -> tuple[Connection, pb.ConnectResponse]:
        conn = self._connection_factory(host)
        timeout = self._connect_timeout
        if self._states.state is SessionState.SUSPENDED:
            timeout = max(min(timeout, self._time_left()), 0.001)
        request = pb.ConnectRequest(
            session_id=self.session_id,
            password=self.password,
            timeout_ms=int(self._requested_timeout * 1000),
            last_zxid=self.last_zxid,
        )
        answer = await conn.open(request, timeout)
        if self.session_id and answer.session_id != self.session_id:
            await conn.close()
            raise ProtocolError(f"{host} answered for session {answer.session_id:#x}")
        return conn, answer

    def _attach(self, conn: Connection, answer: pb.ConnectResponse) -> None:
        resumed = self.session_id == answer.session_id
        seen_zxid = self.last_zxid  # before anything this connection delivers
        self.session_id, self.password = answer.session_id, answer.password
        self.timeout = answer.timeout_ms / 1000.0
        self.server_id = answer.server_id
        self._xid = max(self._xid, answer.last_xid)  # a session resumed from another process
        self._conn = conn
        self._last_heard = self._clock()
        log.info("session %#x connected to %s", self.session_id, conn.address)
        self._states.transition(SessionState.CONNECTED)
        if not resumed:
            self._fail_pending(ConnectionLoss("the session was replaced"))
        for pending in self._pending.values():  # in xid order, ahead of anything new
            conn.send(pending.message)
        if self._pending:
            log.info("session %#x: %d requests sent again", self.session_id, len(self._pending))
        if self._on_resumed is not None and resumed:
            self._on_resumed(seen_zxid)

    async def _serve(self, conn: Connection) -> str:
        """Read the stream until it breaks; return why (or _EXPIRED)."""
        pinger = asyncio.get_running_loop().create_task(self._ping(conn))
        read_timeout = self.timeout * 2 / 3
        try:
            while True:
                try:
                    async with asyncio.timeout(read_timeout):
                        msg = await conn.read()
                except TimeoutError:
                    return f"nothing heard for {read_timeout:.3g}s"
                except ConnectionLoss as exc:
                    return str(exc)
                if msg is None:
                    return "the server finished the stream"
                self._last_heard = self._clock()
                outcome = self._handle(msg)
                if outcome is not None:
                    return outcome
        finally:
            pinger.cancel()

    def _handle(self, msg: pb.ServerMessage) -> str | None:
        kind = msg.WhichOneof("kind")
        if kind == "response":
            return self._handle_response(msg.response)
        if kind == "event":
            self._see(msg.event.zxid)
            self._on_event(msg.event)
        elif kind == "pong":
            self._see(msg.pong.zxid)
        elif kind == "ended":
            exc = error_from_pb(msg.ended.error)
            if isinstance(exc, SessionExpiredError):
                return _EXPIRED
            return f"the server ended the stream: {exc.code} {exc.message}"
        else:
            return f"protocol error: unexpected {kind} message"
        return None

    def _handle_response(self, resp: pb.Response) -> str | None:
        if not self._pending:
            return f"protocol error: reply to xid {resp.xid} with nothing outstanding"
        xid, pending = next(iter(self._pending.items()))
        if resp.xid != xid:
            return f"protocol error: reply to xid {resp.xid}, expected {xid}"
        if pending.resend and resp.HasField("error") and resp.error.code == pb.CONNECTION_LOSS:
            # the server lost its ensemble: send this and what follows again elsewhere
            return f"the server answered xid {xid} with CONNECTION_LOSS: {resp.error.message}"
        del self._pending[xid]
        self._see(resp.zxid)
        if pending.future.done():  # the caller gave up; keep the stream in step
            return None
        if pending.on_reply is not None:
            try:
                pending.on_reply(resp)
            except Exception as exc:  # a hook bug must not kill the reader
                log.exception("reply hook failed")
                pending.future.set_exception(exc)
                return None
        pending.future.set_result((resp, self._event_mark()))
        return None

    async def _ping(self, conn: Connection) -> None:
        seq = 0
        while True:
            await self._sleep(self.timeout / 3)
            seq += 1
            conn.send(pb.ClientMessage(ping=pb.Ping(seq=seq)))

    # ---- helpers ----------------------------------------------------------

    def _see(self, zxid: int) -> None:
        if zxid > self.last_zxid:
            self.last_zxid = zxid

    def _time_left(self) -> float:
        """Seconds until the session times out, counted from the last server message."""
        return self._last_heard + self.timeout - self._clock()

    def _expired_locally(self) -> bool:
        return self._states.state is SessionState.SUSPENDED and self._time_left() <= 0

    async def _expire(self, why: str) -> None:
        log.warning("session %#x expired: %s", self.session_id, why)
        await self._drop_connection(SessionExpiredError(why))
        if not self._closing:
            self._states.transition(SessionState.EXPIRED)

    async def _drop_connection(self, exc: CoordError, *, keep_resendable: bool = False) -> None:
        """Close the connection; fail its requests with ``exc`` or keep those to send again."""
        conn, self._conn = self._conn, None
        self._fail_pending(exc, keep_resendable=keep_resendable)
        if conn is not None:
            await conn.close()

    def _fail_pending(self, exc: CoordError, *, keep_resendable: bool = False) -> None:
        pending, self._pending = self._pending, OrderedDict()
        for p in pending.values():
            if p.future.done():
                continue  # the caller gave up: nothing to send again
            if keep_resendable and p.resend:
                self._pending[p.xid] = p
            else:
                p.future.set_exception(type(exc)(exc.message, exc.path))

    def _wake(self) -> None:
        self._changed.set()

    async def _changes(self) -> None:
        """Wait for the next state change."""
        self._changed.clear()
        await self._changed.wait()
