"""DataTree.apply: ZooKeeper's Stat update rules, triggers, indexes, reaping, invariants."""

from __future__ import annotations

import pytest

from coordsvc.request.ops import CheckResult, CreateResult, DeleteResult, MultiResult
from coordsvc.tree.datatree import (
    NODE_CHILDREN_CHANGED,
    NODE_CREATED,
    NODE_DATA_CHANGED,
    NODE_DELETED,
    DataTree,
    InvariantViolation,
)
from coordsvc.tree.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
    make_zxid,
    zxid_counter,
    zxid_epoch,
)
from coordsvc.tree.znode import NodeKind, Stat

EPOCH = 3


class Applier:
    """Applies txn bodies with increasing zxids and a clock of 1000 * counter."""

    def __init__(self) -> None:
        self.tree = DataTree()
        self.counter = 0
        self.log: list[Txn] = []

    def __call__(self, body, *, time_ms: int | None = None, session_id: int = 0):
        self.counter += 1
        zxid = make_zxid(EPOCH, self.counter)
        t = 1000 * self.counter if time_ms is None else time_ms
        txn = Txn(zxid, t, session_id, self.counter, body)
        applied = self.tree.apply(txn)
        self.log.append(txn)
        return applied

    @property
    def zxid(self) -> int:
        return make_zxid(EPOCH, self.counter)

    def stat(self, path: str) -> Stat:
        return self.tree.get(path).stat()


@pytest.fixture
def ap() -> Applier:
    return Applier()


@pytest.mark.parametrize(
    ("epoch", "counter"), [(0, 1), (1, 0), (5, 123), ((1 << 24) - 1, (1 << 40) - 1)]
)
def test_zxid_packs_24_bit_epoch_over_40_bit_counter(epoch: int, counter: int) -> None:
    z = make_zxid(epoch, counter)
    assert z == epoch * (1 << 40) + counter
    assert (zxid_epoch(z), zxid_counter(z)) == (epoch, counter)
    assert z < 1 << 64


def test_create_sets_stat_and_touches_parent_children_fields_only(ap: Applier) -> None:
    ap(CreateTxn("/a", b"x"))
    before = ap.stat("/a")
    applied = ap(CreateTxn("/a/b", b"hello"), time_ms=77_000)
    z = ap.zxid
    assert ap.stat("/a/b") == Stat(
        czxid=z, mzxid=z, pzxid=z, ctime=77_000, mtime=77_000, version=0, data_length=5
    )
    parent = ap.stat("/a")
    assert (parent.cversion, parent.pzxid, parent.num_children) == (1, z, 1)
    assert (parent.mzxid, parent.mtime, parent.version) == (before.mzxid, before.mtime, 0)
    assert parent.czxid == before.czxid
    assert applied.result == CreateResult("/a/b", ap.stat("/a/b"))
    assert applied.triggers == ((NODE_CREATED, "/a/b"), (NODE_CHILDREN_CHANGED, "/a"))
    assert applied.zxid == z and ap.tree.last_zxid == z


def test_set_data_bumps_version_mzxid_mtime_only(ap: Applier) -> None:
    ap(CreateTxn("/a", b""))
    ap(CreateTxn("/a/c", b""))
    before = ap.stat("/a")
    applied = ap(SetDataTxn("/a", b"12345678", 1), time_ms=99_000)
    after = ap.stat("/a")
    assert (after.version, after.mzxid, after.mtime, after.data_length) == (1, ap.zxid, 99_000, 8)
    assert (after.czxid, after.ctime, after.cversion, after.pzxid) == (
        before.czxid,
        before.ctime,
        before.cversion,
        before.pzxid,
    )
    assert applied.result.stat == after
    assert applied.triggers == ((NODE_DATA_CHANGED, "/a"),)
    assert ap.tree.get("/a").data == b"12345678"


