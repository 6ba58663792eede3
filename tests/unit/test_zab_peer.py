"""ZabPeer's contract with its driver, on small ensembles driven by hand."""

from __future__ import annotations

import random
from bisect import bisect_right

import pytest

from coordsvc.storage.base import InitialState
from coordsvc.tree.txn import CreateTxn, Txn, make_zxid
from coordsvc.zab.errors import UsageError
from coordsvc.zab.learner import READ_RESEND_TICKS
from coordsvc.zab.messages import (
    Ack,
    AckEpoch,
    AckNewLeader,
    ClientRead,
    ClientWrite,
    Diff,
    FollowerInfo,
    NewEpoch,
    NewLeader,
    NotLeader,
    PeerDisconnected,
    Persisted,
    Phase,
    Ping,
    PingAck,
    Proposal,
    Propose,
    ReadIndex,
    ReadIndexReply,
    Received,
    Role,
    Tick,
    Trunc,
    UpToDate,
    Vote,
)
from coordsvc.zab.peer import ZabConfig, ZabPeer
from coordsvc.zab.ready import Ready


class Disk:
    """Immediate, in-order storage for one peer."""

    def __init__(self) -> None:
        self.log = []
        self.floor = 0
        self.accepted = self.current = 0

    def initial_state(self) -> InitialState:
        last = self.log[-1].zxid if self.log else self.floor
        return InitialState(self.accepted, self.current, self.floor, None, last)

    def entries(self, lo, hi):
        keys = [t.zxid for t in self.log]
        return self.log[bisect_right(keys, lo) : bisect_right(keys, hi)]

    def do(self, rd: Ready) -> None:
        if rd.truncate_after is not None:
            self.log = [t for t in self.log if t.zxid <= rd.truncate_after]
        if rd.epochs is not None:
            self.accepted, self.current = rd.epochs.accepted, rd.epochs.current
        self.log.extend(rd.persist)


def cfg(n=1, voters=(1,), observers=(), **kw) -> ZabConfig:
    return ZabConfig(id=n, voters=frozenset(voters), observers=frozenset(observers), **kw)


def drain(peer: ZabPeer, disk: Disk, *, durable=True) -> list[Ready]:
    """The Ready loop with storage that syncs at once."""
    out = []
    while peer.has_ready():
        rd = peer.ready()
        disk.do(rd)
        peer.advance(rd)
        out.append(rd)
        if durable and rd.persist_mark:
            peer.step(Persisted(rd.persist_mark))
    return out


def body(path="/a") -> CreateTxn:
    return CreateTxn(path, b"x")


def test_an_ensemble_of_one_leads_and_commits_after_persist() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(), disk, random.Random(1))
    assert peer.role is Role.LEADING  # decided alone at once
    assert isinstance(peer.step(Propose(body(), 0, 0, 0)), NotLeader)  # not yet in broadcast
    readys = drain(peer, disk)
    assert peer.phase is Phase.BROADCAST and disk.accepted == disk.current == 1
    assert readys[-1].state is not None and readys[-1].state.serving
    zxid = peer.step(Propose(body(), 7, 3, 1234))
    assert zxid == make_zxid(1, 1)
    rd = peer.ready()
    assert [t.zxid for t in rd.persist] == [zxid] and rd.committed == () and rd.must_sync
    assert rd.persist[0].session_id == 7 and rd.persist[0].time_ms == 1234
    peer.advance(rd)
    assert not peer.ready().committed  # not durable yet: the leader's own ack is missing
    peer.advance(peer.ready())
    peer.step(Persisted(rd.persist_mark))
    rd2 = peer.ready()
    assert [t.zxid for t in rd2.committed] == [zxid]
    peer.advance(rd2)


def test_restart_recovers_epochs_and_commits_the_history_again() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(), disk, random.Random(1))
    drain(peer, disk)
    for i in range(3):
        peer.step(Propose(body(f"/n{i}"), 0, 0, 0))
    drain(peer, disk)
    again = ZabPeer(cfg(), disk, random.Random(2))
    readys = drain(again, disk)
    committed = [t.zxid for rd in readys for t in rd.committed]
    assert committed == [make_zxid(1, c) for c in (1, 2, 3)]
    assert again.epoch == 2 and again.step(Propose(body("/b"), 0, 0, 0)) == make_zxid(2, 1)


