"""Retried writes are applied once: a resend with the same (session, xid) gets the first result.

The table itself (``AppliedWrites``), then the standalone pipeline, then an
in-memory ensemble where the resend reaches another server than the first
attempt, before or after that attempt committed.
"""

from __future__ import annotations

import io

import pytest
from ensemble_cluster import Cluster
from pipeline_driver import Driver

from coordsvc.errors import ConnectionLoss, StorageFullError
from coordsvc.request.events import Connected, PersistFailed, Reply
from coordsvc.request.ops import (
    Check,
    CloseSession,
    Create,
    CreateResult,
    Delete,
    Multi,
    SetData,
)
from coordsvc.request.pipeline import Pipeline, PipelineConfig
from coordsvc.storage.snapshot import decode_snapshot, dump_snapshot
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.retries import AppliedWrites, KeptResult

TICK = 1000
CFG = PipelineConfig(tick_ms=TICK)


def _made(path: str) -> CreateResult:
    return CreateResult(path, None)


def _sequentials(tree, parent: str) -> list[str]:
    return sorted(tree.children(parent))


# ---- the table --------------------------------------------------------------


def test_the_table_keeps_the_newest_results_per_session() -> None:
    t = AppliedWrites(per_session=3)
    for xid in range(1, 6):
        t.record(7, xid, KeptResult(100 + xid, 0, _made(f"/n{xid}")), 10_000)
    assert [t.lookup(7, x) is not None for x in range(1, 6)] == [False, False, True, True, True]
    assert t.lookup(7, 5).result == _made("/n5") and t.lookup(7, 5).zxid == 105
    assert t.last_xid(7) == 5 and t.last_xid(8) == 0


def test_the_table_drops_results_older_than_two_session_timeouts() -> None:
    t = AppliedWrites(per_session=100)
    t.record(7, 1, KeptResult(1, 0, _made("/a")), 1_000)
    t.record(7, 2, KeptResult(2, 1_500, _made("/b")), 1_000)
    assert t.lookup(7, 1) is not None  # 1.5 s later: within 2 x 1 s
    t.record(7, 3, KeptResult(3, 2_500, _made("/c")), 1_000)
    assert t.lookup(7, 1) is None and t.lookup(7, 2) is not None


@pytest.mark.parametrize(("sid", "xid"), [(0, 5), (7, 0), (7, -3)])
def test_the_table_ignores_session_less_and_internal_writes(sid: int, xid: int) -> None:
    t = AppliedWrites()
    t.record(sid, xid, KeptResult(1, 0, _made("/a")), 1_000)
    assert len(t) == 0


# ---- standalone -------------------------------------------------------------


def test_a_sequential_create_resent_after_it_applied_makes_no_second_node() -> None:
    d = Driver(CFG)
    sid, _ = d.connect()
    d.ok(sid, Create("/q"))
    xid = d.send(sid, Create("/q/s-", sequential=True))
    first = d.reply(xid)
    log_len = len(d.log)
    d.send(sid, Create("/q/s-", sequential=True), conn_id=55, xid=xid)  # the reply was lost
    again = [r for r in d.replies() if r.conn_id == 55]
    assert again == [Reply(55, sid, xid, first.zxid, first.result, None)]
    assert len(d.log) == log_len and _sequentials(d.tree, "/q") == ["s-0000000000"]


def test_a_resend_of_a_write_still_in_flight_rides_on_the_first_attempt() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect()
    xid = d.send(sid, SetData("/", b"v1"))
    d.send(sid, SetData("/", b"v1"), conn_id=55, xid=xid)
    assert len(d.unpersisted) == 1 and not d.replies()
    d.persist()
    (a, b) = [r for r in d.replies() if r.xid == xid]
    assert (a.conn_id, b.conn_id) == (d.conn_of[sid], 55)
    assert a.result == b.result and a.zxid == b.zxid and b.result.stat.version == 1


def test_a_resend_of_a_write_whose_first_attempt_failed_to_persist_gets_that_error() -> None:
    d = Driver(CFG, auto_persist=False)
    sid, _ = d.connect()
    xid = d.send(sid, Create("/x"))
    d.send(sid, Create("/x"), conn_id=55, xid=xid)
    d.step(PersistFailed(StorageFullError("the store is full")))
    got = [r for r in d.replies() if r.xid == xid]
    assert [type(r.error) for r in got] == [StorageFullError, StorageFullError]
    assert d.tree.get("/x") is None
    retry = d.send(sid, Create("/x"), conn_id=55, xid=xid)  # not applied: now it is done
    d.persist()
    assert [r for r in d.replies() if r.xid == retry][-1].error is None
    assert d.tree.get("/x") is not None


def test_results_survive_a_restart_from_the_log_and_resuming_clients_continue_above() -> None:
    d = Driver(CFG)
    sid, password = d.connect()
    xid = d.send(sid, Create("/s-", sequential=True))
    first = d.reply(xid)
    again = Driver(pipeline=Pipeline(CFG, log=d.log, now_ms=TICK))
    (connected,) = again.of_type(Connected, again.resume(sid, password))
    assert connected.last_xid == xid
    again.send(sid, Create("/s-", sequential=True), xid=xid)
    assert again.reply(xid).result == first.result
    assert _sequentials(again.tree, "/") == ["s-0000000000"]


