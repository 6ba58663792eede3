"""The session machine against a scripted fake connection and a virtual clock.

No network and no real waiting: each connection attempt takes the next
scripted answer, the test feeds server messages one by one, and time moves
only when the test advances it.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque

import pytest
from coordsvc.client.errors import (
    ConnectionClosedError,
    ConnectionLoss,
    SessionExpiredError,
)
from coordsvc.client.hosts import HostRing
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.session import Session
from coordsvc.client.states import SessionState, StateTracker

from coordsvc.v1 import coordination_pb2 as pb

S = SessionState
PASSWORD = b"p" * 16


class VirtualTime:
    """A clock plus sleeps that end only when the test advances time."""

    def __init__(self) -> None:
        self.now = 1000.0  # like a monotonic clock: far from zero
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        fut = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, fut))
        await fut

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self.now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self.now]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)
        await settle()


async def settle(rounds: int = 50) -> None:
    """Let every ready task run (a bounded number of loop turns, no timing)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeConn:
    def __init__(self, net: FakeNet, host: str) -> None:
        self.net, self.host, self.address = net, host, host
        self.sent: list[pb.ClientMessage] = []
        self.inbox: asyncio.Queue[pb.ServerMessage | Exception | None] = asyncio.Queue()
        self.closed = False
        self.request: pb.ConnectRequest | None = None

    async def open(self, request: pb.ConnectRequest, timeout: float) -> pb.ConnectResponse:
        self.request = request
        self.net.attempts.append((self.host, request))
        answer = self.net.answers.popleft() if self.net.answers else ConnectionLoss("refused")
        if isinstance(answer, Exception):
            raise answer
        self.net.conns.append(self)
        return answer

    def send(self, msg: pb.ClientMessage) -> None:
        if not self.closed:
            self.sent.append(msg)

    async def read(self) -> pb.ServerMessage | None:
        item = await self.inbox.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True
        self.inbox.put_nowait(ConnectionLoss("closed"))

    # test helpers
    def push(self, **kind: object) -> None:
        self.inbox.put_nowait(pb.ServerMessage(**kind))

    def requests(self) -> list[pb.Request]:
        return [m.request for m in self.sent if m.WhichOneof("kind") == "request"]


class FakeNet:
    def __init__(self) -> None:
        self.answers: deque[pb.ConnectResponse | Exception] = deque()
        self.attempts: list[tuple[str, pb.ConnectRequest]] = []
        self.conns: list[FakeConn] = []

    def factory(self, host: str) -> FakeConn:
        return FakeConn(self, host)


def connected(session_id: int = 0x51, timeout_ms: int = 30_000, server_id: int = 1):
    return pb.ConnectResponse(
        session_id=session_id, password=PASSWORD, timeout_ms=timeout_ms, server_id=server_id
    )


class Rig:
    def __init__(self) -> None:
        self.net = FakeNet()
        self.time = VirtualTime()
        self.states = StateTracker()
        self.events: list[pb.WatchEvent] = []
        self.session = Session(
            HostRing("a:1,b:2", random.Random(0)),
            self.states,
            timeout=30.0,
            connect_timeout=1.0,
            on_event=self.events.append,
            event_mark=lambda: len(self.events),
            reconnect=RetryPolicy(
                max_tries=None, delay=1.0, backoff=1, max_jitter=0, sleep=self.time.sleep
            ),
            clock=self.time.clock,
            sleep=self.time.sleep,
            connection_factory=self.net.factory,
        )

    async def start(self, answer: pb.ConnectResponse | None = None) -> FakeConn:
        self.net.answers.append(answer or connected())
        await self.session.start(5)
        await settle()  # the session task goes on to serve the stream (and start its pinger)
        return self.net.conns[-1]

    def call(self, name: str = "exists", hook=None) -> asyncio.Task:
        op = (name, pb.ExistsRequest(path="/x")) if name == "exists" else (name, pb.SyncRequest())
        return asyncio.get_running_loop().create_task(self.session.call(op, hook))


@pytest.fixture
async def rig():
    r = Rig()
    yield r
    await r.session.close(0)


