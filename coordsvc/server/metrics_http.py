"""The /metrics HTTP endpoint, served on the runner's own event loop.

prometheus_client's bundled server answers from a thread; serving from the
loop instead means the state gauges are read between two runner steps, never
in the middle of one, and no lock is needed. Only ``GET /metrics`` (and
HEAD) is served: it is a scrape target, not a web server. Each connection
answers one request within ``REQUEST_TIMEOUT_S`` and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["MetricsServer"]

log = structlog.get_logger("coordsvc.metrics")

REQUEST_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 << 10


class MetricsServer:
    """``await start()`` binds HOST:PORT (port 0 picks one) and returns the bound address."""

    def __init__(self, registry: CollectorRegistry, listen: str) -> None:
        self._registry = registry
        self._listen = listen
        self._server: asyncio.base_events.Server | None = None
        self.address = ""

    async def start(self) -> str:
        host, _, port = self._listen.rpartition(":")
        bind_host = host[1:-1] if host.startswith("[") else host
        self._server = await asyncio.start_server(
            self._handle, bind_host, int(port), limit=MAX_HEADER_BYTES
        )
        bound = self._server.sockets[0].getsockname()[1]
        self.address = f"{host}:{bound}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            status, body, ctype = self._answer(head)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if not head.startswith(b"HEAD "):
                writer.write(body)
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except Exception:  # a scrape must never take the server down
            log.exception("metrics_request_failed")
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[str, bytes, str]:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
            return "405 Method Not Allowed", b"only GET /metrics\n", "text/plain"
        path = parts[1].split(b"?", 1)[0]
        if path not in (b"/metrics", b"/"):
            return "404 Not Found", b"see /metrics\n", "text/plain"
        return "200 OK", generate_latest(self._registry), CONTENT_TYPE_LATEST
