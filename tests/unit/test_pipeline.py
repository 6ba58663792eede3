"""Pipeline.step through the synchronous test driver: sessions, ordering, expiry, reaping."""

from __future__ import annotations

import pytest
from pipeline_driver import Driver

from coordsvc.errors import (
    CompactedError,
    ConnectionLoss,
    DataTooLargeError,
    InvalidPathError,
    NoNodeError,
    SessionExpiredError,
    ThrottledError,
)
from coordsvc.request.events import (
    Connect,
    Connected,
    ConnectFailed,
    EndSession,
    Notify,
    Persist,
    Published,
    Reply,
)
from coordsvc.request.ops import (
    AddWatch,
    CloseSession,
    Create,
    Delete,
    Done,
    Exists,
    GetChildren,
    GetData,
    Multi,
    RemoveWatches,
    SetData,
    Sync,
)
from coordsvc.request.pipeline import Pipeline, PipelineConfig
from coordsvc.tree.datatree import NODE_CHILDREN_CHANGED, NODE_CREATED, NODE_DELETED
from coordsvc.tree.txn import CloseSessionTxn, DeleteTxn, zxid_epoch

TICK = 1000
CFG = PipelineConfig(tick_ms=TICK)


def test_connect_creates_a_session_with_a_clamped_timeout() -> None:
    d = Driver(CFG)
    sid, password = d.connect(timeout_ms=1)
    (c,) = d.of_type(Connected)
    assert sid != 0 and len(password) == 16
    assert c.timeout_ms == CFG.min_timeout_ms == 2 * TICK
    assert c.zxid == d.pipeline.last_applied_zxid == d.log[-1].zxid
    assert d.tree.sessions[sid].password == password
    sid2, _ = d.connect(timeout_ms=10**9)
    assert sid2 != sid
    assert d.of_type(Connected)[-1].timeout_ms == CFG.max_timeout_ms


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("right", None),
        ("wrong_password", SessionExpiredError),
        ("unknown_session", SessionExpiredError),
        ("ahead_zxid", ConnectionLoss),
        ("closed", SessionExpiredError),
    ],
)
def test_resume(how: str, error) -> None:
    d = Driver(CFG)
    sid, password = d.connect()
    last = d.pipeline.last_applied_zxid
    args = {
        "right": (sid, password, last),
        "wrong_password": (sid, b"x" * 16, 0),
        "unknown_session": (sid + 1, password, 0),
        "ahead_zxid": (sid, password, last + 1),
        "closed": (sid, password, 0),
    }[how]
    if how == "closed":
        d.ok(sid, CloseSession())
    out = d.resume(*args)
    assert len(out) == 1
    if error is None:
        assert out[0] == Connected(out[0].conn_id, sid, password, 10_000, last)
    else:
        assert isinstance(out[0], ConnectFailed) and type(out[0].error) is error


def test_a_server_behind_the_client_refuses_before_judging_or_making_a_session() -> None:
    """A lagging server may not know the session yet: move on, do not call it expired."""
    d = Driver(CFG)
    ahead = d.pipeline.last_applied_zxid + 5
    for sid, password in ((12345, b"p" * 16), (0, b"")):
        out = d.step(Connect(99, sid, password, 10_000, ahead))
        assert len(out) == 1
        assert isinstance(out[0], ConnectFailed) and type(out[0].error) is ConnectionLoss
    assert d.pipeline.tree.sessions == {}


def test_write_then_read_of_one_session_answered_in_order() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect()
    w = d.send(sid, Create("/a", b"v"))
    r = d.send(sid, GetData("/a"))
    assert d.replies() == []  # the read waits behind the unpersisted write
    d.persist()
    assert [x.xid for x in d.replies()] == [w, r]
    assert d.reply(r).result.data == b"v"
    assert d.reply(r).zxid >= d.reply(w).zxid


@pytest.mark.parametrize(
    ("op", "error"),
    [(Delete("/missing"), NoNodeError), (GetData("/a//b"), InvalidPathError)],
)
def test_error_reply_waits_behind_a_pending_write(op, error) -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect()
    w = d.send(sid, Create("/a"))
    e = d.send(sid, op)
    assert d.replies() == []
    d.persist()
    assert [x.xid for x in d.replies()] == [w, e]
    assert isinstance(d.reply(e).error, error)