def test_delete_bumps_parent_cversion_and_pzxid(ap: Applier) -> None:
    ap(CreateTxn("/a", b""))
    ap(CreateTxn("/a/b", b""))
    before = ap.stat("/a")
    applied = ap(DeleteTxn("/a/b"))
    after = ap.stat("/a")
    assert "/a/b" not in ap.tree
    assert (after.cversion, after.pzxid, after.num_children) == (2, ap.zxid, 0)
    assert (after.version, after.mzxid, after.mtime) == (before.version, before.mzxid, before.mtime)
    assert applied.result == DeleteResult()
    assert applied.triggers == ((NODE_DELETED, "/a/b"), (NODE_CHILDREN_CHANGED, "/a"))


def test_root_counts_children_of_root(ap: Applier) -> None:
    for name in ("/x", "/y", "/z"):
        ap(CreateTxn(name, b""))
    ap(DeleteTxn("/y"))
    root = ap.stat("/")
    assert (root.num_children, root.cversion, root.pzxid) == (2, 4, ap.zxid)
    assert ap.tree.children("/") == ["x", "z"]
    assert ap.tree.node_count == 3


def test_multi_applies_in_order_with_one_zxid(ap: Applier) -> None:
    ap(CreateTxn("/m", b""))
    applied = ap(
        MultiTxn(
            (
                CreateTxn("/m/a", b"1"),
                SetDataTxn("/m/a", b"22", 1),
                CheckTxn("/m/a", 1),
                CreateTxn("/m/b", b""),
                DeleteTxn("/m/b"),
            )
        )
    )
    z = ap.zxid
    assert isinstance(applied.result, MultiResult)
    assert isinstance(applied.result.results[2], CheckResult)
    a = ap.stat("/m/a")
    assert (a.czxid, a.mzxid, a.version, a.data_length) == (z, z, 1, 2)
    assert ap.stat("/m").cversion == 3
    assert applied.triggers == (
        (NODE_CREATED, "/m/a"),
        (NODE_CHILDREN_CHANGED, "/m"),
        (NODE_DATA_CHANGED, "/m/a"),
        (NODE_CREATED, "/m/b"),
        (NODE_CHILDREN_CHANGED, "/m"),
        (NODE_DELETED, "/m/b"),
        (NODE_CHILDREN_CHANGED, "/m"),
    )


def test_ephemeral_index_follows_creates_and_deletes(ap: Applier) -> None:
    ap(CreateSessionTxn(7, 10_000, b"pw"))
    ap(CreateTxn("/e1", b"", NodeKind.EPHEMERAL, 7))
    ap(CreateTxn("/e2", b"", NodeKind.EPHEMERAL, 7))
    ap(CreateTxn("/p", b""))
    assert ap.tree.ephemerals(7) == {"/e1", "/e2"}
    assert ap.stat("/e1").ephemeral_owner == 7
    assert ap.tree.ephemeral_count() == 2
    ap(DeleteTxn("/e1"))
    assert ap.tree.ephemerals(7) == {"/e2"}
    assert ap.tree.ephemeral_count() == 1


def test_close_session_removes_its_ephemerals_and_record(ap: Applier) -> None:
    ap(CreateSessionTxn(7, 10_000, b"pw"))
    ap(CreateSessionTxn(8, 10_000, b"pw"))
    ap(CreateTxn("/d", b""))
    ap(CreateTxn("/d/e1", b"", NodeKind.EPHEMERAL, 7))
    ap(CreateTxn("/e2", b"", NodeKind.EPHEMERAL, 7))
    ap(CreateTxn("/other", b"", NodeKind.EPHEMERAL, 8))
    applied = ap(CloseSessionTxn(7, ("/d/e1", "/e2")))
    assert "/d/e1" not in ap.tree and "/e2" not in ap.tree
    assert "/other" in ap.tree and "/d" in ap.tree
    assert ap.tree.ephemerals(7) == frozenset()
    assert set(ap.tree.sessions) == {8}
    assert set(applied.triggers) == {
        (NODE_DELETED, "/d/e1"),
        (NODE_CHILDREN_CHANGED, "/d"),
        (NODE_DELETED, "/e2"),
        (NODE_CHILDREN_CHANGED, "/"),
    }
    assert ap.stat("/d").pzxid == ap.zxid


