"""Ensemble mode of the request pipeline, over real ZabPeers in one process (no sockets)."""

from __future__ import annotations

from ensemble_cluster import Cluster

from coordsvc.errors import ConnectionLoss
from coordsvc.request.events import Connect, ConnectFailed, Notify, Reply, Tick
from coordsvc.request.ops import LOCAL, Create, CreateResult, GetData, SetData, Sync
from coordsvc.zab import Role


def test_a_write_on_a_follower_commits_everywhere_and_is_answered_there() -> None:
    c = Cluster(3)
    leader = c.elect()
    follower = c.followers()[0]
    conn, sid = c.connect(follower)
    reply = c.call(follower, conn, sid, Create("/a", b"x"))
    assert reply.error is None and isinstance(reply.result, CreateResult)
    assert reply.zxid > 0
    for node in c.nodes.values():
        assert node.pipeline.tree.get("/a").data == b"x", node.id
    # the leader answered nothing for it: the reply was only on the follower
    assert not [r for r in leader.replies() if r.conn_id == conn]


def test_sessions_created_on_a_follower_exist_on_every_server() -> None:
    c = Cluster(3)
    c.elect()
    follower = c.followers()[1]
    _, sid = c.connect(follower)
    assert sid >> 56 == follower.id
    for node in c.nodes.values():
        assert sid in node.pipeline.tree.sessions


def test_a_watch_fires_on_the_server_the_watcher_is_connected_to() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1, f2 = c.followers()
    conn1, s1 = c.connect(f1)
    conn2, s2 = c.connect(f2)
    assert c.call(f1, conn1, s1, Create("/w", b"0")).error is None
    assert c.call(f1, conn1, s1, GetData("/w", watch=True)).error is None
    assert c.call(f2, conn2, s2, SetData("/w", b"1")).error is None
    c.settle()
    notes = [a for a in f1.actions if isinstance(a, Notify) and a.session_id == s1]
    assert [(n.event.type, n.event.path) for n in notes] == [("NODE_DATA_CHANGED", "/w")]
    assert not [a for a in leader.actions + f2.actions if isinstance(a, Notify)]


def test_a_linearizable_read_on_a_follower_sees_a_write_made_through_another_node() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1, f2 = c.followers()
    connl, sl = c.connect(leader)
    conn2, s2 = c.connect(f2)
    assert c.call(leader, connl, sl, Create("/r", b"new")).error is None
    xid = c.send(f2, conn2, s2, GetData("/r"))
    # not answered before the read index came back
    assert not [r for r in f2.replies() if r.xid == xid]
    c.settle()
    (reply,) = [r for r in f2.replies() if r.xid == xid]
    assert reply.error is None and reply.result.data == b"new"
    sync = c.call(f2, conn2, s2, Sync("/"))
    assert sync.error is None


def test_a_local_read_is_answered_at_once_from_the_local_tree() -> None:
    c = Cluster(3)
    c.elect()
    f1 = c.followers()[0]
    conn, sid = c.connect(f1)
    xid = c.send(f1, conn, sid, GetData("/", consistency=LOCAL))
    assert [r for r in f1.replies() if r.xid == xid][0].error is None


def test_a_refused_forwarded_write_comes_back_to_its_origin_in_session_order() -> None:
    c = Cluster(3)
    c.elect()
    f1 = c.followers()[0]
    conn, sid = c.connect(f1)
    x1 = c.send(f1, conn, sid, Create("/dup"))
    x2 = c.send(f1, conn, sid, Create("/dup"))
    x3 = c.send(f1, conn, sid, Create("/dup2"))
    c.settle()
    replies = [r for r in f1.replies() if r.conn_id == conn and r.xid in (x1, x2, x3)]
    assert [r.xid for r in replies] == [x1, x2, x3]
    assert replies[0].error is None
    assert replies[1].error is not None and replies[1].error.code == "NODE_EXISTS"
    assert replies[2].error is None


def test_session_less_writes_from_two_servers_do_not_collide() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1 = c.followers()[0]
    a = c.call(f1, 900, 0, Create("/s1"))
    b = c.call(leader, 901, 0, Create("/s2"))
    assert a.error is None and b.error is None
    for node in c.nodes.values():
        assert node.pipeline.tree.get("/s1") and node.pipeline.tree.get("/s2")


def test_losing_the_leader_fails_outstanding_writes_and_a_new_leader_takes_writes() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1, f2 = c.followers()
    conn, sid = c.connect(f1)
    xid = c.send(f1, conn, sid, Create("/lost"))
    c.net.clear()  # the forward never reaches the leader
    leader.up = False
    for _ in range(300):
        c.tick()
        if [r for r in f1.replies() if r.xid == xid]:
            break
    (r,) = [r for r in f1.replies() if r.xid == xid]
    assert isinstance(r.error, ConnectionLoss)
    new = c.elect()
    assert new is not leader and new.role is Role.LEADING
    again = c.call(f1, conn, sid, Create("/after"))
    assert again.error is None
    assert f2.pipeline.tree.get("/after") is not None


def test_a_server_not_serving_refuses_connects_and_requests() -> None:
    c = Cluster(3)
    node = c.nodes[1]
    node.replica.handle(Connect(77, 0, b"", 10_000, 0))
    (failed,) = [a for a in node.actions if isinstance(a, ConnectFailed)]
    assert isinstance(failed.error, ConnectionLoss)
    r = c.call(node, 78, 0, GetData("/"))
    assert isinstance(r, Reply) and isinstance(r.error, ConnectionLoss)


def test_the_leader_expires_a_silent_session_and_everyone_ends_it() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1 = c.followers()[0]
    conn, sid = c.connect(f1, timeout_ms=200)
    assert c.call(f1, conn, sid, Create("/eph", ephemeral=True)).error is None
    for now in range(0, 2000, 100):
        for node in c.nodes.values():
            node.replica.handle(Tick(now))
        c.settle()
        if sid not in leader.pipeline.tree.sessions:
            break
    for node in c.nodes.values():
        assert sid not in node.pipeline.tree.sessions
        assert node.pipeline.tree.get("/eph") is None


def test_a_leader_told_its_links_to_a_quorum_broke_steps_down_on_the_next_tick() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1, f2 = c.followers()
    f1.up = f2.up = False  # both gone: nothing more is heard from them
    leader.replica.disconnected(f1.id)
    leader.replica.tick()
    assert leader.role is Role.LEADING  # one broken link: the other follower is a quorum
    leader.replica.disconnected(f2.id)
    leader.replica.tick()
    assert leader.role is Role.LOOKING  # no quorum of links: not a leader a tick later


def test_a_spurious_broken_link_hint_does_not_unseat_a_leader_that_still_hears() -> None:
    c = Cluster(3)
    leader = c.elect()
    f1, f2 = c.followers()
    leader.replica.disconnected(f1.id)
    leader.replica.disconnected(f2.id)  # both links "broke", but the followers are fine
    c.settle()  # ... and answer: the next heartbeat round is heard
    for _ in range(3):
        c.tick()
    assert leader.role is Role.LEADING and leader.serving
