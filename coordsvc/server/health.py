"""gRPC health checking whose Watch streams end when the server stops.

The stock asyncio servicer keeps a Watch stream open forever, so a client
watching health would hold a graceful stop for its whole grace period. Here
Watch is served from our own copy of the statuses: every change is written
to every watcher, and ``enter_graceful_shutdown`` sets every service
NOT_SERVING, writes that to every watcher and ends their streams, so a stop
takes as long as the calls that still do work. Check is the stock one.
"""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health, health_pb2

__all__ = ["HealthService"]

_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthService(health.aio.HealthServicer):
    """The standard Health service, plus Watch streams that end on a graceful stop."""

    def __init__(self) -> None:
        super().__init__()
        self._statuses: dict[str, int] = {"": health_pb2.HealthCheckResponse.SERVING}
        self._stopping = False
        self._changed = asyncio.Event()  # replaced by a fresh one at every change
        self._watching = 0
        self._idle = asyncio.Event()  # set while no Watch stream is open
        self._idle.set()

    async def set(self, service: str, status: int) -> None:
        if self._stopping:
            return
        await super().set(service, status)
        self._statuses[service] = status
        self._wake()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context) -> None:  # noqa: N802
        self._watching += 1
        self._idle.clear()
        try:
            last = None
            while True:
                changed = self._changed  # taken before reading: no change is missed
                status = self._statuses.get(request.service, _UNKNOWN)
                if status != last:
                    await context.write(health_pb2.HealthCheckResponse(status=status))
                    last = status
                if self._stopping:
                    return  # NOT_SERVING was the last word: end the stream
                await changed.wait()
        finally:
            self._watching -= 1
            if not self._watching:
                self._idle.set()

    async def enter_graceful_shutdown(self) -> None:
        """NOT_SERVING everywhere; returns once every watcher was told and let go (or 1 s)."""
        await super().enter_graceful_shutdown()
        self._statuses = dict.fromkeys(self._statuses, _NOT_SERVING)
        self._stopping = True
        self._wake()
        try:
            async with asyncio.timeout(1.0):
                await self._idle.wait()
        except TimeoutError:
            pass  # a watcher that cannot be written to: the server's stop ends it

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