def test_close_session_also_removes_ephemerals_missing_from_the_txn(ap: Applier) -> None:
    ap(CreateSessionTxn(7, 10_000, b"pw"))
    ap(CreateTxn("/e1", b"", NodeKind.EPHEMERAL, 7))
    ap(CloseSessionTxn(7, ()))
    assert "/e1" not in ap.tree
    assert ap.tree.sessions == {}


def test_create_session_records_it(ap: Applier) -> None:
    ap(CreateSessionTxn(0x42, 6000, b"p" * 16))
    rec = ap.tree.sessions[0x42]
    assert (rec.session_id, rec.timeout_ms, rec.password) == (0x42, 6000, b"p" * 16)


def test_container_reaped_only_after_it_had_a_child_and_lost_it(ap: Applier) -> None:
    ap(CreateTxn("/c", b"", NodeKind.CONTAINER))
    assert ap.tree.reap_candidates(10**9) == []  # never had a child
    ap(CreateTxn("/c/x", b""))
    assert ap.tree.reap_candidates(10**9) == []  # has a child
    ap(DeleteTxn("/c/x"))
    assert ap.tree.reap_candidates(0) == ["/c"]
    ap(DeleteTxn("/c"))
    assert ap.tree.reap_candidates(10**9) == []


@pytest.mark.parametrize(
    ("now_ms", "has_child", "expected"),
    [
        (10_000 + 500, False, []),  # younger than the ttl
        (10_000 + 1000, False, []),  # exactly the ttl old: not yet
        (10_000 + 1001, False, ["/t"]),
        (10_000 + 10**6, True, []),  # has a child
    ],
)
def test_ttl_reap_candidates(now_ms: int, has_child: bool, expected: list[str]) -> None:
    ap = Applier()
    ap(CreateTxn("/t", b"", NodeKind.TTL, ttl_ms=1000), time_ms=10_000)
    if has_child:
        ap(CreateTxn("/t/k", b""), time_ms=10_000)
    assert ap.tree.reap_candidates(now_ms) == expected


def test_ttl_clock_restarts_on_set_data(ap: Applier) -> None:
    ap(CreateTxn("/t", b"", NodeKind.TTL, ttl_ms=1000), time_ms=10_000)
    ap(SetDataTxn("/t", b"v", 1), time_ms=20_000)
    assert ap.tree.reap_candidates(20_900) == []
    assert ap.tree.reap_candidates(21_001) == ["/t"]


def test_persistent_and_ephemeral_nodes_are_never_reap_candidates(ap: Applier) -> None:
    ap(CreateTxn("/p", b""))
    ap(CreateTxn("/p/x", b""))
    ap(DeleteTxn("/p/x"))
    ap(CreateTxn("/e", b"", NodeKind.EPHEMERAL, 5))
    assert ap.tree.reap_candidates(10**12) == []


def test_zxid_must_strictly_increase() -> None:
    tree = DataTree()
    z = make_zxid(1, 5)
    tree.apply(Txn(z, 0, 0, 0, CreateTxn("/a", b"")))
    for bad in (z, z - 1, 0):
        with pytest.raises(InvariantViolation):
            tree.apply(Txn(bad, 0, 0, 0, CreateTxn("/b", b"")))
    assert "/b" not in tree and tree.last_zxid == z


def test_zxid_zero_is_never_applied() -> None:
    with pytest.raises(InvariantViolation):
        DataTree().apply(Txn(0, 0, 0, 0, CreateTxn("/a", b"")))


