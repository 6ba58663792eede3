"""Snapshotter: takes tree snapshots every N txns and on demand, without stopping writes.

The image is taken on the event loop between two steps (a shallow copy of
immutable znodes, so it is exactly the tree at one zxid) and written by a
worker thread while the runner goes on serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from coordsvc.tree.datatree import TreeImage
from coordsvc.tree.txn import MultiTxn, Txn

__all__ = ["Snapshotter", "txn_weight"]

log = structlog.get_logger("coordsvc.snapshots")


def txn_weight(txn: Txn) -> int:
    """How many changes a txn carries: a multi counts each of its ops."""
    return len(txn.body.txns) if isinstance(txn.body, MultiTxn) else 1


class Snapshotter:
    """Decides when to snapshot and runs one save at a time."""

    def __init__(
        self,
        take_image: Callable[[], TreeImage],
        save: Callable[[TreeImage], object] | None,
        *,
        every_txns: int,
    ) -> None:
        self._take_image = take_image
        self._save = save
        self._every = every_txns
        self._since = 0
        self._task: asyncio.Task[int] | None = None
        self.taken = 0
        self.last_zxid = 0

    def note(self, txns: int) -> None:
        """Count changes handed to storage since the last snapshot (see ``txn_weight``)."""
        self._since += txns

    def due(self) -> bool:
        return self._every > 0 and self._since >= self._every and not self.busy

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[int]:
        """Take the image now and save it in a thread; returns the save's task."""
        if self.busy:
            assert self._task is not None
            return self._task
        image = self._take_image()
        self._since = 0
        self._task = asyncio.create_task(self._write(image), name="coordsvc-snapshot")
        return self._task

    async def _write(self, image: TreeImage) -> int:
        if self._save is not None:
            try:
                await asyncio.to_thread(self._save, image)
            except Exception as exc:  # a failed snapshot is logged; the log still has everything
                log.error("snapshot_failed", zxid=hex(image.last_zxid), error=str(exc))
                raise
        self.taken += 1
        self.last_zxid = image.last_zxid
        log.info("snapshot_saved", zxid=hex(image.last_zxid), znodes=len(image.nodes))
        return image.last_zxid

    async def wait(self) -> None:
        """Let a running save finish (graceful stop)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