async def test_handshake_opens_a_new_session(rig: Rig) -> None:
    conn = await rig.start(connected(session_id=0x77, timeout_ms=12_000))
    assert rig.states.state is S.CONNECTED
    req = conn.request
    assert (req.session_id, req.password, req.timeout_ms, req.last_zxid) == (0, b"", 30_000, 0)
    assert (rig.session.session_id, rig.session.password) == (0x77, PASSWORD)
    assert rig.session.timeout == 12.0


async def test_replies_are_matched_in_order_and_zxids_tracked(rig: Rig) -> None:
    conn = await rig.start()
    hooked: list[int] = []
    first = rig.call(hook=lambda r: hooked.append(r.xid))
    second = rig.call()
    await settle()
    assert [r.xid for r in conn.requests()] == [1, 2]
    conn.push(event=pb.WatchEvent(type=pb.NODE_CREATED, path="/x", zxid=5))
    conn.push(response=pb.Response(xid=1, zxid=6))
    conn.push(pong=pb.Pong(seq=1, zxid=9))
    conn.push(response=pb.Response(xid=2, zxid=8))
    resp1, mark1 = await asyncio.wait_for(first, 1)
    resp2, mark2 = await asyncio.wait_for(second, 1)
    assert (resp1.xid, mark1, resp2.xid, mark2) == (1, 1, 2, 1)
    assert hooked == [1]  # the hook ran in the reader, before the caller resumed
    assert [e.path for e in rig.events] == ["/x"]
    assert rig.session.last_zxid == 9


async def test_hooks_see_error_replies_too(rig: Rig) -> None:
    conn = await rig.start()
    hooked: list[str] = []
    task = rig.call(hook=lambda r: hooked.append(r.WhichOneof("result") or "error"))
    await settle()
    conn.push(response=pb.Response(xid=1, error=pb.Error(code=pb.NO_NODE)))
    resp, _ = await asyncio.wait_for(task, 1)
    assert resp.HasField("error") and hooked == ["error"]


async def test_resume_hook_sends_ahead_of_waiting_calls(rig: Rig) -> None:
    resumed: list[int] = []

    def on_resumed(seen_zxid: int) -> None:
        resumed.append(seen_zxid)
        rig.session.send_now(("sync", pb.SyncRequest(path="/first")))

    rig.session._on_resumed = on_resumed
    conn = await rig.start()
    assert resumed == []  # a new session is not a resume
    task = rig.call()
    await settle()
    conn.push(response=pb.Response(xid=1, zxid=70))
    await asyncio.wait_for(task, 1)
    await conn.close()
    await settle()
    waiting = rig.call()  # queued while SUSPENDED
    await settle()
    rig.net.answers.append(connected())
    await rig.time.advance(1.0)
    fresh = rig.net.conns[-1]
    assert resumed == [70]
    ops = [r.WhichOneof("op") for r in fresh.requests()]
    assert ops == ["sync", "exists"]
    await fresh.close()
    await settle()
    with pytest.raises(ConnectionLoss):  # only valid on a live connection
        rig.session.send_now(("sync", pb.SyncRequest()))
    waiting.cancel()


async def test_unexpected_xid_drops_the_connection_and_resumes(rig: Rig) -> None:
    conn = await rig.start()
    task = rig.call()
    await settle()
    conn.push(response=pb.Response(xid=1, zxid=40))
    await asyncio.wait_for(task, 1)
    in_flight = rig.call()
    await settle()
    rig.net.answers.append(connected())
    conn.push(response=pb.Response(xid=99, zxid=41))  # nobody asked for 99
    await settle()
    assert conn.closed
    assert rig.states.state is S.CONNECTED
    host, again = rig.net.attempts[-1]
    assert (again.session_id, again.password, again.last_zxid) == (0x51, PASSWORD, 40)
    assert host != rig.net.attempts[0][0]  # the other server is tried first
    fresh = rig.net.conns[-1]
    assert [r.xid for r in fresh.requests()] == [2]  # sent again with its own xid
    assert not in_flight.done()
    fresh.push(response=pb.Response(xid=2, zxid=42))
    assert (await asyncio.wait_for(in_flight, 1))[0].zxid == 42
    later = rig.call()
    await settle()
    assert fresh.requests()[-1].xid == 3  # xids keep increasing across connections
    fresh.push(response=pb.Response(xid=3))
    await asyncio.wait_for(later, 1)


