"""The Runner in-process with the real Pipeline: group commit and unary routing."""

from __future__ import annotations

import asyncio
import time

from coordsvc.request import ops
from coordsvc.server.app import ServerConfig, build_pipeline
from coordsvc.server.runner import Runner
from coordsvc.storage.memory import MemoryStorage

WRITES = 200


class SlowSyncStorage(MemoryStorage):
    """A store whose every append costs a fixed sync time, like an fsync."""

    def __init__(self, sync_s: float) -> None:
        super().__init__()
        self.sync_s = sync_s

    def append(self, txns):
        time.sleep(self.sync_s)  # the simulated cost of one durable sync
        return super().append(txns)


async def test_concurrent_writes_share_storage_appends() -> None:
    storage = SlowSyncStorage(sync_s=0.02)
    cfg = ServerConfig(tick_ms=200)
    runner = Runner(build_pipeline(cfg, storage), storage, server_id=1, tick_ms=cfg.tick_ms)
    await runner.start()
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(runner.call(ops.Create(f"/n{i}")) for i in range(WRITES))), 30
        )
    finally:
        await runner.stop()
    assert all(err is None for _result, err, _zxid in outcomes)
    zxids = [zxid for _result, _err, zxid in outcomes]
    assert len(set(zxids)) == WRITES
    assert runner.pipeline.tree.node_count == WRITES + 1
    assert storage.last_zxid() == max(zxids)
    # 200 writes at 20 ms per sync would take 4 s one by one; batches make it a handful
    assert storage.syncs <= 10, storage.syncs


async def test_unary_errors_come_back_as_values() -> None:
    storage = MemoryStorage()
    runner = Runner(build_pipeline(ServerConfig(), storage), storage, server_id=1, tick_ms=2000)
    await runner.start()
    try:
        result, err, _ = await asyncio.wait_for(runner.call(ops.Delete("/missing")), 10)
    finally:
        await runner.stop()
    assert result is None and err is not None and err.code == "NO_NODE"
