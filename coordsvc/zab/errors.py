"""The three ways the ZAB core can say no (h11's split, plus TigerBeetle's stop).

- ``PeerProtocolError``: a peer sent something that cannot happen in our state
  from that peer (an observer acking, a vote naming a non-voter). The core
  drops the message and reports the error in ``Ready.protocol_errors`` for
  the driver to log; it never raises it.
- ``UsageError``: the driver called the core wrongly (stepped between
  ``ready()`` and ``advance()``, reported a persist mark it was never given).
  A bug in the driver; raised.
- ``InvariantViolation``: the replicated state is inconsistent (a truncation
  below the committed point, a gap in a leader's log). Raised; the node must
  stop rather than guess. It is the tree's class, so a driver catches one.
"""

from __future__ import annotations

from coordsvc.tree.datatree import InvariantViolation as _TreeInvariantViolation

__all__ = ["PeerProtocolError", "UsageError", "InvariantViolation"]


class PeerProtocolError(Exception):
    """A remote peer misbehaved; reported as a value, the message is dropped."""

    def __init__(self, sender: int, message: object, reason: str) -> None:
        self.sender = sender
        self.message = message
        self.reason = reason
        super().__init__(f"from {sender}: {reason}: {message!r}")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PeerProtocolError)
            and (self.sender, self.reason) == (other.sender, other.reason)
            and self.message == other.message
        )

    def __hash__(self) -> int:
        return hash((self.sender, self.reason))


class UsageError(Exception):
    """The driver used the core wrongly (a bug in the caller)."""


class InvariantViolation(_TreeInvariantViolation):
    """A ZAB invariant is broken; stop the node."""