async def test_requests_in_flight_are_sent_again_in_order_with_their_xids(rig: Rig) -> None:
    rearmed: list[asyncio.Future] = []

    def on_resumed(_seen: int) -> None:
        rearmed.append(rig.session.send_now(("sync", pb.SyncRequest(path="/rearm"))))

    rig.session._on_resumed = on_resumed
    conn = await rig.start()
    first, second = rig.call(), rig.call("sync")
    await settle()
    conn.push(response=pb.Response(xid=1, zxid=5))
    await asyncio.wait_for(first, 1)
    third = rig.call()
    await settle()
    await conn.close()  # xids 2 and 3 are in flight, their replies lost
    await settle()
    assert not second.done() and not third.done()
    rig.net.answers.append(connected())
    await rig.time.advance(1.0)
    fresh = rig.net.conns[-1]
    sent = [(r.xid, r.WhichOneof("op")) for r in fresh.requests()]
    assert sent == [(2, "sync"), (3, "exists"), (4, "sync")]  # the re-arm comes after
    for xid in (2, 3, 4):
        fresh.push(response=pb.Response(xid=xid, zxid=10 + xid))
    assert (await asyncio.wait_for(second, 1))[0].zxid == 12
    assert (await asyncio.wait_for(third, 1))[0].zxid == 13
    await asyncio.wait_for(rearmed[0], 1)


async def test_a_request_sent_with_send_now_fails_when_its_connection_dies(rig: Rig) -> None:
    conn = await rig.start()
    direct = rig.session.send_now(("sync", pb.SyncRequest(path="/a")))
    await conn.close()
    with pytest.raises(ConnectionLoss):
        await asyncio.wait_for(direct, 1)


async def test_a_connection_loss_reply_moves_to_another_server_and_sends_again(rig: Rig) -> None:
    conn = await rig.start()
    lost, after = rig.call(), rig.call("sync")
    await settle()
    rig.net.answers.append(connected())
    conn.push(response=pb.Response(xid=1, error=pb.Error(code=pb.CONNECTION_LOSS, message="x")))
    await settle()
    assert conn.closed and rig.states.state is S.CONNECTED
    assert rig.net.attempts[-1][0] != rig.net.attempts[0][0]
    fresh = rig.net.conns[-1]
    assert [r.xid for r in fresh.requests()] == [1, 2]
    fresh.push(response=pb.Response(xid=1, zxid=3))
    fresh.push(response=pb.Response(xid=2, zxid=4))
    assert not (await asyncio.wait_for(lost, 1))[0].HasField("error")
    await asyncio.wait_for(after, 1)


async def test_a_connection_loss_reply_to_send_now_is_returned_as_is(rig: Rig) -> None:
    conn = await rig.start()
    direct = rig.session.send_now(("sync", pb.SyncRequest(path="/a")))
    conn.push(response=pb.Response(xid=1, error=pb.Error(code=pb.CONNECTION_LOSS)))
    resp, _ = await asyncio.wait_for(direct, 1)
    assert resp.error.code == pb.CONNECTION_LOSS and not conn.closed


async def test_a_resumed_session_continues_above_the_servers_last_xid(rig: Rig) -> None:
    answer = connected()
    answer.last_xid = 500  # writes of this session up to xid 500 are still remembered
    conn = await rig.start(answer)
    task = rig.call()
    await settle()
    assert conn.requests()[0].xid == 501
    conn.push(response=pb.Response(xid=501))
    await asyncio.wait_for(task, 1)


async def test_calls_made_while_suspended_wait_for_the_reconnect(rig: Rig) -> None:
    conn = await rig.start()
    seen: list[SessionState] = []
    rig.states.observe(lambda new, user: seen.append(new))
    await conn.close()  # the stream breaks; no answer is scripted yet
    await settle()
    assert rig.states.state is S.SUSPENDED
    waiting = rig.call()
    await settle()
    assert not waiting.done()
    rig.net.answers.append(connected())
    await rig.time.advance(1.0)  # the backoff after a full round of failed hosts
    assert rig.states.state is S.CONNECTED
    fresh = rig.net.conns[-1]
    assert len(fresh.requests()) == 1
    fresh.push(response=pb.Response(xid=fresh.requests()[0].xid))
    await asyncio.wait_for(waiting, 1)
    assert seen[:2] == [S.SUSPENDED, S.CONNECTED]


