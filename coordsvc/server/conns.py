"""Per-stream state the runner writes to and the servicers read from.

A StreamConn is one Session RPC: its outbound queue, the xids awaiting a
reply (so replies go out in request order and empty results get the right
response field) and its lifecycle flags. A WatchSub is one Watch RPC.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable

import structlog

from coordsvc.errors import CoordError, SystemZookeeperError
from coordsvc.request.events import WatchEventValue
from coordsvc.request.ops import Result
from coordsvc.server import codec
from coordsvc.tree.paths import is_ancestor
from coordsvc.v1 import coordination_pb2 as pb

__all__ = ["StreamConn", "WatchSub", "ended_message", "OUTBOUND_LIMIT", "WATCH_QUEUE_LIMIT"]

log = structlog.get_logger("coordsvc.conns")

OUTBOUND_LIMIT = 100_000  # queued messages before a stream is cut as too slow
WATCH_QUEUE_LIMIT = 10_000  # queued WatchResponses before a Watch stream is cut


def ended_message(error: CoordError) -> pb.ServerMessage:
    """The SessionEnded message carrying ``error``."""
    return pb.ServerMessage(ended=pb.SessionEnded(error=codec.error_to_pb(error)))


class StreamConn:
    """One Session stream: outbound queue, pending xids and lifecycle flags."""

    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id
        self.session_id = 0
        self.out: asyncio.Queue[pb.ServerMessage | None] = asyncio.Queue()
        self.ready = asyncio.Event()  # set once connected, or once finished
        self.closed = False  # no more messages will be queued
        self.ended = False  # the session is over: no Disconnected needed
        self.superseded = False  # the session moved to a newer connection
        self.half_closed = False  # the client sent its last message
        # xid -> response field name, or a ready message held back for ordering
        self._pending: OrderedDict[int, str | pb.ServerMessage] = OrderedDict()

    def send(self, msg: pb.ServerMessage) -> bool:
        """Queue a message; a stream that falls too far behind is cut."""
        if self.closed:
            return False
        if self.out.qsize() >= OUTBOUND_LIMIT:
            log.warning("stream_too_slow", conn_id=self.conn_id, session_id=hex(self.session_id))
            self.finish()
            return False
        self.out.put_nowait(msg)
        return True

    def finish(self) -> None:
        """Queue the end of the stream (idempotent)."""
        if not self.closed:
            self.closed = True
            self.out.put_nowait(None)
        self.ready.set()

    def expect(self, xid: int, field: str) -> None:
        """Note that a reply for ``xid`` (an op of kind ``field``) is owed."""
        self._pending[xid] = field

    def reply_local(self, xid: int, zxid: int, error: CoordError) -> None:
        """An error decided by the servicer; sent after every earlier reply."""
        msg = pb.ServerMessage(response=codec.response_to_pb(xid, zxid, error=error))
        if self._pending:
            self._pending[xid] = msg
        else:
            self.send(msg)

    def reply(self, xid: int, zxid: int, result: Result | None, error: CoordError | None) -> None:
        """Send the pipeline's reply for ``xid``, then any held-back local replies."""
        field = self._pending.pop(xid, None)
        try:
            response = codec.response_to_pb(
                xid, zxid, result, error, field if isinstance(field, str) else None
            )
        except TypeError as exc:
            log.error("bad_reply", xid=xid, error=str(exc), session_id=hex(self.session_id))
            response = codec.response_to_pb(xid, zxid, error=SystemZookeeperError(str(exc)))
        self.send(pb.ServerMessage(response=response))
        while self._pending:
            first_xid, head = next(iter(self._pending.items()))
            if isinstance(head, str):
                break
            del self._pending[first_xid]
            self.send(head)
        self.maybe_finish_after_half_close()

    def maybe_finish_after_half_close(self) -> None:
        """After the client half-closed, finish once every owed reply is out."""
        if self.half_closed and not self._pending:
            self.finish()


class WatchSub:
    """One Watch stream: its path filter, queued responses and progress zxid."""

    def __init__(self, path: str, recursive: bool) -> None:
        self.path = path
        self.recursive = recursive
        self.sent_zxid = 0
        self.out: asyncio.Queue[pb.WatchResponse | None] = asyncio.Queue()
        self.overflowed = False
        self.closed = False

    def matches(self, path: str) -> bool:
        return path == self.path or (self.recursive and is_ancestor(self.path, path))

    def response(self, zxid: int, events: Iterable[WatchEventValue]) -> pb.WatchResponse | None:
        """The WatchResponse for this stream's share of ``events`` (None if none match)."""
        mine = [e for e in events if self.matches(e.path)]
        if not mine:
            return None
        return pb.WatchResponse(events=codec.events_to_pb(mine), zxid=zxid)

    def publish(self, zxid: int, events: Iterable[WatchEventValue]) -> None:
        if self.closed or zxid <= self.sent_zxid:
            return
        self.sent_zxid = zxid
        msg = self.response(zxid, events)
        if msg is None:
            return
        if self.out.qsize() >= WATCH_QUEUE_LIMIT:
            self.overflowed = True
            self.close()
            return
        self.out.put_nowait(msg)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.out.put_nowait(None)
