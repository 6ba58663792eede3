"""Leader prep: requests -> deterministic txns, decided against tree + overlay."""

from __future__ import annotations

import pytest

from coordsvc.errors import (
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RuntimeInconsistency,
)
from coordsvc.request.ops import Check, Create, Delete, Multi, MultiResult, SetData
from coordsvc.request.prep import Overlay, prep_close_session, prep_reap, prep_write
from coordsvc.tree.datatree import DataTree
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
)
from coordsvc.tree.znode import NodeKind


class Leader:
    """The leader's side of prep: overlay bookkeeping, with apply under test control."""

    def __init__(self, sessions: tuple[int, ...] = (1, 2)) -> None:
        self.tree = DataTree()
        self.overlay = Overlay(self.tree)
        self.counter = 0
        self.pending: list[Txn] = []
        for sid in sessions:
            self._propose(CreateSessionTxn(sid, 10_000, b"pw"), {}, sid)
        self.apply_all()

    def _propose(self, body, changes, sid: int) -> Txn:
        self.counter += 1
        txn = Txn(make_zxid(1, self.counter), 1000 * self.counter, sid, 0, body)
        self.overlay.record(changes, txn.zxid)
        self.pending.append(txn)
        return txn

    def prep(self, op, sid: int = 1):
        """Prep and propose (unapplied); returns the txn body or a failed MultiResult."""
        body, changes = prep_write(self.overlay, op, sid)
        if isinstance(body, MultiResult):
            assert changes == {}
            return body
        return self._propose(body, changes, sid).body

    def close(self, sid: int) -> CloseSessionTxn:
        body, changes = prep_close_session(self.overlay, sid)
        return self._propose(body, changes, sid).body

    def apply_all(self) -> None:
        while self.pending:
            txn = self.pending.pop(0)
            self.tree.apply(txn)
            self.overlay.applied(txn.zxid)

    def run(self, op, sid: int = 1):
        body = self.prep(op, sid)
        self.apply_all()
        return body


def _setup() -> Leader:
    ld = Leader()
    for op in (
        Create("/a"),
        Create("/a/b"),
        SetData("/a/b", b"v1"),
        Create("/eph", ephemeral=True),
        Create("/empty"),
    ):
        ld.run(op)
    return ld


# request -> error, against: /a (v0, one child), /a/b (v1), /eph (ephemeral), /empty
ERRORS = [
    (Create("/missing/x"), NoNodeError),
    (Create("/a"), NodeExistsError),
    (Create("/a/b"), NodeExistsError),
    (Create("/eph/child"), NoChildrenForEphemeralsError),
    (Create("/eph/", sequential=True), NoChildrenForEphemeralsError),
    (Delete("/missing"), NoNodeError),
    (Delete("/a"), NotEmptyError),
    (Delete("/a/b", version=0), BadVersionError),
    (SetData("/missing", b""), NoNodeError),
    (SetData("/a/b", b"", version=0), BadVersionError),
    (SetData("/a/b", b"", version=2), BadVersionError),
    (Check("/missing"), NoNodeError),
    (Check("/a/b", version=7), BadVersionError),
]


@pytest.mark.parametrize(("op", "error"), ERRORS, ids=repr)
def test_prep_errors(op, error) -> None:
    ld = _setup()
    before = len(ld.overlay)
    with pytest.raises(error):
        ld.prep(op)
    assert len(ld.overlay) == before
    assert ld.pending == []


# request -> txn body it becomes (same fixture)
TXNS = [
    (Create("/a/c", b"d"), CreateTxn("/a/c", b"d")),
    (Create("/e2", ephemeral=True), CreateTxn("/e2", b"", NodeKind.EPHEMERAL, 1)),
    (Create("/c", container=True), CreateTxn("/c", b"", NodeKind.CONTAINER)),
    (Create("/t", ttl_ms=500), CreateTxn("/t", b"", NodeKind.TTL, 0, 500)),
    (Create("/a/", sequential=True), CreateTxn("/a/0000000001", b"")),
    (Create("/a/n-", sequential=True), CreateTxn("/a/n-0000000001", b"")),
    (Create("/", sequential=True), CreateTxn("/0000000003", b"")),
    (Delete("/a/b", version=1), DeleteTxn("/a/b")),
    (Delete("/empty"), DeleteTxn("/empty")),
    (SetData("/a/b", b"v2", version=1), SetDataTxn("/a/b", b"v2", 2)),
    (SetData("/a", b"x"), SetDataTxn("/a", b"x", 1)),
    (Check("/a/b", version=1), CheckTxn("/a/b", 1)),
    (Check("/a"), CheckTxn("/a", 0)),
]


@pytest.mark.parametrize(("op", "txn"), TXNS, ids=repr)
def test_prep_builds_txn(op, txn) -> None:
    ld = _setup()
    assert ld.prep(op) == txn
    ld.apply_all()  # and the txn fits the tree


def test_sequence_names_come_from_cversion_and_are_never_reused() -> None:
    ld = Leader()
    ld.run(Create("/q"))
    names = [ld.run(Create("/q/n-", sequential=True)).path for _ in range(3)]
    assert names == ["/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000002"]
    ld.run(Delete("/q/n-0000000002"))  # a delete bumps cversion too
    assert ld.run(Create("/q/n-", sequential=True)).path == "/q/n-0000000004"
    assert ld.tree.get("/q").cversion == 5


