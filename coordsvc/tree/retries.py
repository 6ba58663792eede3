"""The results of a session's recent writes, so that a retried write is answered, not re-applied.

A client resends a write it got no answer for with the same (session id,
xid). The tree records, as it applies committed txns, the result of each
session write under that key; a leader (or a standalone server) that meets
the key again answers with the recorded result and zxid instead of making a
second txn (a second sequential node). The table is part of the replicated
state: a pure function of the committed txns, kept in snapshots and sent with
a SNAP, so a new leader or a restarted server has the same entries.

Bounds, per session: the newest ``PER_SESSION`` results, and none older (by
the txns' own clocks) than ``KEEP_TIMEOUTS`` session timeouts before the
session's newest write: a client only resends what it sent within about one
session timeout before reconnecting. A session's entries go when it ends.
The bounds are constants, not settings: every replica must prune alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordsvc.request.ops import Result

__all__ = ["AppliedWrites", "KeptResult", "PER_SESSION", "KEEP_TIMEOUTS"]

PER_SESSION = 1024
KEEP_TIMEOUTS = 2


@dataclass(frozen=True, slots=True)
class KeptResult:
    """What a write's first application produced."""

    zxid: int
    time_ms: int
    result: Result


class AppliedWrites:
    """(session id, xid) -> KeptResult for recent writes; see the module doc."""

    def __init__(self, per_session: int = PER_SESSION, keep_timeouts: int = KEEP_TIMEOUTS) -> None:
        if per_session < 1:
            raise ValueError("per_session must be at least 1")
        self.per_session = per_session
        self.keep_timeouts = keep_timeouts
        self._by_session: dict[int, dict[int, KeptResult]] = {}

    def record(self, session_id: int, xid: int, applied: KeptResult, timeout_ms: int) -> None:
        """Remember a committed write's result (session-less and internal txns are not kept)."""
        if session_id == 0 or xid <= 0:
            return
        kept = self._by_session.setdefault(session_id, {})
        kept[xid] = applied
        oldest = applied.time_ms - self.keep_timeouts * timeout_ms
        while kept:  # insertion order is commit order
            first_xid = next(iter(kept))
            first = kept[first_xid]
            if len(kept) <= self.per_session and first.time_ms >= oldest:
                break
            del kept[first_xid]

    def lookup(self, session_id: int, xid: int) -> KeptResult | None:
        """The recorded result of (session_id, xid), if it is still kept."""
        kept = self._by_session.get(session_id)
        return kept.get(xid) if kept is not None else None

    def last_xid(self, session_id: int) -> int:
        """The highest xid kept for the session (0: none).

        A client resuming the session from a new process continues above it,
        so none of its new writes is mistaken for a retry of a kept one.
        """
        kept = self._by_session.get(session_id)
        return max(kept) if kept else 0

    def forget(self, session_id: int) -> None:
        """The session ended: its results can no longer be asked for."""
        self._by_session.pop(session_id, None)

    def image(self) -> dict[int, dict[int, KeptResult]]:
        """A copy of every kept result, by session then xid (for a snapshot)."""
        return {sid: dict(kept) for sid, kept in self._by_session.items()}

    @classmethod
    def from_image(cls, image: dict[int, dict[int, KeptResult]]) -> AppliedWrites:
        table = cls()
        table._by_session = {sid: dict(kept) for sid, kept in image.items() if kept}
        return table

    def signature(self) -> tuple:
        """Equal for two tables exactly when they keep the same results."""
        return tuple(
            (sid, tuple(sorted(kept.items()))) for sid, kept in sorted(self._by_session.items())
        )

    def __len__(self) -> int:
        return sum(len(k) for k in self._by_session.values())