async def test_session_ended_by_the_server_is_expired_for_good(rig: Rig) -> None:
    conn = await rig.start()
    pending = rig.call()
    await settle()
    conn.push(ended=pb.SessionEnded(error=pb.Error(code=pb.SESSION_EXPIRED)))
    with pytest.raises(SessionExpiredError):
        await asyncio.wait_for(pending, 1)
    assert rig.states.state is S.EXPIRED
    with pytest.raises(SessionExpiredError):
        await rig.session.call(("sync", pb.SyncRequest()))
    assert len(rig.net.attempts) == 1  # no reconnect for an expired session


async def test_other_session_end_is_a_connection_loss(rig: Rig) -> None:
    conn = await rig.start()
    rig.net.answers.append(connected())
    conn.push(ended=pb.SessionEnded(error=pb.Error(code=pb.SESSION_MOVED)))
    await settle()
    assert rig.states.state is S.CONNECTED and len(rig.net.attempts) == 2


async def test_no_server_within_the_timeout_expires_the_session_locally(rig: Rig) -> None:
    conn = await rig.start()
    await conn.close()
    await settle()
    assert rig.states.state is S.SUSPENDED
    for _ in range(29):
        await rig.time.advance(1.0)
    assert rig.states.state is S.SUSPENDED  # 29 s of the 30 s timeout have passed
    await rig.time.advance(1.0)
    await rig.time.advance(1.0)
    assert rig.states.state is S.EXPIRED
    assert all(req.session_id == 0x51 for _, req in rig.net.attempts[1:])
    # both hosts failed once per round, then one backoff pause per round
    assert rig.time.slept.count(1.0) >= 29


async def test_refused_resume_expires(rig: Rig) -> None:
    conn = await rig.start()
    rig.net.answers.append(SessionExpiredError("unknown session"))
    await conn.close()
    await settle()
    assert rig.states.state is S.EXPIRED


async def test_answer_for_another_session_is_rejected(rig: Rig) -> None:
    conn = await rig.start()
    rig.net.answers.extend([connected(session_id=0x99), connected()])
    await conn.close()
    await settle()
    assert rig.states.state is S.CONNECTED
    assert rig.session.session_id == 0x51
    assert len(rig.net.attempts) == 3


async def test_pings_every_third_of_the_timeout(rig: Rig) -> None:
    conn = await rig.start(connected(timeout_ms=9_000))
    await rig.time.advance(3.0)
    await rig.time.advance(3.0)
    pings = [m.ping.seq for m in conn.sent if m.WhichOneof("kind") == "ping"]
    assert pings == [1, 2]


async def test_a_cancelled_caller_keeps_the_stream_in_step(rig: Rig) -> None:
    conn = await rig.start()
    gone = rig.call()
    kept = rig.call()
    await settle()
    gone.cancel()
    await settle()
    conn.push(response=pb.Response(xid=1))
    conn.push(response=pb.Response(xid=2))
    resp, _ = await asyncio.wait_for(kept, 1)
    assert resp.xid == 2 and rig.states.state is S.CONNECTED


async def test_close_sends_close_session_then_fails_the_rest(rig: Rig) -> None:
    conn = await rig.start()
    closing = asyncio.get_running_loop().create_task(rig.session.close(5))
    await settle()
    (req,) = conn.requests()
    assert req.WhichOneof("op") == "close_session"
    conn.push(response=pb.Response(xid=req.xid))
    await asyncio.wait_for(closing, 1)
    assert rig.states.state is S.CLOSED and conn.closed
    with pytest.raises(ConnectionClosedError):
        await rig.session.call(("sync", pb.SyncRequest()))
    assert rig.session.session_id == 0


async def test_first_connect_backs_off_between_rounds_of_hosts(rig: Rig) -> None:
    starting = asyncio.get_running_loop().create_task(rig.session.start(60))
    await settle()
    assert len(rig.net.attempts) == 2  # each host once, then a pause, not a spin
    assert rig.time.slept == [1.0]
    await rig.time.advance(1.0)
    assert len(rig.net.attempts) == 4
    rig.net.answers.append(connected())
    await rig.time.advance(1.0)
    await asyncio.wait_for(starting, 1)
    assert rig.states.state is S.CONNECTED
