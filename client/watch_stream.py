"""The resumable Watch stream: every change under a path, in zxid order.

Unlike session watches this needs no session and never misses an event: the
stream remembers the zxid it has seen up to (events and the server's progress
markers), and when the stream breaks it reopens on a server of the ring
asking for everything after that zxid. Events already delivered are skipped.

Each server keeps its own window of history: one restarted, or brought up to
date by a snapshot, keeps only what it applied since. Such a server answers
COMPACTED for an older zxid although another server may still have it, so a
COMPACTED answer sends the stream on to the servers that have not given it;
CompactedError reaches the user only when every server of the connection
string has answered it, or when ``search_timeout`` (the client's session
timeout) has passed since the first one did while the others could not be
reached.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator

import grpc
from coordsvc.client.errors import CompactedError, ConnectionClosedError, error_for_code
from coordsvc.client.hosts import HostRing
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.tls import ClientTls, open_channel
from coordsvc.client.watches import WatchedEvent, event_from_pb

from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

__all__ = ["WatchStream"]

log = logging.getLogger(__name__)

_ERROR_KEY = "coordsvc-error"
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # we fell behind: resume from where we are
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
}


def _error_code(exc: grpc.aio.AioRpcError) -> str | None:
    for key, value in exc.trailing_metadata() or ():
        if key == _ERROR_KEY:
            return str(value)
    return None


class WatchStream(AsyncIterator[WatchedEvent]):
    """Async iterator of WatchedEvents at ``path`` (and below when recursive).

    ``zxid`` is the resume point: everything up to it has been received.
    Errors the server reports for the request itself (InvalidPathError,
    CompactedError when the resume point is older than the history every
    reachable server keeps, see the module doc) are raised; a broken stream
    is reopened with backoff, forever, until ``aclose()``.
    """

    def __init__(
        self,
        hosts: HostRing,
        path: str,
        *,
        recursive: bool,
        start_zxid: int | None,
        backoff: RetryPolicy,
        search_timeout: float = 10.0,
        tls: ClientTls | None = None,
    ) -> None:
        self._hosts = hosts
        self._tls = tls
        self.path = path
        self.recursive = recursive
        self.zxid = start_zxid or 0
        self._from_now = start_zxid is None
        self._backoff = backoff
        self._buffer: deque[WatchedEvent] = deque()
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.UnaryStreamCall | None = None
        self._closed = False
        self._pauses = backoff.delays()
        self._address = ""
        self._search_timeout = search_timeout
        self._clock = backoff.clock
        # servers that answered COMPACTED for the resume point, with their reason
        self._compacted: dict[str, str] = {}
        self._search_started = 0.0

    def __aiter__(self) -> WatchStream:
        return self

    async def __aenter__(self) -> WatchStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __anext__(self) -> WatchedEvent:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            await self._fill()
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Stop watching and release the stream."""
        self._closed = True
        await self._drop()

    async def _fill(self) -> None:
        if self._call is None:
            await self._open()
        assert self._call is not None
        try:
            msg = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            address = self._address
            await self._drop()
            code = _error_code(exc)
            if code == "COMPACTED":
                if (err := self._compacted_at(address, exc.details() or code)) is not None:
                    raise err from None
                return  # on to a server that has not answered it
            if code is not None and exc.code() not in _TRANSIENT:
                raise error_for_code(code, exc.details() or code, self.path) from None
            if exc.code() not in _TRANSIENT:
                raise
            if (err := self._search_over()) is not None:
                raise err from None
            log.info("watch stream on %s broke (%s); resuming", self.path, exc.code().name)
            await self._pause()
            return
        except asyncio.InvalidStateError:
            await self._drop()
            if self._closed:
                raise ConnectionClosedError("watch stream closed") from None
            return
        if msg is grpc.aio.EOF:
            await self._drop()
            if (err := self._search_over()) is not None:
                raise err
            await self._pause()
            return
        self._pauses = self._backoff.delays()
        self._compacted.clear()  # this server has the history: the search is over
        self._take(msg)

    def _take(self, msg: pb.WatchResponse) -> None:
        for raw in msg.events:
            if raw.zxid <= self.zxid and not self._from_now:
                continue  # seen before the stream was resumed
            event = event_from_pb(raw)
            if event is not None:
                self._buffer.append(event)
        last = max((e.zxid for e in msg.events), default=0)
        self.zxid = max(self.zxid, last, msg.zxid)
        self._from_now = False

    def _compacted_at(self, address: str, reason: str) -> CompactedError | None:
        """Note a COMPACTED answer; the error to raise when no server is left to ask."""
        if not self._compacted:
            self._search_started = self._clock()
        self._compacted[address] = reason
        if all(host in self._compacted for host in self._hosts.hosts):
            return self._give_up()
        log.info(
            "watch stream on %s: %s has no history after %#x; trying another server",
            self.path,
            address,
            self.zxid,
        )
        return self._search_over()

    def _search_over(self) -> CompactedError | None:
        """The error to raise once a search for the history has run out of time."""
        if self._compacted and self._clock() - self._search_started >= self._search_timeout:
            return self._give_up()
        return None

    def _give_up(self) -> CompactedError:
        answered = "; ".join(f"{host}: {why}" for host, why in self._compacted.items())
        silent = [host for host in self._hosts.hosts if host not in self._compacted]
        message = f"no server keeps the history after zxid {self.zxid:#x} ({answered})"
        if silent:
            message += f"; not reached within {self._search_timeout:g}s: {', '.join(silent)}"
        self._compacted.clear()
        return CompactedError(message, self.path)

    def _next_host(self) -> str:
        """The next server of the ring, skipping those that answered COMPACTED."""
        address = self._hosts.next()
        for _ in range(len(self._hosts) - 1):
            if address not in self._compacted:
                break
            address = self._hosts.next()
        return address

    async def _open(self) -> None:
        address = self._address = self._next_host()
        self._channel = open_channel(address, self._tls)
        stub = pb_grpc.CoordinationStub(self._channel)
        request = pb.WatchRequest(path=self.path, recursive=self.recursive, start_zxid=self.zxid)
        self._call = stub.Watch(request)

    async def _drop(self) -> None:
        call, channel = self._call, self._channel
        self._call = self._channel = None
        if call is not None:
            call.cancel()
        if channel is not None:
            await channel.close(grace=None)

    async def _pause(self) -> None:
        pause = next(self._pauses, self._backoff.max_delay)
        if self._compacted:  # searching for the history: not past the search's end
            left = self._search_timeout - (self._clock() - self._search_started)
            pause = max(0.0, min(pause, left))
        await self._backoff.sleep(pause)