def test_usage_errors() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(), disk, random.Random(1))
    rd = peer.ready()
    assert peer.ready() is rd  # the same until advance
    with pytest.raises(UsageError):
        peer.step(Tick())
    with pytest.raises(UsageError):
        peer.advance(Ready())
    peer.advance(rd)
    with pytest.raises(UsageError):
        peer.step(Persisted(99))
    with pytest.raises(UsageError):
        peer.step("not an input")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "config",
    [
        cfg(n=9, voters=(1, 2, 3)),
        cfg(voters=()),
        cfg(voters=(1, 2), observers=(2,)),
        cfg(heartbeat_ticks=5, sync_limit_ticks=5),
        cfg(max_batch=0),
    ],
)
def test_config_validation(config) -> None:
    with pytest.raises(ValueError):
        ZabPeer(config, Disk(), random.Random(1))


def test_max_batch_splits_proposals_over_readys() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(max_batch=2), disk, random.Random(1))
    drain(peer, disk)
    for i in range(5):
        peer.step(Propose(body(f"/n{i}"), 0, 0, 0))
    sizes = [len(rd.persist) for rd in drain(peer, disk) if rd.persist]
    assert sizes == [2, 2, 1]


def test_proposals_wait_while_the_previous_batch_is_being_made_durable() -> None:
    """One batch per local sync: what arrives during an fsync goes out together after it."""
    disk = Disk()
    peer = ZabPeer(cfg(), disk, random.Random(1))
    drain(peer, disk)
    peer.step(Propose(body("/first"), 0, 0, 0))
    first = drain(peer, disk, durable=False)
    assert [len(rd.persist) for rd in first] == [1]  # an idle leader proposes at once
    for i in range(3):
        peer.step(Propose(body(f"/n{i}"), 0, 0, 0))
    assert not peer.has_ready()  # held: the first batch is not durable yet
    peer.step(Persisted(first[0].persist_mark))
    rounds = drain(peer, disk)
    assert [len(rd.persist) for rd in rounds if rd.persist] == [3]
    assert [t.body.path for t in disk.log] == ["/first", "/n0", "/n1", "/n2"]
    assert peer.applied == disk.log[-1].zxid  # and all of it commits


def test_writes_and_reads_on_a_leader_of_one() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(), disk, random.Random(1))
    assert isinstance(peer.step(ClientRead("r0")), NotLeader)
    drain(peer, disk)
    assert peer.step(ClientWrite("payload")) is None
    assert peer.step(ClientRead("r1")) is None
    rd = peer.ready()
    assert rd.forwarded == ((1, "payload"),)
    assert [(r.ctx, r.zxid) for r in rd.read_states] == [("r1", peer.committed_zxid)]
    peer.advance(rd)


def follower_in_broadcast() -> tuple[ZabPeer, Disk]:
    """Peer 2 of {1, 2, 3}, synced with leader 1 in epoch 1."""
    disk = Disk()
    peer = ZabPeer(cfg(n=2, voters=(1, 2, 3)), disk, random.Random(2))
    drain(peer, disk)
    peer.step(Received(1, Vote(1, 0, 1, 1, Role.LEADING)))
    peer.step(Received(3, Vote(1, 0, 1, 1, Role.FOLLOWING)))
    assert peer.role is Role.FOLLOWING and peer.leader_id == 1
    a = peer.attempt
    for msg in (NewEpoch(1, a), Diff(1, a, 0), NewLeader(1, a, 0), UpToDate(1, a, 0)):
        peer.step(Received(1, msg))
        drain(peer, disk)
    assert peer.phase is Phase.BROADCAST
    return peer, disk