def test_watch_event_precedes_the_reply_at_the_same_zxid() -> None:
    d = Driver(CFG)
    a, _ = d.connect()
    b, _ = d.connect()
    assert d.ok(a, Exists("/x", watch=True)).stat is None
    d.ok(b, GetChildren("/", watch=True))
    start = len(d.actions)
    xid = d.send(a, Create("/x"))
    tail = [x for x in d.actions[start:] if isinstance(x, Notify | Reply)]
    z = d.reply(xid).zxid
    assert tail == [
        Notify(a, tail[0].event),
        Notify(b, tail[1].event),
        d.reply(xid),
    ]
    assert (tail[0].event.type, tail[0].event.path, tail[0].event.zxid) == (NODE_CREATED, "/x", z)
    assert (tail[1].event.type, tail[1].event.path) == (NODE_CHILDREN_CHANGED, "/")
    (pub,) = d.of_type(Published, d.actions[start:])
    assert pub.zxid == z and len(pub.events) == 2
    d.ok(a, SetData("/x", b""))  # one-shot: no second notification
    assert len(d.of_type(Notify)) == 2


def test_hundred_sequential_creates_in_flight_get_distinct_increasing_names() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect()
    d.send(sid, Create("/q"))
    xids = [d.send(sid, Create("/q/job-", sequential=True)) for _ in range(100)]
    assert len(d.unpersisted) == 101 and d.replies() == []
    d.persist()
    names = [d.reply(x).result.path for x in xids]
    assert names == [f"/q/job-{i:010d}" for i in range(100)]
    assert [r.xid for r in d.replies()][1:] == xids
    zxids = [d.reply(x).zxid for x in xids]
    assert zxids == sorted(set(zxids))
    assert len(d.tree.children("/q")) == 100


def _expiring(d: Driver) -> tuple[int, int]:
    """A short session owning two ephemerals, watched by a long one."""
    short, _ = d.connect(timeout_ms=2 * TICK)
    long, _ = d.connect(timeout_ms=20 * TICK)
    d.ok(short, Create("/e1", ephemeral=True))
    d.ok(long, Create("/d"))
    d.ok(short, Create("/d/e2", ephemeral=True))
    d.ok(long, Exists("/e1", watch=True))
    d.ok(long, GetChildren("/d", watch=True))
    return short, long


def test_expiry_on_tick_removes_ephemerals_in_one_txn_and_notifies() -> None:
    d = Driver(CFG, auto_persist=False)
    short, long = _expiring(d)
    assert d.tick(2 * TICK) == []  # not yet: the deadline is rounded up
    out = d.tick(3 * TICK)
    (persist,) = d.of_type(Persist, out)
    (txn,) = persist.txns
    assert txn.body == CloseSessionTxn(short, ("/d/e2", "/e1"))
    assert "/e1" in d.tree and short in d.tree.sessions  # not applied yet
    out = d.persist()
    assert "/e1" not in d.tree and "/d/e2" not in d.tree and short not in d.tree.sessions
    notes = {(n.event.type, n.event.path) for n in d.of_type(Notify, out) if n.session_id == long}
    assert notes == {(NODE_DELETED, "/e1"), (NODE_CHILDREN_CHANGED, "/d")}
    (end,) = d.of_type(EndSession, out)
    assert end.session_id == short and isinstance(end.error, SessionExpiredError)
    assert long in d.tree.sessions
    assert isinstance(d.call(short, GetData("/d")).error, SessionExpiredError)


def test_ping_keeps_a_session_alive() -> None:
    d = Driver(CFG)
    sid, _ = d.connect(timeout_ms=2 * TICK)
    for now in range(TICK, 10 * TICK, TICK):
        d.tick(now)
        d.ping(sid)
    assert sid in d.tree.sessions and d.of_type(EndSession) == []


def test_requests_while_expiry_is_in_flight_get_session_expired() -> None:
    d = Driver(CFG, auto_persist=False)
    short, _ = _expiring(d)
    d.tick(3 * TICK)
    xid = d.send(short, Create("/late"))
    assert isinstance(d.reply(xid).error, SessionExpiredError)
    assert d.of_type(EndSession) == []  # nothing ended before the close is durable


def test_close_session_replies_done_then_ends_the_session() -> None:
    d = Driver(CFG)
    sid, password = d.connect()
    d.ok(sid, Create("/e", ephemeral=True))
    start = len(d.actions)
    xid = d.send(sid, CloseSession())
    tail = [x for x in d.actions[start:] if isinstance(x, Reply | EndSession)]
    assert tail == [d.reply(xid), EndSession(sid, None)]
    assert d.reply(xid).result == Done()
    assert "/e" not in d.tree and sid not in d.tree.sessions
    assert isinstance(d.call(sid, Exists("/")).error, SessionExpiredError)
    assert isinstance(d.resume(sid, password)[0], ConnectFailed)


