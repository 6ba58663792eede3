"""Re-arming watches on a resumed session, and telling what was missed.

A server that kept the session keeps its watches too, but one that restarted
from its log, or another server of the ensemble, knows none of them. The SDK
cannot tell these cases apart, so after every resume it re-sends each watch
ahead of any other request: one-shot watches as a watching read whose reply
is compared with the newest zxid seen before the break (``missed_event``),
so a change made meanwhile is delivered as the event it would have been;
persistent watches as add_watch (changes while they were gone are not
replayed; use ``watch_stream`` where that matters).

Re-sending to a server that did keep a watch is harmless: events it buffered
arrive before these replies and consume the one-shot callbacks first.
"""

from __future__ import annotations

from collections.abc import Callable

from coordsvc.client.codec import OpMessage
from coordsvc.client.session import ReplyHook
from coordsvc.client.watches import Callback, WatchedEvent, WatchKind, WatchRegistry, missed_event

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
    """The requests that re-arm every registered watch, with their reply hooks."""
    ops: list[tuple[OpMessage, ReplyHook | None]] = []
    for kind in (WatchKind.DATA, WatchKind.EXIST):
        for path in registry.paths(kind):
            req = pb.ExistsRequest(path=path, watch=True)
            ops.append((("exists", req), _hook(registry, kind, path, seen_zxid, deliver)))
    for path in registry.paths(WatchKind.CHILD):
        req = pb.GetChildrenRequest(path=path, watch=True)
        ops.append(
            (("get_children", req), _hook(registry, WatchKind.CHILD, path, seen_zxid, deliver))
        )
    for kind, mode in _MODES.items():
        for path in registry.paths(kind):
            ops.append((("add_watch", pb.AddWatchRequest(path=path, mode=mode)), None))
    return ops


def _hook(
    registry: WatchRegistry, kind: WatchKind, path: str, seen_zxid: int, deliver: Deliver
) -> ReplyHook:
    def on_reply(resp: pb.Response) -> None:
        if not registry.has(kind, path):
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
        missed = missed_event(kind, exists, changed, seen_zxid)
        if missed is not None:
            deliver(registry.take(kind, path), WatchedEvent(missed, "CONNECTED", path, resp.zxid))

    return on_reply
