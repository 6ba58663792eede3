"""gRPC health checking whose Watch streams end when the server stops.

The stock asyncio servicer keeps a Watch stream open forever, so a client
watching health would hold a graceful stop for its whole grace period. Here
``enter_graceful_shutdown`` sets every service NOT_SERVING, sends that to
every watcher and ends their streams, so a stop takes as long as the calls
that still do work.
"""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health, health_pb2

__all__ = ["HealthService"]


class HealthService(health.aio.HealthServicer):
    """The standard Health service, plus Watch streams that end on a graceful stop."""

    def __init__(self) -> None:
        super().__init__()
        self._stopping = asyncio.Event()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context) -> None:  # noqa: N802
        watch = asyncio.ensure_future(super().Watch(request, context))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({watch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not watch.done():
                watch.cancel()
            await asyncio.gather(watch, stopping, return_exceptions=True)
        if not watch.cancelled():
            watch.result()  # the stream ended on its own: pass on how
            return
        status = health_pb2.HealthCheckResponse.NOT_SERVING  # the last word before the end
        await context.write(health_pb2.HealthCheckResponse(status=status))

    async def enter_graceful_shutdown(self) -> None:
        await super().enter_graceful_shutdown()
        self._stopping.set()
