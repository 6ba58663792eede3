"""MemoryStorage: the in-memory reference Storage used by tests and ``--storage memory``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from coordsvc.storage.base import CompactedError, InitialState
from coordsvc.tree.txn import Txn

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """Keeps the txn log in a list; ``syncs`` counts append batches."""

    def __init__(self) -> None:
        self._log: list[Txn] = []
        self._first_zxid = 0  # zxids <= this have been compacted away
        self.accepted_epoch = 0
        self.current_epoch = 0
        self.syncs = 0

    def initial_state(self) -> InitialState:
        return InitialState(
            accepted_epoch=self.accepted_epoch,
            current_epoch=self.current_epoch,
            snapshot_zxid=0,
            snapshot=None,
            last_zxid=self.last_zxid(),
        )

    def entries(self, lo: int, hi: int) -> Sequence[Txn]:
        if lo < self._first_zxid:
            raise CompactedError(f"entries after {lo:#x} were compacted")
        return [t for t in self._log if lo < t.zxid <= hi]

    def last_zxid(self) -> int:
        return self._log[-1].zxid if self._log else self._first_zxid

    def append(self, txns: Iterable[Txn]) -> int:
        for t in txns:
            if self._log and t.zxid <= self._log[-1].zxid:
                raise ValueError(f"zxid {t.zxid:#x} not after {self._log[-1].zxid:#x}")
            self._log.append(t)
        self.syncs += 1
        return self.last_zxid()

    def close(self) -> None:
        pass
