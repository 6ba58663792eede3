"""Session expiry: which sessions have gone silent for longer than their timeout.

Deadlines are rounded up to the next multiple of the tick, so sessions fall
into buckets that one tick expires together (ZooKeeper's expiry queue); a
silent session is expired within its timeout plus one tick. Time is handed
in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

__all__ = ["SessionTracker", "clamp_timeout"]


def clamp_timeout(requested_ms: int, min_ms: int, max_ms: int) -> int:
    """The negotiated session timeout: the request clamped to [min, max]."""
    return max(min_ms, min(max_ms, requested_ms))


class SessionTracker:
    """Expiry buckets keyed by deadline (a multiple of tick_ms)."""

    def __init__(self, tick_ms: int) -> None:
        if tick_ms <= 0:
            raise ValueError("tick_ms must be positive")
        self.tick_ms = tick_ms
        self._timeout: dict[int, int] = {}
        self._deadline: dict[int, int] = {}
        self._buckets: dict[int, set[int]] = {}

    def _bucket(self, t_ms: int) -> int:
        return (t_ms // self.tick_ms + 1) * self.tick_ms

    def add(self, session_id: int, timeout_ms: int, now_ms: int) -> None:
        self._timeout[session_id] = timeout_ms
        self.touch(session_id, now_ms)

    def touch(self, session_id: int, now_ms: int) -> bool:
        """Push the session's deadline out; False if the session is not tracked."""
        timeout = self._timeout.get(session_id)
        if timeout is None:
            return False
        deadline = self._bucket(now_ms + timeout)
        old = self._deadline.get(session_id)
        if old == deadline:
            return True
        if old is not None:
            self._drop_from_bucket(session_id, old)
        self._deadline[session_id] = deadline
        self._buckets.setdefault(deadline, set()).add(session_id)
        return True

    def remove(self, session_id: int) -> None:
        self._timeout.pop(session_id, None)
        old = self._deadline.pop(session_id, None)
        if old is not None:
            self._drop_from_bucket(session_id, old)

    def _drop_from_bucket(self, session_id: int, deadline: int) -> None:
        bucket = self._buckets.get(deadline)
        if bucket is not None:
            bucket.discard(session_id)
            if not bucket:
                del self._buckets[deadline]

    def expired(self, now_ms: int) -> list[int]:
        """Sessions whose deadline has passed; they stop being tracked."""
        due = sorted(d for d in self._buckets if d <= now_ms)
        out: list[int] = []
        for d in due:
            out.extend(sorted(self._buckets.pop(d)))
        for sid in out:
            self._timeout.pop(sid, None)
            self._deadline.pop(sid, None)
        return out

    def deadline(self, session_id: int) -> int | None:
        return self._deadline.get(session_id)

    def __contains__(self, session_id: int) -> bool:
        return session_id in self._timeout

    def __len__(self) -> int:
        return len(self._timeout)