def test_a_follower_keeps_one_read_batch_out_and_resends_a_lost_one() -> None:
    peer, disk = follower_in_broadcast()

    def read_batches() -> list[tuple]:
        return [
            m.ctxs for rd in drain(peer, disk) for _, m in rd.send_now if isinstance(m, ReadIndex)
        ]

    peer.step(ClientRead("a"))
    assert read_batches() == [("a",)]
    peer.step(ClientRead("b"))
    peer.step(ClientRead("c"))
    assert read_batches() == []  # wait for the reply to ("a",)
    peer.step(Received(1, ReadIndexReply(1, ("a",), 0)))
    rounds = drain(peer, disk)
    assert [r.ctx for rd in rounds for r in rd.read_states] == ["a"]
    sent = [m.ctxs for rd in rounds for _, m in rd.send_now if isinstance(m, ReadIndex)]
    assert sent == [("b", "c")]
    for _ in range(READ_RESEND_TICKS):  # no reply: lost, so it goes again
        peer.step(Received(1, Ping(1, 0, 0, 0, peer.attempt)))  # the leader is alive
        peer.step(Tick())
    assert ("b", "c") in read_batches()
    peer.step(Received(1, ReadIndexReply(1, ("b", "c"), 0)))
    peer.step(Received(1, ReadIndexReply(1, ("b", "c"), 0)))  # the first send's late reply
    assert [r.ctx for rd in drain(peer, disk) for r in rd.read_states] == ["b", "c", "b", "c"]
    peer.step(ClientRead("d"))
    assert read_batches() == [("d",)]  # nothing is out any more


def test_a_follower_acks_only_after_persisting() -> None:
    peer, disk = follower_in_broadcast()
    t = Txn(make_zxid(1, 1), 0, 0, 0, body())
    peer.step(Received(1, Proposal(1, 0, t)))
    rd = peer.ready()
    assert rd.persist == (t,)
    assert not any(isinstance(m, Ack) for _, m in rd.send_now)
    assert (1, Ack(1, t.zxid)) in rd.send_after_persist


def test_epoch_and_newleader_acks_wait_for_persist() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(n=2, voters=(1, 2, 3)), disk, random.Random(2))
    drain(peer, disk)
    peer.step(Received(1, Vote(1, 0, 1, 1, Role.LEADING)))
    peer.step(Received(3, Vote(1, 0, 1, 1, Role.FOLLOWING)))
    a = peer.attempt
    rd = peer.ready()
    assert rd.send_now == ((1, FollowerInfo(0, 0, a)),)
    peer.advance(rd)
    peer.step(Received(1, NewEpoch(1, a)))
    rd = peer.ready()
    assert rd.epochs is not None and rd.epochs.accepted == 1
    assert rd.send_after_persist == ((1, AckEpoch(1, 0, 0, a, True)),)
    peer.advance(rd)
    peer.step(Received(1, Diff(1, a, 0)))
    peer.step(Received(1, NewLeader(1, a, 0)))
    rd = peer.ready()
    assert rd.epochs is not None and rd.epochs.current == 1
    assert rd.send_after_persist == ((1, AckNewLeader(1, a, 0)),)


def test_a_gap_makes_the_follower_register_again() -> None:
    peer, disk = follower_in_broadcast()
    t2 = Txn(make_zxid(1, 2), 0, 0, 0, body("/b"))
    a = peer.attempt
    peer.step(Received(1, Proposal(1, make_zxid(1, 1), t2)))  # 1.1 was lost
    rd = peer.ready()
    assert rd.persist == () and rd.send_now == ((1, FollowerInfo(1, 0, a + 1)),)
    assert peer.phase is Phase.DISCOVERY


def test_a_ping_for_another_registration_makes_the_follower_register_again() -> None:
    peer, disk = follower_in_broadcast()
    peer.step(Received(1, Ping(1, 0, 0, 0, peer.attempt)))
    assert peer.phase is Phase.BROADCAST
    peer.step(Received(1, Ping(1, 0, 0, 0, peer.attempt - 7)))  # the leader reset us
    assert peer.phase is Phase.DISCOVERY


def test_a_silent_leader_sends_the_follower_looking() -> None:
    peer, disk = follower_in_broadcast()
    for _ in range(peer.config.sync_limit_ticks + 1):
        peer.step(Tick())
    assert peer.role is Role.LOOKING


