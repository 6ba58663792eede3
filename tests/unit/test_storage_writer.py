"""StorageWriter: txns queued during an append go into one next append (group commit)."""

from __future__ import annotations

import threading

from coordsvc.storage.base import StorageFullError
from coordsvc.storage.memory import MemoryStorage
from coordsvc.storage.writer import StorageWriter
from coordsvc.tree.txn import CreateTxn, Txn

WAIT_S = 10.0


def txn(zxid: int) -> Txn:
    return Txn(zxid, 0, 0, zxid, CreateTxn(f"/n{zxid}", b""))


class GatedStorage(MemoryStorage):
    """MemoryStorage whose appends wait for a gate, so work piles up behind them."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[int]] = []

    def append(self, txns):
        txns = list(txns)
        self.entered.set()
        assert self.gate.wait(WAIT_S)
        self.batches.append([t.zxid for t in txns])
        return super().append(txns)


def test_queued_txns_share_one_append_and_durability_is_reported_in_order() -> None:
    storage = GatedStorage()
    durable: list[int] = []
    done = threading.Event()

    def on_durable(zxid: int) -> None:
        durable.append(zxid)
        if zxid == 100:
            done.set()

    writer = StorageWriter(storage, on_durable, lambda exc: None)
    writer.start()
    writer.submit([txn(1)])
    assert storage.entered.wait(WAIT_S)  # the first append is in flight and blocked
    for z in range(2, 101):
        writer.submit([txn(z)])
    storage.gate.set()
    assert done.wait(WAIT_S)
    writer.close()
    assert storage.batches == [[1], list(range(2, 101))]
    assert durable == [1, 100] and writer.appends == storage.syncs == 2
    assert storage.last_zxid() == 100


def test_append_failure_is_reported_and_stops_the_writer() -> None:
    storage = MemoryStorage()
    failures: list[BaseException] = []
    failed = threading.Event()

    def on_error(exc: BaseException) -> None:
        failures.append(exc)
        failed.set()

    writer = StorageWriter(storage, lambda z: None, on_error)
    writer.start()
    writer.submit([txn(5), txn(3)])  # out of order: MemoryStorage refuses it
    assert failed.wait(WAIT_S)
    assert isinstance(failures[0], ValueError)
    writer.close()
    try:
        writer.submit([txn(6)])
    except RuntimeError:
        pass
    else:
        raise AssertionError("a failed writer must refuse more work")


def test_close_flushes_what_is_queued() -> None:
    storage = MemoryStorage()
    writer = StorageWriter(storage, lambda z: None, lambda exc: None)
    writer.start()
    writer.submit([txn(1), txn(2)])
    writer.close()
    assert storage.last_zxid() == 2


def test_queued_append_units_share_one_append_and_each_hears_done_in_order() -> None:
    storage = GatedStorage()
    heard: list[int] = []
    done = threading.Event()

    def done_for(unit: int):
        def done_() -> None:
            heard.append(unit)
            if unit == 50:
                done.set()

        return done_

    writer = StorageWriter(storage, lambda z: None, lambda exc: None)
    writer.start()
    writer.submit_append([txn(1)], done_for(1))
    assert storage.entered.wait(WAIT_S)  # in flight and blocked: the rest pile up
    for z in range(2, 51):
        writer.submit_append([txn(z)], done_for(z))
    storage.gate.set()
    assert done.wait(WAIT_S)
    writer.close()
    assert storage.batches == [[1], list(range(2, 51))]  # 50 units, two syncs
    assert heard == list(range(1, 51)) and storage.syncs == 2


def test_a_job_between_append_units_keeps_its_place() -> None:
    storage = GatedStorage()
    order: list[str] = []
    finished = threading.Event()
    writer = StorageWriter(storage, lambda z: None, lambda exc: None)
    writer.start()
    writer.submit_append([txn(1)], lambda: order.append("a1"))
    assert storage.entered.wait(WAIT_S)
    writer.submit_append([txn(2)], lambda: order.append("a2"))
    writer.submit_job(lambda: order.append("job ran"), lambda: order.append("job done"))
    writer.submit_append([txn(3)], lambda: order.append("a3"))
    writer.submit_append([txn(4)], lambda: (order.append("a4"), finished.set()))
    storage.gate.set()
    assert finished.wait(WAIT_S)
    writer.close()
    assert order == ["a1", "a2", "job ran", "job done", "a3", "a4"]
    assert storage.batches == [[1], [2], [3, 4]]


def test_a_full_store_under_an_append_unit_stops_the_writer() -> None:
    class Full(MemoryStorage):
        def append(self, txns):
            raise StorageFullError("map full")

    failures: list[BaseException] = []
    failed = threading.Event()
    writer = StorageWriter(
        Full(),
        lambda z: None,
        lambda exc: (failures.append(exc), failed.set()),
        on_full=lambda exc: None,
    )
    writer.start()
    writer.submit_append([txn(1)], lambda: None)
    assert failed.wait(WAIT_S) and isinstance(failures[0], StorageFullError)
    writer.close()
