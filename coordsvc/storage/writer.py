"""StorageWriter: the one thread that makes txns durable, with group commit.

The event loop must never wait on the disk, so the runner hands txns to this
thread and learns of durability through a callback. Every txn queued while an
append is in flight goes into the next single ``Storage.append`` call, so N
concurrent writes cost far fewer than N syncs. It works with any Storage.

An ensemble member also queues *jobs* (``submit_job``): a callable that does
one ZAB Ready's storage work (install a snapshot, truncate, append, epochs)
and a ``done`` callback, run in FIFO order with the txn batches. A Ready
that only appends is queued with ``submit_append``: consecutive ones go into
one ``Storage.append`` (one sync) and then their ``done`` callbacks run in
order, so a follower catching up on thousands of proposals, or a leader with
many writes in flight, pays for a few syncs instead of one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from coordsvc.storage.base import Storage, StorageFullError
from coordsvc.tree.txn import Txn

__all__ = ["StorageWriter"]


class _Job:
    __slots__ = ("run", "done")

    def __init__(self, run: Callable[[], None], done: Callable[[], None]) -> None:
        self.run = run
        self.done = done


class _Append:
    __slots__ = ("txns", "done")

    def __init__(self, txns: list[Txn], done: Callable[[], None]) -> None:
        self.txns = txns
        self.done = done


class StorageWriter:
    """Appends queued txns to ``storage`` in batches on a dedicated thread.

    ``on_durable(last_zxid)``, ``on_error(exc)`` and ``on_full(exc)`` run on the
    writer thread; callers marshal them back to their own loop. After an
    error the writer stops: a store that failed a write is not trusted again.
    A full store is different (nothing was written, the store is intact):
    the writer drops its queue, reports ``on_full`` and accepts work again
    after ``resume()``. ``on_append(seconds, txns)``, if given, hears the
    duration and size of every successful append (for the fsync metrics).
    """

    def __init__(
        self,
        storage: Storage,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None],
        *,
        on_full: Callable[[StorageFullError], None] | None = None,
        on_append: Callable[[float, int], None] | None = None,
        max_batch: int = 10_000,
    ) -> None:
        self._storage = storage
        self._on_durable = on_durable
        self._on_error = on_error
        self._on_full = on_full
        self._on_append = on_append
        self._blocked = False  # after a full store, until resume()
        self._max_batch = max_batch
        self._queue: list[Txn | _Job | _Append] = []
        self._cond = threading.Condition()
        self._closing = False
        self._failed: BaseException | None = None
        self.appends = 0  # number of Storage.append calls (batches)
        self.txns = 0  # number of txns made durable
        self._thread = threading.Thread(target=self._run, name="coordsvc-storage", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, txns: Iterable[Txn]) -> None:
        """Queue txns for the next batch; never blocks on the disk."""
        with self._cond:
            if self._closing:
                raise RuntimeError("storage writer is closed")
            if self._failed is not None:
                raise RuntimeError("storage writer failed") from self._failed
            if self._blocked:
                return  # the owner is aborting everything not yet durable
            self._queue.extend(txns)
            self._cond.notify()

    def submit_job(self, run: Callable[[], None], done: Callable[[], None]) -> None:
        """Queue ``run`` behind everything queued; ``done()`` (writer thread) once it returned."""
        with self._cond:
            if self._closing:
                raise RuntimeError("storage writer is closed")
            if self._failed is not None:
                raise RuntimeError("storage writer failed") from self._failed
            self._queue.append(_Job(run, done))
            self._cond.notify()

    def submit_append(self, txns: Iterable[Txn], done: Callable[[], None]) -> None:
        """Queue txns as one unit; ``done()`` (writer thread) once they are durable.

        Consecutive units are written by one append: group commit for jobs.
        """
        with self._cond:
            if self._closing:
                raise RuntimeError("storage writer is closed")
            if self._failed is not None:
                raise RuntimeError("storage writer failed") from self._failed
            self._queue.append(_Append(list(txns), done))
            self._cond.notify()

    def resume(self) -> None:
        """Accept txns again after a full store (the owner has aborted what was lost)."""
        with self._cond:
            self._blocked = False

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[Txn] | list[_Append] | _Job | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            if isinstance(self._queue[0], _Job):
                return self._queue.pop(0)  # type: ignore[return-value]
            if isinstance(self._queue[0], _Append):
                units, size = [], 0
                while self._queue and isinstance(self._queue[0], _Append):
                    if units and size + len(self._queue[0].txns) > self._max_batch:
                        break
                    unit = self._queue.pop(0)
                    units.append(unit)
                    size += len(unit.txns)
                return units
            n = 0
            while n < min(self._max_batch, len(self._queue)) and not isinstance(
                self._queue[n], (_Job, _Append)
            ):
                n += 1
            batch = self._queue[:n]
            del self._queue[:n]
            return batch  # type: ignore[return-value]

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            if isinstance(batch, _Job):
                try:
                    batch.run()
                except BaseException as exc:  # the store is now suspect: stop and report
                    self._stop(exc)
                    return
                batch.done()
                continue
            units: list[_Append] = []
            if batch and isinstance(batch[0], _Append):
                units = batch  # type: ignore[assignment]
                batch = [t for unit in units for t in unit.txns]
            started = time.perf_counter()
            try:
                last = self._storage.append(batch)
            except StorageFullError as exc:
                if self._on_full is None or units:  # as in a job: stop and report
                    self._stop(exc)
                    return
                # Nothing of the batch was written and the store is intact:
                # drop what is queued behind it and wait for resume().
                with self._cond:
                    self._queue.clear()
                    self._blocked = True
                self._on_full(exc)
                continue
            except BaseException as exc:  # the store is now suspect: stop and report
                self._stop(exc)
                return
            self.appends += 1
            self.txns += len(batch)
            if self._on_append is not None:
                try:
                    self._on_append(time.perf_counter() - started, len(batch))
                except Exception:  # a metrics hook must never stop durability
                    pass
            if units:
                for unit in units:
                    unit.done()
            else:
                self._on_durable(last)

    def _stop(self, exc: BaseException) -> None:
        with self._cond:
            self._failed = exc
            self._queue.clear()
            self._closing = True
        self._on_error(exc)
