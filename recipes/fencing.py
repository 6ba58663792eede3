"""Fencing tokens on the resource side: refuse writes from a stale lock holder.

A lock holder can lose its lock without knowing it yet (a long GC pause, a
partition longer than the session timeout): by then a successor holds the
lock. Every lock and leadership hands out a fencing token (the czxid of the
holder's node) that strictly increases from one holder to the next. The
resource remembers the highest token it has accepted and refuses any lower
one, so the stale holder's late writes bounce.

Example::

    from coordsvc.client import Client
    from coordsvc.recipes import Lock, StaleTokenError, TokenGuard

    guard = TokenGuard()              # lives with the resource
    with Client("127.0.0.1:2181") as client:
        lock = Lock(client, "/locks/storage")
        with lock:
            token = lock.fencing_token
            guard.check(token)        # the write carries the token
        with lock:
            guard.check(lock.fencing_token)  # the next holder: higher, accepted
        try:
            guard.check(token)        # a late write of the earlier holder
        except StaleTokenError as err:
            print("refused:", err)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["StaleTokenError", "TokenGuard"]

T = TypeVar("T")


class StaleTokenError(Exception):
    """A write carried a fencing token older than one the resource already accepted."""

    def __init__(self, token: int, highest: int) -> None:
        super().__init__(
            f"stale fencing token {token:#x}: the resource already accepted {highest:#x} "
            "(the lock moved on to a newer holder)"
        )
        self.token = token
        self.highest = highest


class TokenGuard:
    """The highest fencing token a resource accepted; older tokens are refused.

    Thread-safe. ``check(token)`` accepts a token equal to the highest (the
    same holder writing again) or higher (a new holder), and raises
    StaleTokenError for a lower one. ``guarded(token, fn, *args)`` runs
    ``fn`` under the guard's lock only if the token passes, so the check and
    the write cannot interleave with another holder's.
    """

    def __init__(self, highest: int = 0) -> None:
        self._highest = highest
        self._lock = threading.Lock()

    @property
    def highest(self) -> int:
        return self._highest

    def check(self, token: int | None) -> int:
        """Accept ``token`` (and remember it) or raise StaleTokenError."""
        with self._lock:
            return self._accept(token)

    def guarded(self, token: int | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Check ``token`` and, if it passes, call ``fn`` while no other check runs."""
        with self._lock:
            self._accept(token)
            return fn(*args, **kwargs)

    def _accept(self, token: int | None) -> int:
        if token is None or isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"a fencing token is an int, not {token!r} (is the lock held?)")
        if token < self._highest:
            raise StaleTokenError(token, self._highest)
        self._highest = token
        return token
