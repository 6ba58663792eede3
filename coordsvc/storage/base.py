"""The storage contract between the pure core and the disk.

As in etcd's raft, the core only *reads* storage (what was durable when it
started); the driver does the writes, off the event loop, and reports
``Persisted(zxid)`` back to the core once they are synced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordsvc.tree.txn import Txn

__all__ = ["InitialState", "Storage", "StorageError", "StorageFullError", "CompactedError"]


class StorageError(Exception):
    """The store is damaged or cannot be written; the message names the file."""


class StorageFullError(StorageError):
    """The store has no room for the batch; nothing of it was written."""


class CompactedError(StorageError):
    """The requested entries are older than the retained log."""


@dataclass(frozen=True, slots=True)
class InitialState:
    accepted_epoch: int
    current_epoch: int
    snapshot_zxid: int
    snapshot: bytes | None  # encoded tree snapshot, or None for an empty tree
    last_zxid: int


class Storage(Protocol):
    """Read side (for the core) and write side (for the driver) of one store."""

    def initial_state(self) -> InitialState: ...

    def entries(self, lo: int, hi: int) -> Sequence[Txn]:
        """Txns with lo < zxid <= hi, in zxid order; CompactedError if purged."""
        ...

    def last_zxid(self) -> int: ...

    # -- driver side --
    def append(self, txns: Iterable[Txn]) -> int:
        """Durably append txns (one sync for the batch); returns the last zxid."""
        ...

    def close(self) -> None: ...