@pytest.mark.parametrize(
    "body",
    [
        CreateTxn("/a", b""),  # already exists
        CreateTxn("/missing/x", b""),  # no parent
        DeleteTxn("/missing"),
        DeleteTxn("/a"),  # has a child
        DeleteTxn("/"),
        SetDataTxn("/missing", b"", 1),
        CheckTxn("/missing", 0),
    ],
    ids=repr,
)
def test_txn_that_does_not_fit_raises(body) -> None:
    ap = Applier()
    ap(CreateTxn("/a", b""))
    ap(CreateTxn("/a/b", b""))
    last = ap.tree.last_zxid
    with pytest.raises(InvariantViolation):
        ap(body)
    assert ap.tree.last_zxid == last


def _build(order: list) -> DataTree:
    ap = Applier()
    for body in order:
        ap(body)
    return ap.tree


def test_signature_equal_for_equal_histories_and_sensitive_to_each_field() -> None:
    base = [CreateTxn("/a", b"1"), CreateTxn("/a/b", b"2"), SetDataTxn("/a", b"3", 1)]
    assert _build(base).signature() == _build(list(base)).signature()
    variants = [
        base[:2] + [SetDataTxn("/a", b"X", 1)],  # data
        base + [SetDataTxn("/a", b"3", 2)],  # version (and mzxid)
        base[:2] + [CheckTxn("/a", 0)],  # the set never happened
        [CreateTxn("/a", b"1", NodeKind.CONTAINER)] + base[1:],  # kind
        base + [CreateSessionTxn(1, 1000, b"")],  # sessions
    ]
    for variant in variants:
        assert _build(variant).signature() != _build(base).signature(), variant


def test_items_lists_parents_before_children(ap: Applier) -> None:
    for p in ("/a", "/a-b", "/a/b", "/a/b/c", "/b"):
        ap(CreateTxn(p, b""))
    seen: set[str] = set()
    for path, _node in ap.tree.items():
        if path != "/":
            assert (path.rsplit("/", 1)[0] or "/") in seen
        seen.add(path)
    assert seen == {"/", "/a", "/a-b", "/a/b", "/a/b/c", "/b"}


def test_image_round_trips_and_stays_fixed_while_the_tree_moves_on(ap: Applier) -> None:
    ap(CreateSessionTxn(7, 10_000, b"pw"))
    ap(CreateTxn("/c", b"", NodeKind.CONTAINER))
    ap(CreateTxn("/c/x", b""))
    ap(DeleteTxn("/c/x"))
    ap(CreateTxn("/t", b"t", NodeKind.TTL, ttl_ms=5))
    ap(CreateTxn("/p", b"p"))
    ap(CreateTxn("/p/e", b"", NodeKind.EPHEMERAL, 7))
    image, sig, upto = ap.tree.image(), ap.tree.signature(), len(ap.log)
    rebuilt = DataTree.from_image(image)
    assert rebuilt.signature() == sig
    assert rebuilt.ephemerals(7) == {"/p/e"}
    assert rebuilt.reap_candidates(10**9) == ap.tree.reap_candidates(10**9) == ["/c", "/t"]
    assert rebuilt.children("/") == ["c", "p", "t"]
    # the live tree moves on; the image does not
    ap(SetDataTxn("/p", b"new", 1))
    ap(CreateTxn("/p/q", b""))
    ap(DeleteTxn("/t"))
    ap(CloseSessionTxn(7, ("/p/e",)))
    assert DataTree.from_image(image).signature() == sig
    # snapshot plus replay of the rest reaches the live tree
    for txn in ap.log[upto:]:
        rebuilt.apply(txn)
    assert rebuilt.signature() == ap.tree.signature()
    assert rebuilt.ephemerals(7) == frozenset() and rebuilt.reap_candidates(10**9) == ["/c"]


def test_nodes_handed_out_do_not_change_later(ap: Applier) -> None:
    ap(CreateTxn("/a", b"1"))
    node = ap.tree.get("/a")
    ap(SetDataTxn("/a", b"2", 1))
    ap(CreateTxn("/a/b", b""))
    assert (node.data, node.version, node.stat().num_children) == (b"1", 0, 0)
    assert ap.tree.get("/a").stat().num_children == 1
