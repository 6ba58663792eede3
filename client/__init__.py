"""The coordsvc SDK: ``AsyncClient`` (asyncio) and ``Client`` (blocking).

Method names follow kazoo. Errors are in ``coordsvc.client.errors``; the
connection states (CONNECTED, SUSPENDED, LOST) in ``coordsvc.client.states``.
"""

from coordsvc.client import errors, states
from coordsvc.client.aio import AsyncClient, WatchHandle
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.states import KazooState, SessionState
from coordsvc.client.sync import Client
from coordsvc.client.watches import EventType, WatchedEvent

from coordsvc.tree.znode import Stat

__all__ = [
    "AsyncClient",
    "Client",
    "errors",
    "states",
    "EventType",
    "KazooState",
    "RetryPolicy",
    "SessionState",
    "Stat",
    "WatchHandle",
    "WatchedEvent",
]
