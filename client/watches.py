"""Watches: which callbacks an event wakes, and the one task that runs them.

``WatchRegistry`` is pure bookkeeping, with ZooKeeper's routing rules:
one-shot data watches (set by exists/get) hear CREATED, CHANGED and DELETED
of their node and are then dropped; one-shot child watches (get_children)
hear CHILD and DELETED; persistent watches hear everything at their node;
recursive ones hear everything at or below it except CHILD.

``Dispatcher`` runs callbacks on one task, strictly in arrival order, so a
slow callback never stalls the stream reader. It numbers the events it was
given and lets a caller wait until every event up to a number has been
handled: that is how a call's result is held back until the callbacks of
events that arrived before its reply have run.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from coordsvc.v1 import coordination_pb2 as pb

__all__ = [
    "EventType",
    "WatchedEvent",
    "WatchKind",
    "WatchRegistry",
    "Dispatcher",
    "CallbackRunner",
    "run_callback",
    "event_from_pb",
    "in_callback",
    "missed_event",
]

log = logging.getLogger(__name__)


class EventType(enum.StrEnum):
    """What happened to a node (kazoo's names)."""

    CREATED = "CREATED"
    DELETED = "DELETED"
    CHANGED = "CHANGED"
    CHILD = "CHILD"


_EVENT_TYPES = {
    pb.NODE_CREATED: EventType.CREATED,
    pb.NODE_DELETED: EventType.DELETED,
    pb.NODE_DATA_CHANGED: EventType.CHANGED,
    pb.NODE_CHILDREN_CHANGED: EventType.CHILD,
}


class WatchedEvent(NamedTuple):
    """One watch notification: event type, connection state, node path, txn zxid."""

    type: EventType
    state: str
    path: str
    zxid: int = 0


def event_from_pb(msg: pb.WatchEvent, state: str = "CONNECTED") -> WatchedEvent | None:
    """The SDK event for a wire event (None for an unknown type)."""
    kind = _EVENT_TYPES.get(msg.type)
    if kind is None:
        return None
    return WatchedEvent(kind, state, msg.path, msg.zxid)


class WatchKind(enum.Enum):
    DATA = "data"  # one-shot, from get() or exists() on an existing node
    EXIST = "exist"  # one-shot, from exists() on a missing node
    CHILD = "child"  # one-shot, from get_children()
    PERSISTENT = "persistent"
    RECURSIVE = "recursive"


Callback = Callable[[WatchedEvent], Any]


def _ancestors_or_self(path: str) -> list[str]:
    out = [path]
    while path != "/":
        i = path.rfind("/")
        path = "/" if i == 0 else path[:i]
        out.append(path)
    return out


class WatchRegistry:
    """The callbacks registered per (kind, path)."""

    def __init__(self) -> None:
        self._by_kind: dict[WatchKind, dict[str, list[Callback]]] = {k: {} for k in WatchKind}

    def add(self, kind: WatchKind, path: str, fn: Callback) -> bool:
        """Register ``fn``; True when it is the first callback of (kind, path)."""
        fns = self._by_kind[kind].setdefault(path, [])
        first = not fns
        if fn not in fns:
            fns.append(fn)
        return first

    def remove(self, kind: WatchKind, path: str, fn: Callback) -> bool:
        """Unregister ``fn``; True when (kind, path) has no callback left."""
        fns = self._by_kind[kind].get(path)
        if fns is None:
            return True
        if fn in fns:
            fns.remove(fn)
        if not fns:
            del self._by_kind[kind][path]
            return True
        return False

    def has(self, kind: WatchKind, path: str) -> bool:
        return bool(self._by_kind[kind].get(path))

    def take(self, kind: WatchKind, path: str) -> list[Callback]:
        """Remove and return the callbacks of (kind, path)."""
        return self._by_kind[kind].pop(path, [])

    def paths(self, kind: WatchKind) -> list[str]:
        """The paths that have callbacks of ``kind``."""
        return list(self._by_kind[kind])

    def clear(self) -> None:
        """Forget every watch (their server side died with the session)."""
        for paths in self._by_kind.values():
            paths.clear()

    def route(self, event: WatchedEvent) -> list[Callback]:
        """The callbacks ``event`` wakes, each once; one-shot ones are consumed."""
        found: list[Callback] = []
        kinds = {
            EventType.CREATED: (WatchKind.DATA, WatchKind.EXIST),
            EventType.CHANGED: (WatchKind.DATA, WatchKind.EXIST),
            EventType.DELETED: (WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD),
            EventType.CHILD: (WatchKind.CHILD,),
        }[event.type]
        for kind in kinds:
            found.extend(self._by_kind[kind].pop(event.path, ()))
        found.extend(self._by_kind[WatchKind.PERSISTENT].get(event.path, ()))
        if event.type is not EventType.CHILD:
            recursive = self._by_kind[WatchKind.RECURSIVE]
            for path in _ancestors_or_self(event.path):
                found.extend(recursive.get(path, ()))
        unique: list[Callback] = []
        for fn in found:
            if fn not in unique:
                unique.append(fn)
        return unique


def missed_event(
    kind: WatchKind, exists: bool, changed_zxid: int, seen_zxid: int
) -> EventType | None:
    """The event a one-shot watch missed while the server may have lost it.

    After a resume the SDK re-arms each one-shot watch with a fresh read and
    compares it with ``seen_zxid``, the newest zxid it had seen before: a
    data watch whose node is gone missed DELETED, or CHANGED when its mzxid
    (``changed_zxid``) is newer; an exist watch whose node now exists missed
    CREATED; a child watch missed DELETED, or CHILD when its pzxid is newer.
    The zxid the event then carries is the change's (``rewatch`` dates it).
    """
    if kind is WatchKind.EXIST:
        return EventType.CREATED if exists else None
    if not exists:
        return EventType.DELETED
    if changed_zxid > seen_zxid:
        return EventType.CHANGED if kind is WatchKind.DATA else EventType.CHILD
    return None


_IN_CALLBACK: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "coordsvc_client_in_callback", default=False
)