def test_requests_behind_a_pending_close_get_session_expired() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect()
    close = d.send(sid, CloseSession())
    late = d.send(sid, GetData("/"))
    d.persist()
    assert [r.xid for r in d.replies()] == [close, late]
    assert isinstance(d.reply(late).error, SessionExpiredError)


def test_containers_and_ttl_nodes_are_reaped_on_tick() -> None:
    d = Driver(CFG)
    sid, _ = d.connect(timeout_ms=20 * TICK)
    d.ok(sid, Create("/c", container=True))
    d.ok(sid, Create("/t", ttl_ms=2500))  # created at time 0
    d.ok(sid, Create("/c/x"))
    assert d.tick(TICK) == []  # /c has a child, /t is young
    d.ok(sid, Delete("/c/x"))
    out = d.tick(2 * TICK)
    assert [t.body for p in d.of_type(Persist, out) for t in p.txns] == [DeleteTxn("/c")]
    assert "/c" not in d.tree and "/t" in d.tree
    out = d.tick(3 * TICK)
    assert [t.body for p in d.of_type(Persist, out) for t in p.txns] == [DeleteTxn("/t")]
    assert "/t" not in d.tree
    assert d.of_type(Reply, out) == []  # reaping answers nobody
    assert d.tick(4 * TICK) == []


def test_reap_not_proposed_twice_while_in_flight() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect(timeout_ms=20 * TICK)
    d.ok(sid, Create("/t", ttl_ms=10))
    assert len(d.of_type(Persist, d.tick(TICK))) == 1
    assert d.of_type(Persist, d.tick(2 * TICK)) == []
    d.persist()
    assert "/t" not in d.tree


def test_data_too_large_leaves_the_tree_unchanged() -> None:
    d = Driver(PipelineConfig(tick_ms=TICK, max_data_bytes=10))
    sid, _ = d.connect()
    d.ok(sid, Create("/a", b"0123456789"))
    before, log = d.tree.signature(), len(d.log)
    for op in (Create("/b", b"x" * 11), SetData("/a", b"x" * 11)):
        assert isinstance(d.call(sid, op).error, DataTooLargeError)
    assert d.tree.signature() == before and len(d.log) == log


def test_failed_multi_is_answered_without_a_txn() -> None:
    d = Driver(CFG)
    sid, _ = d.connect()
    log = len(d.log)
    result = d.ok(sid, Multi((Create("/a"), Delete("/nope"))))
    assert result.failed and isinstance(result.results[1], NoNodeError)
    assert len(d.log) == log and "/a" not in d.tree


def test_throttled_past_max_pending_per_session() -> None:
    d = Driver(PipelineConfig(tick_ms=TICK, max_pending_per_session=3), auto_persist=False)
    sid, _ = d.connect()
    xids = [d.send(sid, Create(f"/n{i}")) for i in range(4)]
    assert d.replies() == []  # the refusal waits its turn: replies stay in request order
    assert "/n3" not in {p.body.path for p in d.unpersisted}
    d.persist()
    assert [r.xid for r in d.replies()] == xids
    assert isinstance(d.reply(xids[3]).error, ThrottledError)
    assert d.pipeline.pending_requests == 0


def test_history_since_and_compaction() -> None:
    d = Driver(PipelineConfig(tick_ms=TICK, history_txns=3))
    sid, _ = d.connect()
    zxids = [d.call(sid, Create(f"/h{i}")).zxid for i in range(5)]
    got = d.pipeline.history_since(zxids[1])
    assert [z for z, _ in got] == zxids[2:]
    assert [(e.type, e.path) for e in got[0][1]] == [
        (NODE_CREATED, "/h2"),
        (NODE_CHILDREN_CHANGED, "/"),
    ]
    assert d.pipeline.history_since(zxids[4]) == []
    for old in (zxids[0], zxids[1] - 1):
        with pytest.raises(CompactedError):
            d.pipeline.history_since(old)


