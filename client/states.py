"""Connection states: the three a user reacts to and the five the SDK runs in.

Users see ``KazooState``: CONNECTED, SUSPENDED (the connection is gone but the
session may live; a lock or leadership must not be trusted now) and LOST (the
session is gone, or the client is not started). The SDK itself moves through
``SessionState``; each internal state maps to one user state, and listeners
hear only changes of the user state.

``StateTracker`` is pure: it checks transitions against one table and calls
listeners inline, so it is tested without an event loop.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

__all__ = ["KazooState", "SessionState", "StateTracker", "USER_STATE", "TRANSITIONS"]

log = logging.getLogger(__name__)


class KazooState(enum.StrEnum):
    """What a user reacts to (kazoo's names)."""

    CONNECTED = "CONNECTED"
    SUSPENDED = "SUSPENDED"
    LOST = "LOST"


class SessionState(enum.StrEnum):
    """Where the SDK's session machine is."""

    CONNECTING = "CONNECTING"  # looking for a server to open a new session
    CONNECTED = "CONNECTED"  # a live stream carries the session
    SUSPENDED = "SUSPENDED"  # the stream is gone; reconnecting within the timeout
    EXPIRED = "EXPIRED"  # the session is gone for good (ephemerals deleted)
    CLOSED = "CLOSED"  # stopped by the user, or never started


USER_STATE: dict[SessionState, KazooState] = {
    SessionState.CONNECTING: KazooState.LOST,
    SessionState.CONNECTED: KazooState.CONNECTED,
    SessionState.SUSPENDED: KazooState.SUSPENDED,
    SessionState.EXPIRED: KazooState.LOST,
    SessionState.CLOSED: KazooState.LOST,
}

S = SessionState
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.CLOSED: frozenset({S.CONNECTING}),
    S.CONNECTING: frozenset({S.CONNECTED, S.EXPIRED, S.CLOSED}),
    S.CONNECTED: frozenset({S.SUSPENDED, S.EXPIRED, S.CLOSED}),
    S.SUSPENDED: frozenset({S.CONNECTED, S.EXPIRED, S.CLOSED}),
    S.EXPIRED: frozenset({S.CONNECTING, S.CLOSED}),
}
del S

Listener = Callable[[KazooState], object]
Observer = Callable[[SessionState, "KazooState | None"], None]


class StateTracker:
    """The current SessionState plus the listeners told of user-state changes.

    Listener contract: ``fn(state)`` runs inline and must not block; returning
    True unregisters it; an exception is logged and never reaches the SDK.
    """

    def __init__(self) -> None:
        self._state = SessionState.CLOSED
        self._listeners: list[Listener] = []
        self._observers: list[Observer] = []

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def user_state(self) -> KazooState:
        return USER_STATE[self._state]

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(KazooState)`` on every user-state change (once per fn)."""
        if not callable(fn):
            raise TypeError("listener must be callable")
        if fn not in self._listeners:
            self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn``; unknown listeners are ignored."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def observe(self, fn: Observer) -> Callable[[], None]:
        """SDK-internal: ``fn(new_state, changed_user_state_or_None)`` on every move."""
        self._observers.append(fn)
        return lambda: self._observers.remove(fn) if fn in self._observers else None

    def transition(self, new: SessionState) -> KazooState | None:
        """Move to ``new``; return the new user state if it changed, else None.

        A move to the current state is a no-op; a move the table forbids is a
        bug in the SDK and raises ValueError.
        """
        old = self._state
        if new == old:
            return None
        if new not in TRANSITIONS[old]:
            raise ValueError(f"illegal session state transition {old} -> {new}")
        self._state = new
        before, after = USER_STATE[old], USER_STATE[new]
        changed = after if after != before else None
        for obs in list(self._observers):
            obs(new, changed)
        if changed is not None:
            self._notify(changed)
        return changed

    def _notify(self, state: KazooState) -> None:
        for fn in list(self._listeners):
            try:
                remove = fn(state)
            except Exception:
                log.exception("state listener %r raised; ignored", fn)
                continue
            if remove is True:
                self.remove_listener(fn)