def test_a_closed_session_forgets_its_results() -> None:
    d = Driver(CFG)
    sid, _ = d.connect()
    d.ok(sid, Create("/a"))
    assert len(d.pipeline.tree.retries) == 1
    d.ok(sid, CloseSession())
    assert len(d.pipeline.tree.retries) == 0


def test_a_new_write_with_a_fresh_xid_is_applied_again() -> None:
    d = Driver(CFG)
    sid, _ = d.connect()
    d.ok(sid, Create("/s-", sequential=True))
    d.ok(sid, Create("/s-", sequential=True))
    assert _sequentials(d.tree, "/") == ["s-0000000000", "s-0000000001"]


# ---- ensemble ---------------------------------------------------------------


def test_a_resend_to_another_follower_after_the_commit_gets_the_first_result() -> None:
    c = Cluster(3)
    c.elect()
    f1, f2 = c.followers()
    conn, sid = c.connect(f1)
    c.call(f1, conn, sid, Create("/q"))
    first = c.call(f1, conn, sid, Create("/q/s-", sequential=True))
    again = c.call(f2, 77, sid, Create("/q/s-", sequential=True), xid=first.xid)
    assert (again.result, again.zxid, again.error) == (first.result, first.zxid, None)
    for node in c.nodes.values():
        assert _sequentials(node.pipeline.tree, "/q") == ["s-0000000000"], node.id


def test_a_resend_while_the_first_attempt_is_in_flight_is_answered_once_it_commits() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1, f2 = c.followers()
    conn, sid = c.connect(f1)
    c.call(f1, conn, sid, Create("/q"))
    xid = c.send(f1, conn, sid, Create("/q/s-", sequential=True))
    # the resend reaches the leader (through f2) and the leader itself, before any commit
    c.send(f2, 77, sid, Create("/q/s-", sequential=True), xid=xid)
    c.send(leader, 78, sid, Create("/q/s-", sequential=True), xid=xid)
    c.settle()
    got = [r for n in (f1, f2, leader) for r in n.replies() if r.xid == xid and r.session_id == sid]
    assert len(got) == 3
    assert {(r.result, r.zxid, r.error) for r in got} == {(got[0].result, got[0].zxid, None)}
    for node in c.nodes.values():
        assert _sequentials(node.pipeline.tree, "/q") == ["s-0000000000"], node.id


def test_a_resend_to_the_same_follower_rides_on_its_forwarded_first_attempt() -> None:
    c = Cluster(3)
    c.elect()
    f1 = c.followers()[0]
    conn, sid = c.connect(f1)
    xid = c.send(f1, conn, sid, Create("/once"))
    c.send(f1, 77, sid, Create("/once"), xid=xid)
    c.settle()
    got = [r for r in f1.replies() if r.xid == xid]
    assert [(r.conn_id, r.error) for r in got] == [(conn, None), (77, None)]
    assert got[0].result == got[1].result and got[0].result.path == "/once"


def test_the_new_leader_answers_a_resend_of_a_write_the_old_leader_committed() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1 = c.followers()[0]
    conn, sid = c.connect(f1)
    first = c.call(f1, conn, sid, Create("/s-", sequential=True))
    leader.up = False
    new = c.elect()
    again = c.call(new, 99, sid, Create("/s-", sequential=True), xid=first.xid)
    assert (again.result, again.zxid) == (first.result, first.zxid)
    assert _sequentials(new.pipeline.tree, "/") == ["s-0000000000"]


def test_a_resend_riding_on_a_proposal_the_leader_lost_is_told_to_try_again() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1 = c.followers()[0]
    lconn, sid = c.connect(leader)
    xid = c.send(leader, lconn, sid, Delete("/nothing-here-yet"))  # refused at once
    assert leader.replies()[-1].xid == xid and leader.replies()[-1].error is not None
    xid = c.send(leader, lconn, sid, Create("/p"))
    c.send(leader, 79, sid, Create("/p"), xid=xid)
    c.net.clear()  # the proposal never leaves the leader
    for node in (f1, *c.followers()[1:]):
        node.up = False
    for _ in range(300):  # the leader loses its quorum and steps down
        c.tick()
        if len([r for r in leader.replies() if r.xid == xid]) == 2:
            break
    got = [r for r in leader.replies() if r.xid == xid]
    assert [type(r.error) for r in got] == [ConnectionLoss, ConnectionLoss]


def test_results_survive_a_snapshot_of_every_kind_of_write() -> None:
    d = Driver(CFG)
    sid, password = d.connect()
    writes = [
        Create("/a", b"1"),
        SetData("/a", b"2"),
        Create("/s-", sequential=True),
        Multi((Create("/m"), SetData("/m", b"x"), Check("/m", 1), Delete("/m"))),
        Delete("/a"),
    ]
    firsts = [d.reply(d.send(sid, op)) for op in writes]
    assert all(r.error is None for r in firsts)
    buf = io.BytesIO()
    dump_snapshot(d.tree.image(), buf, created_ms=0)
    tree = DataTree.from_image(decode_snapshot(buf.getvalue()))
    assert tree.signature() == d.tree.signature()
    again = Driver(pipeline=Pipeline(CFG, tree=tree, now_ms=TICK))
    again.resume(sid, password)
    for op, first in zip(writes, firsts, strict=True):
        again.send(sid, op, xid=first.xid)
        reply = again.reply(first.xid)
        assert (reply.result, reply.zxid, reply.error) == (first.result, first.zxid, None)
    assert again.log == []  # nothing was applied a second time
    assert _sequentials(tree, "/") == [firsts[2].result.path[1:]]
