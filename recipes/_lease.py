"""Lease: what a contender holds (a lock, a leadership, a semaphore lease).

A lease carries the fencing token (the czxid of the contender's node) and
tells its holder when it is no longer safe to act on:

- ``suspended``: the connection is gone but the session may live. The lease
  is not safe (``is_safe()`` is False); it becomes safe again if the same
  session resumes.
- ``lost``: the lease is over for good: the session was LOST, the node was
  deleted by someone else, the recipe was told to treat SUSPENDED as loss,
  or the holder released it. ``reason`` says which.

``Lease`` is the asyncio form (``lost`` is an ``asyncio.Event``);
``SyncLease`` mirrors it for threads (``lost`` is a ``threading.Event``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["Lease", "SyncLease", "RELEASED", "SESSION_LOST", "NODE_DELETED", "SUSPENDED"]

RELEASED = "released"
SESSION_LOST = "session lost"
NODE_DELETED = "node deleted"
SUSPENDED = "connection suspended"


class Lease:
    """One holding of a recipe; see the module doc."""

    def __init__(self, node: str, fencing_token: int) -> None:
        self.node = node
        self.fencing_token = fencing_token
        self.lost = asyncio.Event()
        self.reason: str | None = None
        self.suspended = False
        self._observers: list[Callable[[Lease], object]] = []

    def __repr__(self) -> str:
        state = f"lost ({self.reason})" if self.is_lost() else "held"
        return f"<Lease {self.node} token={self.fencing_token:#x} {state}>"

    def is_lost(self) -> bool:
        return self.lost.is_set()

    def is_safe(self) -> bool:
        """True while held on a live connection: act on the lease only then."""
        return not self.lost.is_set() and not self.suspended

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Wait until the lease is lost; False if ``timeout`` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.lost.wait()
        return self.lost.is_set()

    def observe(self, fn: Callable[[Lease], object]) -> None:
        """Call ``fn(lease)`` on the loop after every change (suspended, resumed, lost)."""
        self._observers.append(fn)

    def _set_suspended(self, suspended: bool) -> None:
        if self.is_lost() or self.suspended == suspended:
            return
        self.suspended = suspended
        self._changed()

    def _end(self, reason: str) -> None:
        if self.is_lost():
            return
        self.reason = reason
        self.lost.set()
        self._changed()

    def _changed(self) -> None:
        for fn in list(self._observers):
            fn(self)


class SyncLease:
    """A Lease seen from a plain thread: ``lost`` is a ``threading.Event``."""

    def __init__(self, lease: Lease) -> None:
        self._lease = lease
        self.lost = threading.Event()
        lease.observe(self._update)
        self._update(lease)

    def _update(self, lease: Lease) -> None:
        if lease.is_lost():
            self.lost.set()

    def __repr__(self) -> str:
        return repr(self._lease).replace("<Lease", "<SyncLease", 1)

    node = property(lambda self: self._lease.node)
    fencing_token = property(lambda self: self._lease.fencing_token)
    reason = property(lambda self: self._lease.reason)
    suspended = property(lambda self: self._lease.suspended)

    def is_lost(self) -> bool:
        return self.lost.is_set()

    def is_safe(self) -> bool:
        return not self.lost.is_set() and not self._lease.suspended

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the lease is lost; False if ``timeout`` passed first."""
        return self.lost.wait(timeout)
