"""SessionTracker: expiry buckets rounded up to the tick, time handed in by the caller."""

from __future__ import annotations

import itertools

import pytest

from coordsvc.session.tracker import SessionTracker, clamp_timeout


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(0, 4000), (-5, 4000), (3999, 4000), (4000, 4000), (10_000, 10_000), (40_000, 40_000)]
    + [(40_001, 40_000), (10**12, 40_000)],
)
def test_clamp_timeout(requested: int, expected: int) -> None:
    assert clamp_timeout(requested, 4000, 40_000) == expected


@pytest.mark.parametrize(
    ("tick", "timeout", "now", "deadline"),
    [
        (1000, 5000, 0, 6000),  # on a tick boundary: the next one
        (1000, 5000, 1, 6000),
        (1000, 5000, 999, 6000),
        (1000, 5000, 1000, 7000),
        (2000, 3000, 0, 4000),
        (2000, 3000, 500, 4000),
        (2000, 3000, 1001, 6000),
        (1, 10, 5, 16),
    ],
)
def test_deadline_is_rounded_up_to_the_tick(tick: int, timeout: int, now: int, deadline: int):
    tr = SessionTracker(tick)
    tr.add(7, timeout, now)
    assert tr.deadline(7) == deadline
    assert deadline % tick == 0
    assert now + timeout < deadline <= now + timeout + tick


def test_touch_moves_the_deadline() -> None:
    tr = SessionTracker(1000)
    tr.add(1, 5000, 0)
    assert tr.touch(1, 2500) is True
    assert tr.deadline(1) == 8000
    assert tr.expired(6000) == []
    assert tr.expired(8000) == [1]


def test_touch_of_unknown_session_is_false() -> None:
    tr = SessionTracker(1000)
    assert tr.touch(99, 0) is False
    assert 99 not in tr and tr.deadline(99) is None


def test_sessions_in_one_bucket_expire_together_sorted() -> None:
    tr = SessionTracker(1000)
    for sid, now in ((3, 100), (1, 900), (2, 0)):
        tr.add(sid, 5000, now)
    tr.add(4, 9000, 0)
    assert tr.expired(5999) == []
    assert tr.expired(6000) == [1, 2, 3]
    assert len(tr) == 1 and 4 in tr and 1 not in tr


def test_expired_returns_each_session_exactly_once() -> None:
    tr = SessionTracker(1000)
    tr.add(1, 2000, 0)
    tr.add(2, 4000, 0)
    assert tr.expired(10_000) == [1, 2]  # overdue buckets come out in deadline order
    assert tr.expired(10_000) == []
    assert tr.expired(20_000) == []
    assert tr.touch(1, 20_000) is False  # no longer tracked


def test_remove_stops_tracking() -> None:
    tr = SessionTracker(1000)
    tr.add(1, 2000, 0)
    tr.add(2, 2000, 0)
    tr.remove(1)
    tr.remove(1)  # twice is harmless
    assert tr.expired(10_000) == [2]
    assert len(tr) == 0


@pytest.mark.parametrize("tick", [0, -1])
def test_tick_must_be_positive(tick: int) -> None:
    with pytest.raises(ValueError):
        SessionTracker(tick)


@pytest.mark.parametrize(
    ("tick", "timeout", "touches", "step"),
    list(
        itertools.product(
            [1000, 2000, 3],
            [4000, 5001, 10],
            [(0,), (0, 1999), (1234, 2500, 2501)],
            [1, 7, 250],
        )
    ),
)
def test_expiry_within_timeout_plus_one_tick_of_last_touch(tick, timeout, touches, step) -> None:
    """Drive time forward in small steps; the session expires after timeout, by +1 tick."""
    tr = SessionTracker(tick)
    tr.add(1, timeout, touches[0])
    for t in touches[1:]:
        tr.touch(1, t)
    last = touches[-1]
    seen = []
    now = last
    while now <= last + timeout + tick + step:
        seen += [(now, sid) for sid in tr.expired(now)]
        now += step
    assert len(seen) == 1, seen
    when, sid = seen[0]
    assert sid == 1
    assert when > last + timeout  # never before the timeout
    deadline_bound = last + timeout + tick
    assert when < deadline_bound + step  # at the first look after the bucket closes
