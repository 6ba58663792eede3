"""Re-arming watches on a resumed session, and telling what was missed.

A server that kept the session keeps its watches too, but one that restarted
from its log, or another server of the ensemble, knows none of them. The SDK
cannot tell these cases apart, so after every resume it re-sends each watch
ahead of any other request: one-shot watches as a watching read whose reply
is compared with the newest zxid seen before the break (``missed_event``),
so a change made meanwhile is delivered as the event it would have been;
persistent watches as add_watch (changes while they were gone are not
replayed; use ``watch_stream`` where that matters).

A missed event carries the zxid of the change it stands for, as a live event
would, not the zxid of the re-arming read: the node's mzxid for CHANGED and
CREATED (if the node changed again after being created, its newest change:
the one event stands for all of them), the node's pzxid for CHILD. A deleted
node leaves no stat to date its deletion, so DELETED carries the tightest
bound the SDK can read: a deletion sets the parent's pzxid, so the event
gets the smaller of the parent's pzxid, read right after the node (exact
unless the parent's children changed again since), and the zxid the server
answered the node's read at (the node was gone by then); when the parent is
gone too (or its read failed), that zxid alone. Either way the event's zxid
is at or after the change, never before it: a read at that zxid sees it.

Re-sending to a server that did keep a watch is harmless: events it buffered
arrive before these replies and consume the one-shot callbacks first.
"""

from __future__ import annotations

from collections.abc import Callable

from coordsvc.client.codec import OpMessage
from coordsvc.client.session import ReplyHook
from coordsvc.client.watches import (
    Callback,
    EventType,
    WatchedEvent,
    WatchKind,
    WatchRegistry,
    missed_event,
)

from coordsvc.v1 import coordination_pb2 as pb

__all__ = ["rearm_ops"]

Deliver = Callable[[list[Callback], WatchedEvent], None]

_MODES = {
    WatchKind.PERSISTENT: pb.WATCH_MODE_PERSISTENT,
    WatchKind.RECURSIVE: pb.WATCH_MODE_PERSISTENT_RECURSIVE,
}


def rearm_ops(
    registry: WatchRegistry, seen_zxid: int, deliver: Deliver
) -> list[tuple[OpMessage, ReplyHook | None]]:
    """The requests that re-arm every registered watch, with their reply hooks.

    One-shot watches come first, then one plain exists per parent of a
    data or child watch (to date a deletion), then persistent watches; the
    replies arrive in this order.
    """
    rearm = _Rearm(registry, seen_zxid, deliver)
    ops: list[tuple[OpMessage, ReplyHook | None]] = []
    parents: dict[str, None] = {}  # ordered set
    for kind in (WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD):
        for path in registry.paths(kind):
            if kind is WatchKind.CHILD:
                op: OpMessage = ("get_children", pb.GetChildrenRequest(path=path, watch=True))
            else:
                op = ("exists", pb.ExistsRequest(path=path, watch=True))
            ops.append((op, rearm.watch_hook(kind, path)))
            parent = _parent(path)
            if kind is not WatchKind.EXIST and parent is not None:
                parents[parent] = None
    for parent in parents:
        ops.append((("exists", pb.ExistsRequest(path=parent)), rearm.parent_hook(parent)))
    for kind, mode in _MODES.items():
        for path in registry.paths(kind):
            ops.append((("add_watch", pb.AddWatchRequest(path=path, mode=mode)), None))
    return ops


def _parent(path: str) -> str | None:
    """The parent of ``path``; None for the root."""
    if path == "/":
        return None
    i = path.rfind("/")
    return "/" if i == 0 else path[:i]


class _Rearm:
    """The reply hooks of one resume's re-arming reads, and the deletions they found.

    A deletion found by a node's read waits for its parent's read (sent
    after it) to be dated; if the parent's reply came first (the node's read
    was resent), the node's own read dates it.
    """

    def __init__(self, registry: WatchRegistry, seen_zxid: int, deliver: Deliver) -> None:
        self._registry = registry
        self._seen_zxid = seen_zxid
        self._deliver = deliver
        self._waiting: dict[str, list[tuple[WatchKind, str, int]]] = {}
        self._answered: set[str] = set()

    def watch_hook(self, kind: WatchKind, path: str) -> ReplyHook:
        def on_reply(resp: pb.Response) -> None:
            if not self._registry.has(kind, path):
                return  # an event delivered it already (or it was never re-added)
            if resp.HasField("error"):
                if resp.error.code != pb.NO_NODE:
                    return  # unknown outcome: keep the watch for the next resume
                exists, changed = False, 0
            elif kind is WatchKind.CHILD:
                exists, changed = True, resp.get_children.stat.pzxid
            else:
                exists = resp.exists.HasField("stat")
                changed = resp.exists.stat.mzxid
            missed = missed_event(kind, exists, changed, self._seen_zxid)
            if missed is None:
                return
            if missed is EventType.DELETED:
                parent = _parent(path)
                if parent is not None and parent not in self._answered:
                    self._waiting.setdefault(parent, []).append((kind, path, resp.zxid))
                    return
                changed = resp.zxid
            self._fire([kind], path, missed, changed)

        return on_reply

    def parent_hook(self, parent: str) -> ReplyHook:
        def on_reply(resp: pb.Response) -> None:
            self._answered.add(parent)
            pzxid: int | None = None
            if not resp.HasField("error") and resp.exists.HasField("stat"):
                pzxid = resp.exists.stat.pzxid
            # one event per deleted node, as live: a callback set by both get() and
            # get_children() on it runs once
            dated: dict[str, tuple[list[WatchKind], int]] = {}
            for kind, path, read_zxid in self._waiting.pop(parent, ()):
                kinds, zxid = dated.get(path, ([], read_zxid if pzxid is None else pzxid))
                dated[path] = ([*kinds, kind], min(zxid, read_zxid))
            for path, (kinds, zxid) in dated.items():
                self._fire(kinds, path, EventType.DELETED, zxid)

        return on_reply

    def _fire(self, kinds: list[WatchKind], path: str, event: EventType, zxid: int) -> None:
        callbacks: list[Callback] = []
        for kind in kinds:  # those a live event consumed meanwhile are gone
            callbacks += [fn for fn in self._registry.take(kind, path) if fn not in callbacks]
        if callbacks:
            self._deliver(callbacks, WatchedEvent(event, "CONNECTED", path, zxid))