def test_protocol_errors_are_values() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(n=1, voters=(1, 2, 3), observers=(4,)), disk, random.Random(1))
    drain(peer, disk)
    peer.step(Received(9, Ping(1, 0, 0, 0)))  # not a peer
    peer.step(Received(4, Ping(1, 0, 0, 0)))  # an observer acting as leader
    peer.step(Received(2, Vote(4, 0, 0, 1, Role.LOOKING)))  # a vote for an observer
    errors = peer.ready().protocol_errors
    assert [e.sender for e in errors] == [9, 4, 2]


def leader_in_discovery(voters=(1, 2, 3)) -> tuple[ZabPeer, Disk]:
    """Peer 3 of ``voters``, elected and waiting for its epoch to be acked."""
    disk = Disk()
    peer = ZabPeer(cfg(n=3, voters=voters), disk, random.Random(3))
    drain(peer, disk)
    for v in voters:
        if v != 3:
            peer.step(Received(v, Vote(3, 0, 0, 1, Role.LOOKING)))
    drain(peer, disk)
    peer.step(Tick())  # the finalize wait when not every vote is in
    assert peer.role is Role.LEADING
    return peer, disk


def register(peer: ZabPeer, disk: Disk, sender: int, attempt: int, last=0, accepted=0) -> None:
    peer.step(Received(sender, FollowerInfo(accepted, last, attempt)))
    drain(peer, disk)


def test_only_fresh_epoch_acks_make_the_epoch_ours() -> None:
    peer, disk = leader_in_discovery()
    register(peer, disk, 1, attempt=11)
    assert peer.epoch == 1 and peer.phase is Phase.DISCOVERY
    peer.step(Received(1, AckEpoch(1, 0, 0, 11, False)))  # it acked epoch 1 before a restart
    drain(peer, disk)
    assert peer.phase is Phase.DISCOVERY
    register(peer, disk, 2, attempt=21)
    peer.step(Received(2, AckEpoch(1, 0, 0, 21, True)))
    drain(peer, disk)
    assert peer.phase is Phase.SYNC


def test_a_leader_gives_up_when_a_learner_is_more_recent() -> None:
    peer, disk = leader_in_discovery()
    register(peer, disk, 1, attempt=11)
    peer.step(Received(1, AckEpoch(1, 0, make_zxid(0, 5), 11, True)))  # it holds more
    assert peer.role is Role.LOOKING


def test_a_voter_with_a_later_promise_makes_the_leader_step_down() -> None:
    peer, disk = leader_in_discovery()
    register(peer, disk, 1, attempt=11)
    peer.step(Received(1, AckEpoch(1, 0, 0, 11, True)))
    drain(peer, disk)
    assert peer.phase is Phase.SYNC
    peer.step(Received(2, FollowerInfo(7, 0, 21)))  # promised epoch 7 to someone
    assert peer.role is Role.LOOKING and peer.epoch_floor == 7


def test_trunc_to_a_point_the_learner_lacks_drops_more_and_registers_again() -> None:
    disk = Disk()
    # the learner holds 1.1 1.2 and 3.1; the leader says TRUNC to 2.4, which it lacks
    disk.log = [
        Txn(make_zxid(e, c), 0, 0, 0, body(f"/{e}{c}")) for e, c in ((1, 1), (1, 2), (3, 1))
    ]
    disk.accepted = disk.current = 3
    peer = ZabPeer(cfg(n=2, voters=(1, 2, 3)), disk, random.Random(2))
    drain(peer, disk)
    peer.step(Received(1, Vote(1, 0, 4, 1, Role.LEADING)))
    peer.step(Received(3, Vote(1, 0, 4, 1, Role.FOLLOWING)))
    a = peer.attempt
    peer.step(Received(1, NewEpoch(5, a)))
    drain(peer, disk)
    peer.step(Received(1, Trunc(5, a, make_zxid(2, 4))))
    rd = peer.ready()
    assert rd.truncate_after == make_zxid(1, 2)  # its last zxid below 2.4
    assert rd.send_now[-1] == (1, FollowerInfo(5, make_zxid(1, 2), a + 1))