def test_creates_in_flight_get_distinct_names_and_see_each_other() -> None:
    ld = Leader()
    ld.run(Create("/q"))
    first = ld.prep(Create("/q/x-", sequential=True))
    second = ld.prep(Create("/q/x-", sequential=True), sid=2)
    assert (first.path, second.path) == ("/q/x-0000000000", "/q/x-0000000001")
    assert ld.prep(Create("/q/plain")).path == "/q/plain"
    with pytest.raises(NodeExistsError):
        ld.prep(Create("/q/plain"), sid=2)  # the duplicate is still in flight
    with pytest.raises(NotEmptyError):
        ld.prep(Delete("/q"))
    assert ld.prep(SetData("/q/plain", b"v")).version == 1
    assert ld.prep(Delete("/q/plain", version=1)) == DeleteTxn("/q/plain")
    with pytest.raises(NoNodeError):
        ld.prep(SetData("/q/plain", b""))
    ld.apply_all()
    assert ld.tree.children("/q") == ["x-0000000000", "x-0000000001"]
    assert len(ld.overlay) == 0


def test_overlay_applied_forgets_only_applied_changes() -> None:
    ld = Leader()
    ld.prep(Create("/a"))
    ld.prep(Create("/b"))
    assert len(ld.overlay) == 3  # /, /a, /b
    first = ld.pending.pop(0)
    ld.tree.apply(first)
    ld.overlay.applied(first.zxid)
    assert ld.overlay.has_change("/b") and ld.overlay.has_change("/")
    assert not ld.overlay.has_change("/a")
    assert ld.overlay.view("/a") is not None  # now from the tree
    ld.apply_all()
    assert len(ld.overlay) == 0
    assert ld.overlay.view("/").num_children == 2


def test_failed_multi_is_all_or_nothing_with_per_op_results() -> None:
    ld = _setup()
    before = len(ld.overlay)
    ops = (Create("/new"), SetData("/a/b", b"", version=9), Delete("/empty"))
    result = ld.prep(Multi(ops))
    assert isinstance(result, MultiResult) and result.failed
    kinds = [type(r) for r in result.results]
    assert kinds == [RuntimeInconsistency, BadVersionError, RuntimeInconsistency]
    assert [r.path for r in result.results] == ["/new", "/a/b", "/empty"]
    assert len(ld.overlay) == before and ld.pending == []
    assert ld.overlay.view("/new") is None  # the first op left no trace
    assert ld.prep(Create("/new")) == CreateTxn("/new", b"")


def test_multi_ops_see_earlier_ops_of_the_same_multi() -> None:
    ld = Leader()
    body = ld.prep(
        Multi((Create("/a"), Create("/a/b"), SetData("/a/b", b"x"), Check("/a/b", version=1)))
    )
    assert body == MultiTxn(
        (
            CreateTxn("/a", b""),
            CreateTxn("/a/b", b""),
            SetDataTxn("/a/b", b"x", 1),
            CheckTxn("/a/b", 1),
        )
    )
    ld.apply_all()
    assert ld.tree.get("/a/b").data == b"x"


def test_multi_fails_when_a_later_op_breaks_on_an_earlier_one() -> None:
    ld = Leader()
    result = ld.prep(Multi((Create("/a"), Create("/a"))))
    assert result.failed
    assert [type(r) for r in result.results] == [RuntimeInconsistency, NodeExistsError]


def test_two_sequential_creates_in_one_multi_get_distinct_names() -> None:
    ld = Leader()
    ld.run(Create("/q"))
    body = ld.prep(Multi((Create("/q/s", sequential=True), Create("/q/s", sequential=True))))
    assert [t.path for t in body.txns] == ["/q/s0000000000", "/q/s0000000001"]


def test_close_session_includes_ephemerals_created_in_flight() -> None:
    ld = Leader()
    ld.run(Create("/applied", ephemeral=True))
    ld.run(Create("/gone", ephemeral=True))
    ld.prep(Create("/d"))
    ld.prep(Create("/d/inflight", ephemeral=True))
    ld.prep(Delete("/gone"))
    ld.prep(Create("/other", ephemeral=True), sid=2)
    txn = ld.close(1)
    assert txn.paths == ("/d/inflight", "/applied")  # deepest first
    assert ld.overlay.view("/d/inflight") is None
    assert ld.overlay.view("/d").num_children == 0
    ld.apply_all()
    assert ld.tree.ephemerals(1) == frozenset() and 1 not in ld.tree.sessions
    assert ld.tree.ephemerals(2) == {"/other"}


@pytest.mark.parametrize(
    "recreate", [Create("/e", ephemeral=True), Create("/e")], ids=["ephemeral", "persistent"]
)
def test_close_session_spares_a_path_another_owner_recreated_in_flight(recreate) -> None:
    ld = Leader()
    ld.run(Create("/e", ephemeral=True), sid=1)
    ld.prep(Delete("/e"), sid=1)
    ld.prep(recreate, sid=2)  # /e now belongs (in flight) to someone else
    txn = ld.close(1)
    assert txn.paths == ()
    ld.apply_all()
    assert "/e" in ld.tree


def test_reap_deletes_idle_node_but_not_one_with_pending_changes() -> None:
    ld = Leader()
    ld.run(Create("/c", container=True))
    body, changes = prep_reap(ld.overlay, "/c")
    assert body == DeleteTxn("/c")
    assert changes["/c"] is None
    assert (changes["/"].num_children, changes["/"].cversion) == (0, 2)
    ld.prep(Create("/c/k"))  # a child is on its way
    assert prep_reap(ld.overlay, "/c") is None
    ld.apply_all()
    assert prep_reap(ld.overlay, "/c") is None  # has a child
    assert prep_reap(ld.overlay, "/missing") is None
    ld.prep(Delete("/c/k"))
    assert prep_reap(ld.overlay, "/c") is None  # the delete is still in flight
    ld.apply_all()
    assert prep_reap(ld.overlay, "/c") is not None
    ld.prep(SetData("/c", b""))
    assert prep_reap(ld.overlay, "/c") is None