def in_callback() -> bool:
    """True inside a watch callback run by the dispatcher (and calls it makes)."""
    return _IN_CALLBACK.get()


CallbackRunner = Callable[[Callback, WatchedEvent], Awaitable[None]]


async def run_callback(fn: Callback, event: WatchedEvent) -> None:
    """Run a plain or coroutine callback on the loop and wait for it."""
    result = fn(event)
    if inspect.isawaitable(result):
        await result


class Dispatcher:
    """Runs watch callbacks one at a time, in the order events arrived."""

    def __init__(self, runner: CallbackRunner = run_callback) -> None:
        self._runner = runner
        self._queue: asyncio.Queue[tuple[int, list[Callback], WatchedEvent] | None] = (
            asyncio.Queue()
        )
        self._received = 0
        self._done = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def received(self) -> int:
        """How many events were handed over so far (a mark for wait_done)."""
        return self._received

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, callbacks: list[Callback], event: WatchedEvent) -> None:
        """Queue ``event`` for ``callbacks``; never blocks."""
        if not callbacks:
            return
        self._received += 1
        self._queue.put_nowait((self._received, callbacks, event))

    async def wait_done(self, mark: int) -> None:
        """Return once every event up to ``mark`` has had its callbacks run.

        Inside a callback this returns at once: the callback's own event is
        not done yet, so waiting would deadlock.
        """
        if mark <= self._done or in_callback():
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((mark, fut))
        await fut

    async def stop(self, timeout: float) -> None:
        """Let queued events run (for at most ``timeout``), then end the task."""
        task, self._task = self._task, None
        if task is None:
            return
        self._queue.put_nowait(None)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            log.warning("watch callbacks still running at stop; cancelled")
        except asyncio.CancelledError:
            task.cancel()
            raise
        self._release(self._received)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            mark, callbacks, event = item
            token = _IN_CALLBACK.set(True)
            try:
                for fn in callbacks:
                    try:
                        await self._runner(fn, event)
                    except Exception:
                        log.exception("watch callback %r raised on %r; ignored", fn, event)
            finally:
                _IN_CALLBACK.reset(token)
            self._release(mark)

    def _release(self, mark: int) -> None:
        self._done = max(self._done, mark)
        keep = []
        for want, fut in self._waiters:
            if want <= self._done:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((want, fut))
        self._waiters = keep