def leader_in_broadcast() -> tuple[ZabPeer, Disk]:
    """Peer 3 leading 1 and 2 (attempts 11 and 21), established."""
    peer, disk = leader_in_discovery()
    for v, a in ((1, 11), (2, 21)):
        register(peer, disk, v, attempt=a)
        peer.step(Received(v, AckEpoch(1, 0, 0, a, True)))
        drain(peer, disk)
    for v, a in ((1, 11), (2, 21)):
        peer.step(Received(v, AckNewLeader(1, a, 0)))
        drain(peer, disk)
    assert peer.phase is Phase.BROADCAST
    return peer, disk


def test_reads_wait_for_a_quorum_heartbeat_round() -> None:
    peer, disk = leader_in_broadcast()
    assert peer.step(ClientRead("r")) is None
    rd = peer.ready()
    assert rd.read_states == ()  # leadership not confirmed yet
    pings = [(to, m) for to, m in rd.send_now if isinstance(m, Ping)]
    assert {to for to, _ in pings} == {1, 2} and all(m.round == 1 for _, m in pings)
    peer.advance(rd)
    peer.step(Received(1, PingAck(1, 0)))  # an older round proves nothing
    assert peer.ready().read_states == ()
    peer.advance(peer.ready())
    peer.step(Received(1, PingAck(1, 1)))  # with us, a quorum of 3
    assert [r.ctx for r in peer.ready().read_states] == ["r"]


def test_a_follower_ack_releases_the_next_batch_while_the_leader_disk_is_slow() -> None:
    """Batches wait for the previous one to be durable somewhere, not on the leader alone."""
    peer, disk = leader_in_broadcast()
    first = peer.step(Propose(body("/first"), 0, 0, 0))
    drain(peer, disk, durable=False)  # the leader's own sync does not finish
    second = peer.step(Propose(body("/second"), 0, 0, 0))
    assert not peer.has_ready()  # held behind /first
    peer.step(Received(1, Ack(1, first)))
    rounds = drain(peer, disk, durable=False)
    sent = [m for rd in rounds for _, m in rd.send_now if isinstance(m, Proposal)]
    assert [(m.txn.zxid, m.prev_zxid) for m in sent] == [(second, first)] * 2
    peer.step(Received(2, Ack(1, second)))
    peer.step(Received(1, Ack(1, second)))
    drain(peer, disk, durable=False)
    assert peer.applied == second  # committed by the followers, the leader's disk still busy


def test_reads_arriving_during_a_round_share_the_next_one() -> None:
    """One read-index round out at a time: a busy leader pings once per round, not per read."""
    peer, disk = leader_in_broadcast()
    peer.step(ClientRead("a"))
    first = drain(peer, disk)
    assert sum(isinstance(m, Ping) for rd in first for _, m in rd.send_now) == 2  # round 1
    for ctx in ("b", "c", "d"):
        peer.step(ClientRead(ctx))
    assert not peer.has_ready()  # no round per read while round 1 is out
    peer.step(Received(1, PingAck(1, 1)))
    rounds = drain(peer, disk)
    assert [r.ctx for rd in rounds for r in rd.read_states] == ["a"]
    pings = [m for rd in rounds for _, m in rd.send_now if isinstance(m, Ping)]
    assert [m.round for m in pings] == [2, 2]  # b, c and d go together in round 2
    peer.step(Received(2, PingAck(1, 2)))
    assert [r.ctx for rd in drain(peer, disk) for r in rd.read_states] == ["b", "c", "d"]


def test_each_phase_waits_for_the_durability_it_depends_on() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(), disk, random.Random(1))
    drain(peer, disk, durable=False)
    assert peer.phase is Phase.DISCOVERY  # accepted epoch written, not yet durable
    peer.step(Persisted(1))
    drain(peer, disk, durable=False)
    assert peer.phase is Phase.SYNC  # current epoch written, not yet durable
    peer.step(Persisted(2))
    assert peer.phase is Phase.BROADCAST


def test_newleader_past_the_log_end_makes_the_learner_register_again() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(n=2, voters=(1, 2, 3)), disk, random.Random(2))
    drain(peer, disk)
    peer.step(Received(1, Vote(1, 0, 1, 1, Role.LEADING)))
    peer.step(Received(3, Vote(1, 0, 1, 1, Role.FOLLOWING)))
    a = peer.attempt
    for msg in (NewEpoch(1, a), Diff(1, a, 0)):
        peer.step(Received(1, msg))
        drain(peer, disk)
    peer.step(Received(1, NewLeader(1, a, make_zxid(0, 3))))  # the proposals were lost
    rd = peer.ready()
    assert rd.send_after_persist == ()
    assert rd.send_now == ((1, FollowerInfo(1, 0, a + 1)),)


