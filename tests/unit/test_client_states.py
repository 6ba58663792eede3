"""The session-state table and the listener contract."""

from __future__ import annotations

import logging

import pytest
from coordsvc.client.states import (
    TRANSITIONS,
    KazooState,
    SessionState,
    StateTracker,
)

S, K = SessionState, KazooState


def tracker_at(*path: SessionState) -> StateTracker:
    t = StateTracker()
    for state in path:
        t.transition(state)
    return t


# (way to reach the start state, next state, user state announced or None)
CASES = [
    ((), S.CONNECTING, None),  # LOST -> LOST: nothing to tell
    ((S.CONNECTING,), S.CONNECTED, K.CONNECTED),
    ((S.CONNECTING,), S.CLOSED, None),
    ((S.CONNECTING,), S.EXPIRED, None),  # resuming a dead session
    ((S.CONNECTING, S.CONNECTED), S.SUSPENDED, K.SUSPENDED),
    ((S.CONNECTING, S.CONNECTED), S.EXPIRED, K.LOST),
    ((S.CONNECTING, S.CONNECTED), S.CLOSED, K.LOST),
    ((S.CONNECTING, S.CONNECTED, S.SUSPENDED), S.CONNECTED, K.CONNECTED),
    ((S.CONNECTING, S.CONNECTED, S.SUSPENDED), S.EXPIRED, K.LOST),
    ((S.CONNECTING, S.CONNECTED, S.SUSPENDED), S.CLOSED, K.LOST),
    ((S.CONNECTING, S.CONNECTED, S.EXPIRED), S.CLOSED, None),
    ((S.CONNECTING, S.CONNECTED, S.EXPIRED), S.CONNECTING, None),
    ((S.CONNECTING, S.CLOSED), S.CONNECTING, None),
]


@pytest.mark.parametrize(("path", "new", "announced"), CASES)
def test_allowed_transitions(path: tuple, new: SessionState, announced: KazooState | None) -> None:
    t = tracker_at(*path)
    heard: list[KazooState] = []
    t.add_listener(heard.append)
    assert t.transition(new) == announced
    assert t.state is new
    assert heard == ([announced] if announced else [])


def test_every_other_transition_is_refused() -> None:
    reach = {
        S.CLOSED: (),
        S.CONNECTING: (S.CONNECTING,),
        S.CONNECTED: (S.CONNECTING, S.CONNECTED),
        S.SUSPENDED: (S.CONNECTING, S.CONNECTED, S.SUSPENDED),
        S.EXPIRED: (S.CONNECTING, S.CONNECTED, S.EXPIRED),
    }
    refused = 0
    for old, allowed in TRANSITIONS.items():
        for new in SessionState:
            if new in allowed or new is old:
                continue
            t = tracker_at(*reach[old])
            with pytest.raises(ValueError, match="illegal"):
                t.transition(new)
            assert t.state is old
            refused += 1
    assert refused > 5


def test_same_state_is_a_no_op() -> None:
    t = tracker_at(S.CONNECTING, S.CONNECTED)
    heard: list[KazooState] = []
    t.add_listener(heard.append)
    assert t.transition(S.CONNECTED) is None
    assert heard == []


def test_listener_returning_true_is_removed() -> None:
    t = tracker_at(S.CONNECTING)
    once: list[KazooState] = []
    always: list[KazooState] = []

    def listen_once(state: KazooState) -> bool:
        once.append(state)
        return True

    t.add_listener(listen_once)
    t.add_listener(always.append)
    t.transition(S.CONNECTED)
    t.transition(S.SUSPENDED)
    assert once == [K.CONNECTED]
    assert always == [K.CONNECTED, K.SUSPENDED]


def test_listener_exception_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    t = tracker_at(S.CONNECTING)
    after: list[KazooState] = []

    def broken(state: KazooState) -> None:
        raise RuntimeError("listener bug")

    t.add_listener(broken)
    t.add_listener(after.append)
    with caplog.at_level(logging.ERROR):
        t.transition(S.CONNECTED)
    assert after == [K.CONNECTED]  # later listeners still ran
    assert "listener bug" in caplog.text
    assert t.state is S.CONNECTED


def test_listeners_added_once_and_removable() -> None:
    t = tracker_at(S.CONNECTING)
    heard: list[KazooState] = []
    t.add_listener(heard.append)
    t.add_listener(heard.append)
    t.transition(S.CONNECTED)
    t.remove_listener(heard.append)
    t.remove_listener(heard.append)  # unknown: ignored
    t.transition(S.SUSPENDED)
    assert heard == [K.CONNECTED]
    with pytest.raises(TypeError):
        t.add_listener("not callable")  # type: ignore[arg-type]


def test_observers_see_every_internal_move() -> None:
    t = StateTracker()
    seen: list[tuple] = []
    stop = t.observe(lambda new, user: seen.append((new, user)))
    t.transition(S.CONNECTING)
    t.transition(S.CONNECTED)
    stop()
    t.transition(S.CLOSED)
    assert seen == [(S.CONNECTING, None), (S.CONNECTED, K.CONNECTED)]
