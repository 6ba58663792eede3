"""Watch semantics: the WatchTable as a table, then watches set and removed through the pipeline."""

from __future__ import annotations

import pytest
from pipeline_driver import Driver

from coordsvc.request.events import Notify
from coordsvc.request.ops import (
    AddWatch,
    CloseSession,
    Create,
    Delete,
    GetChildren,
    GetData,
    RemoveWatches,
    SetData,
)
from coordsvc.request.pipeline import PipelineConfig
from coordsvc.tree import datatree as dt
from coordsvc.tree.watches import CHILD, DATA, KINDS, PERSISTENT, PERSISTENT_RECURSIVE, WatchTable

CREATED, CHANGED, DELETED = dt.NODE_CREATED, dt.NODE_DATA_CHANGED, dt.NODE_DELETED
CHILDREN = dt.NODE_CHILDREN_CHANGED
ALL_EVENTS = (CREATED, CHANGED, DELETED, CHILDREN)

# (watches registered, event) -> (sessions notified, watches remaining)
CASES = [
    # one-shot data watch: created / changed / deleted, fires once and is gone
    ([(1, "/a", DATA)], (CREATED, "/a"), [1], []),
    ([(1, "/a", DATA)], (CHANGED, "/a"), [1], []),
    ([(1, "/a", DATA)], (DELETED, "/a"), [1], []),
    ([(1, "/a", DATA)], (CHILDREN, "/a"), [], [(1, "/a", DATA)]),
    ([(1, "/a", DATA)], (CHANGED, "/b"), [], [(1, "/a", DATA)]),
    ([(1, "/a", DATA)], (CHANGED, "/a/b"), [], [(1, "/a", DATA)]),
    # one-shot child watch: children-changed and deleted
    ([(1, "/a", CHILD)], (CHILDREN, "/a"), [1], []),
    ([(1, "/a", CHILD)], (DELETED, "/a"), [1], []),
    ([(1, "/a", CHILD)], (CHANGED, "/a"), [], [(1, "/a", CHILD)]),
    ([(1, "/a", CHILD)], (CREATED, "/a"), [], [(1, "/a", CHILD)]),
    ([(1, "/a", CHILD)], (CHILDREN, "/a/b"), [], [(1, "/a", CHILD)]),
    # a child event consumes only the child watch, not the data watch
    ([(1, "/a", DATA), (1, "/a", CHILD)], (CHILDREN, "/a"), [1], [(1, "/a", DATA)]),
    ([(1, "/a", DATA), (1, "/a", CHILD)], (DELETED, "/a"), [1], []),
    # persistent: every event type at its path, and it stays
    ([(1, "/a", PERSISTENT)], (CREATED, "/a"), [1], [(1, "/a", PERSISTENT)]),
    ([(1, "/a", PERSISTENT)], (CHANGED, "/a"), [1], [(1, "/a", PERSISTENT)]),
    ([(1, "/a", PERSISTENT)], (DELETED, "/a"), [1], [(1, "/a", PERSISTENT)]),
    ([(1, "/a", PERSISTENT)], (CHILDREN, "/a"), [1], [(1, "/a", PERSISTENT)]),
    ([(1, "/a", PERSISTENT)], (CREATED, "/a/b"), [], [(1, "/a", PERSISTENT)]),
    # recursive: the path and descendants at any depth, never children-changed
    ([(1, "/a", PERSISTENT_RECURSIVE)], (CHANGED, "/a"), [1], [(1, "/a", PERSISTENT_RECURSIVE)]),
    (
        [(1, "/a", PERSISTENT_RECURSIVE)],
        (CREATED, "/a/b/c/d"),
        [1],
        [(1, "/a", PERSISTENT_RECURSIVE)],
    ),
    ([(1, "/a", PERSISTENT_RECURSIVE)], (DELETED, "/a/b"), [1], [(1, "/a", PERSISTENT_RECURSIVE)]),
    ([(1, "/a", PERSISTENT_RECURSIVE)], (CHILDREN, "/a"), [], [(1, "/a", PERSISTENT_RECURSIVE)]),
    ([(1, "/a", PERSISTENT_RECURSIVE)], (CHILDREN, "/a/b"), [], [(1, "/a", PERSISTENT_RECURSIVE)]),
    ([(1, "/a", PERSISTENT_RECURSIVE)], (CREATED, "/ab"), [], [(1, "/a", PERSISTENT_RECURSIVE)]),
    ([(1, "/a", PERSISTENT_RECURSIVE)], (CREATED, "/"), [], [(1, "/a", PERSISTENT_RECURSIVE)]),
    ([(1, "/", PERSISTENT_RECURSIVE)], (CHANGED, "/x/y"), [1], [(1, "/", PERSISTENT_RECURSIVE)]),
    # one notification per session per event, however many watches match
    (
        [(1, "/a", DATA), (1, "/a", PERSISTENT), (1, "/", PERSISTENT_RECURSIVE)],
        (CHANGED, "/a"),
        [1],
        [(1, "/", PERSISTENT_RECURSIVE), (1, "/a", PERSISTENT)],
    ),
    (
        [(1, "/a", DATA), (1, "/a", CHILD)],
        (DELETED, "/a"),
        [1],
        [],
    ),
    # several sessions: each notified once, sorted
    (
        [(3, "/a", DATA), (1, "/a", PERSISTENT), (2, "/", PERSISTENT_RECURSIVE), (4, "/b", DATA)],
        (CHANGED, "/a"),
        [1, 2, 3],
        [(1, "/a", PERSISTENT), (2, "/", PERSISTENT_RECURSIVE), (4, "/b", DATA)],
    ),
]