# ---- failover: link hints, early registrations -------------------------------------------


def test_a_broken_link_to_the_leader_sends_the_follower_looking_at_once() -> None:
    peer, disk = follower_in_broadcast()
    peer.step(PeerDisconnected(1))
    assert peer.role is Role.LOOKING and peer.leader_id is None
    rd = peer.ready()
    assert sorted(to for to, m in rd.send_now if type(m) is Vote) == [1, 3]  # votes go out now


def test_a_broken_link_to_another_follower_changes_nothing() -> None:
    peer, disk = follower_in_broadcast()
    peer.step(PeerDisconnected(3))
    assert peer.role is Role.FOLLOWING and peer.phase is Phase.BROADCAST


def test_leaders_and_looking_nodes_ignore_broken_links() -> None:
    leader, disk = leader_in_discovery()
    leader.step(PeerDisconnected(1))
    assert leader.role is Role.LEADING
    looking = ZabPeer(cfg(n=2, voters=(1, 2, 3)), Disk(), random.Random(2))
    round_ = looking.round
    looking.step(PeerDisconnected(1))
    assert looking.role is Role.LOOKING and looking.round == round_  # no new election round


def elected_after(peer: ZabPeer, disk: Disk, *steps) -> list[Ready]:
    out = []
    for inp in steps:
        peer.step(inp)
        out += drain(peer, disk)
    return out


def test_a_registration_that_beats_our_own_decision_is_kept_for_when_we_lead() -> None:
    """Voter 1 decided first (its finalize wait ended before ours) and registered
    while we were still LOOKING: we take it when we lead, not after its retry."""
    disk = Disk()
    peer = ZabPeer(cfg(n=3, voters=(1, 2, 3)), disk, random.Random(3))
    drain(peer, disk)
    rds = elected_after(
        peer,
        disk,
        Received(1, Vote(3, 0, 0, 1, Role.LOOKING)),  # a quorum for us: the finalize wait
        Received(1, FollowerInfo(0, 0, 11)),
    )
    assert peer.role is Role.LOOKING and not rds  # nothing to say yet
    rds = elected_after(peer, disk, Tick())
    sent = [m for rd in rds for m in rd.send_after_persist]
    assert peer.role is Role.LEADING and peer.epoch == 1
    assert sent == [(1, NewEpoch(1, 11))]  # the epoch is chosen once, at once
    rds = elected_after(peer, disk, Received(2, FollowerInfo(0, 0, 21)))
    assert peer.epoch == 1 and [m for rd in rds for m in rd.send_after_persist] == [
        (2, NewEpoch(1, 21))
    ]


def test_an_early_registration_with_a_later_promise_makes_the_new_leader_step_down() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(n=3, voters=(1, 2, 3)), disk, random.Random(3))
    drain(peer, disk)
    elected_after(
        peer,
        disk,
        Received(1, Vote(3, 0, 0, 1, Role.LOOKING)),
        Received(1, FollowerInfo(0, 0, 11)),
        Received(2, FollowerInfo(7, 0, 21)),  # 2 promised epoch 7 to someone
        Tick(),
    )
    assert peer.role is Role.LOOKING and peer.epoch_floor == 7


def test_registrations_kept_while_looking_are_dropped_when_we_follow() -> None:
    disk = Disk()
    peer = ZabPeer(cfg(n=3, voters=(1, 2, 3)), disk, random.Random(3))
    drain(peer, disk)
    elected_after(
        peer,
        disk,
        Received(1, FollowerInfo(0, 0, 11)),
        Received(1, Vote(2, 5, 1, 1, Role.LOOKING)),  # 2 has the later history
        Received(2, Vote(2, 5, 1, 1, Role.LOOKING)),
    )
    assert peer.role is Role.FOLLOWING and peer.leader_id == 2
    assert peer.early_infos == {}