def test_sync_waits_for_writes_in_flight_from_other_sessions() -> None:
    d = Driver(CFG, auto_persist=False)
    a, _ = d.connect()
    b, _ = d.connect()
    w = d.send(a, Create("/s"))
    s = d.send(b, Sync("/"))
    assert d.replies() == []
    d.persist()
    assert [r.xid for r in d.replies()] == [w, s]
    assert d.reply(s).zxid >= d.reply(w).zxid
    assert d.call(b, Sync("/")).error is None  # nothing in flight: answered at once


def test_session_less_requests_work_without_ephemerals_or_watches() -> None:
    d = Driver(CFG)
    assert d.call(0, Create("/free")).error is None
    assert d.call(0, GetData("/free")).result.data == b""
    assert d.call(0, GetData("/free", watch=True)).error is not None
    assert d.call(0, Create("/e", ephemeral=True)).error is not None


def test_close_spares_an_ephemeral_re_created_in_flight_by_another_session() -> None:
    d = Driver(CFG, auto_persist=False)
    a, _ = d.connect()
    b, _ = d.connect()
    d.call(a, Create("/e", ephemeral=True))
    d.send(a, Delete("/e"))
    d.send(b, Create("/e", ephemeral=True))
    d.send(a, CloseSession())
    d.persist()
    assert "/e" in d.tree, "session a's close deleted session b's ephemeral /e"
    assert d.tree.ephemerals(b) == {"/e"}


def test_unknown_input_is_refused() -> None:
    d = Driver(CFG)
    with pytest.raises(TypeError):
        d.pipeline.step(Connect)  # the class, not an input


def _reads_fixture() -> tuple[Driver, int]:
    d = Driver(CFG)
    sid, _ = d.connect()
    for op in (Create("/a", b"A"), Create("/a/b", b"B"), Create("/a/c", b"C")):
        d.ok(sid, op)
    return d, sid


@pytest.mark.parametrize(
    ("op", "check"),
    [
        (Exists("/a"), lambda r: r.stat.num_children == 2 and r.stat.data_length == 1),
        (Exists("/nope"), lambda r: r.stat is None),
        (GetData("/a/b"), lambda r: r.data == b"B" and r.stat.version == 0),
        (GetData("/nope"), NoNodeError),
        (GetChildren("/a"), lambda r: r.names == ("b", "c") and r.children == ()),
        (
            GetChildren("/a", include_data=True),
            lambda r: (
                [(c.name, c.data, c.stat.data_length) for c in r.children]
                == [("b", b"B", 1), ("c", b"C", 1)]
            ),
        ),
        (GetChildren("/nope"), NoNodeError),
        (Sync("/a"), lambda r: r.path == "/a"),
        (AddWatch("/a"), lambda r: r == Done()),
        (RemoveWatches("/a"), lambda r: r == Done()),
    ],
    ids=repr,
)
def test_reads(op, check) -> None:
    d, sid = _reads_fixture()
    reply = d.call(sid, op)
    assert reply.zxid == d.pipeline.last_applied_zxid
    if isinstance(check, type):
        assert isinstance(reply.error, check) and reply.result is None
    else:
        assert reply.error is None and check(reply.result)


def test_check_session() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, password = d.connect()
    assert d.pipeline.check_session(sid, password)
    assert not d.pipeline.check_session(sid, b"\0" * 16)
    assert not d.pipeline.check_session(sid + 1, password)
    d.send(sid, CloseSession())
    assert not d.pipeline.check_session(sid, password)  # closing counts as gone


def test_restart_from_the_log_continues_where_it_left_off() -> None:
    d = Driver(CFG)
    sid, _ = d.connect()
    d.ok(sid, Create("/q"))
    d.ok(sid, Create("/q/s-", sequential=True))
    d.ok(sid, Create("/e", ephemeral=True))
    again = Pipeline(CFG, log=d.log, now_ms=5 * TICK)
    assert again.tree.signature() == d.tree.signature()
    assert zxid_epoch(again.last_applied_zxid) + 1 == again.epoch
    assert sid in again.tracker
    d2 = Driver(pipeline=again, first_xid=100)  # the same client, carrying on
    reply = d2.call(sid, Create("/q/s-", sequential=True))
    assert reply.result.path == "/q/s-0000000001" and reply.zxid > d.log[-1].zxid
    with pytest.raises(CompactedError):
        again.history_since(d.log[-1].zxid - 1)


def test_txn_time_comes_from_the_injected_clock() -> None:
    d = Driver(pipeline=Pipeline(CFG, clock=lambda: 123_456))
    sid, _ = d.connect()
    assert d.ok(sid, Create("/a")).stat.ctime == 123_456