@pytest.mark.parametrize(("watches", "event", "notified", "remaining"), CASES)
def test_trigger(watches, event, notified, remaining) -> None:
    table = WatchTable()
    for sid, path, kind in watches:
        table.add(sid, path, kind)
    assert table.trigger(*event) == notified
    assert table.listing() == sorted(remaining)
    assert table.count() == len(remaining)
    for sid in {w[0] for w in watches}:
        assert table.session_count(sid) == sum(1 for r in remaining if r[0] == sid)


@pytest.mark.parametrize("kind", [DATA, CHILD])
def test_one_shot_fires_once(kind: str) -> None:
    table = WatchTable()
    table.add(1, "/a", kind)
    assert table.trigger(DELETED, "/a") == [1]
    assert table.trigger(DELETED, "/a") == []


@pytest.mark.parametrize("kind", [PERSISTENT, PERSISTENT_RECURSIVE])
def test_persistent_keeps_firing(kind: str) -> None:
    table = WatchTable()
    table.add(1, "/a", kind)
    for event in (CREATED, CHANGED, CHANGED, DELETED, CREATED):
        assert table.trigger(event, "/a") == [1]
    assert table.count() == 1


def test_adding_the_same_watch_twice_keeps_one() -> None:
    table = WatchTable()
    table.add(1, "/a", DATA)
    table.add(1, "/a", DATA)
    assert table.count() == 1
    assert table.session_count(1) == 1


@pytest.mark.parametrize(
    ("kinds", "removed", "remaining"),
    [
        (KINDS, True, []),
        ((DATA,), True, [(1, "/a", CHILD), (1, "/a", PERSISTENT)]),
        ((CHILD, PERSISTENT), True, [(1, "/a", DATA)]),
        (
            (PERSISTENT_RECURSIVE,),
            False,
            [(1, "/a", CHILD), (1, "/a", DATA), (1, "/a", PERSISTENT)],
        ),
    ],
)
def test_remove_by_kind(kinds, removed: bool, remaining) -> None:
    table = WatchTable()
    for kind in (DATA, CHILD, PERSISTENT):
        table.add(1, "/a", kind)
    table.add(2, "/a", DATA)
    assert table.remove(1, "/a", kinds) is removed
    assert [w for w in table.listing() if w[0] == 1] == remaining
    assert table.session_count(1) == len(remaining)
    assert (2, "/a", DATA) in table.listing()


def test_remove_of_unknown_watch_is_false() -> None:
    table = WatchTable()
    table.add(1, "/a", DATA)
    assert table.remove(1, "/b") is False
    assert table.remove(2, "/a") is False
    assert table.count() == 1


def test_remove_session_drops_only_that_session() -> None:
    table = WatchTable()
    for kind in KINDS:
        table.add(1, "/a", kind)
        table.add(2, "/a", kind)
    table.add(1, "/b/c", DATA)
    table.remove_session(1)
    assert table.session_count(1) == 0
    assert all(sid == 2 for sid, _, _ in table.listing())
    assert table.count() == len(KINDS)
    for event in ALL_EVENTS:
        assert 1 not in table.trigger(event, "/a")


def test_listing_is_sorted_by_session_path_kind() -> None:
    table = WatchTable()
    table.add(2, "/b", DATA)
    table.add(1, "/z", CHILD)
    table.add(1, "/a", PERSISTENT)
    assert table.listing() == [(1, "/a", PERSISTENT), (1, "/z", CHILD), (2, "/b", DATA)]


# ---- through the pipeline ------------------------------------------------

CFG = PipelineConfig(tick_ms=1000)


def test_recursive_watch_sees_descendants_until_session_closes() -> None:
    d = Driver(CFG)
    w, _ = d.connect()
    sid, _ = d.connect()
    d.ok(w, AddWatch("/r", recursive=True))
    for op in (Create("/r"), Create("/r/a"), Create("/r/a/b"), SetData("/r/a/b", b"1")):
        d.ok(sid, op)
    assert [(n.event.type, n.event.path) for n in d.of_type(Notify)] == [
        (CREATED, "/r"),
        (CREATED, "/r/a"),
        (CREATED, "/r/a/b"),
        (CHANGED, "/r/a/b"),
    ]
    d.ok(w, CloseSession())
    d.ok(sid, Delete("/r/a/b"))
    assert len(d.of_type(Notify)) == 4


@pytest.mark.parametrize(
    ("kind", "left"),
    [
        ("any", []),
        ("data", ["child", "persistent"]),
        ("children", ["data", "persistent"]),
        ("persistent", ["child", "data"]),
        ("persistent_recursive", ["child", "data", "persistent"]),
    ],
)
def test_remove_watches_by_kind(kind: str, left: list[str]) -> None:
    d = Driver(CFG)
    sid, _ = d.connect()
    d.ok(sid, Create("/a"))
    for op in (GetData("/a", watch=True), GetChildren("/a", watch=True), AddWatch("/a")):
        d.ok(sid, op)
    d.ok(sid, RemoveWatches("/a", kind))
    assert [k for _, _, k in d.pipeline.watches.listing()] == left
