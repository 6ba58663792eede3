"""Helpers shared by the recipes: node names, sequence order, safe creates.

Contender nodes are named ``<guid><marker><sequence>``: a fresh uuid4 hex
per attempt, a marker saying what the node is (``__lock__``, ``__rlock__``,
...), then the server's sequence suffix. The GUID is what makes a
sequential create safe to retry: when the connection drops with the create
in flight, its outcome is unknown, so the recipe lists the parent and looks
for a child with its own GUID before creating another node (a second node
would be a ghost contender that holds the lock or blocks others until the
session ends).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from coordsvc.client.errors import (
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from coordsvc.recipes._protocol import CoordClient

__all__ = [
    "SESSION_GONE",
    "default_identifier",
    "join",
    "sequence_of",
    "sort_by_sequence",
    "create_sequential",
    "find_by_prefix",
    "delete_quietly",
    "call_user",
    "post_user",
    "new_guid",
    "AsyncRecipe",
    "remaining",
]

log = logging.getLogger(__name__)

#: errors after which the session (and every ephemeral of it) is gone
SESSION_GONE = (SessionExpiredError, ConnectionClosedError)

_TRAILING_DIGITS = re.compile(r"(\d+)$")


def default_identifier() -> str:
    """``host:pid``: who a contender is, for ``contenders()`` and logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def new_guid() -> str:
    return uuid.uuid4().hex


def join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name if parent != "/" else "/" + name


def sequence_of(name: str) -> int:
    """The sequence number a sequential node name ends with (compared as a number)."""
    m = _TRAILING_DIGITS.search(name)
    if m is None:
        raise ValueError(f"{name!r} has no sequence suffix")
    return int(m.group(1))


def sort_by_sequence(names: Iterable[str], markers: tuple[str, ...]) -> list[str]:
    """The names carrying one of ``markers`` and a sequence suffix, in sequence order."""
    found = [
        n for n in names if any(m in n for m in markers) and _TRAILING_DIGITS.search(n) is not None
    ]
    return sorted(found, key=sequence_of)


async def find_by_prefix(client: CoordClient, parent: str, prefix: str) -> str | None:
    """The full path of the child of ``parent`` whose name starts with ``prefix``."""
    try:
        children = await client.get_children(parent)
    except NoNodeError:
        return None
    for name in children:
        if name.startswith(prefix):
            return join(parent, name)
    return None


async def create_sequential(
    client: CoordClient,
    parent: str,
    prefix: str,
    data: bytes,
    *,
    ephemeral: bool,
    on_loss: Callable[[], Any] | None = None,
) -> str:
    """Create ``parent/prefix<seq>`` exactly once, even across connection loss.

    ``prefix`` must start with a GUID. After a ConnectionLoss the create may
    or may not have been applied: the parent is listed (a read, retried by
    the client) and a child starting with ``prefix`` is taken as ours; only
    when there is none is the create sent again. ``on_loss`` is called on
    each ConnectionLoss (tests count them).
    """
    path = join(parent, prefix)
    while True:
        try:
            return await client.create(
                path, data, ephemeral=ephemeral, sequence=True, makepath=True
            )
        except ConnectionLoss:
            if on_loss is not None:
                on_loss()
            found = await client.retry(find_by_prefix, client, parent, prefix)
            if found is not None:
                return found
            log.debug("create of %s* was not applied; creating again", path)


async def create_once(client: CoordClient, path: str, data: bytes, *, ephemeral: bool) -> bool:
    """Create a uniquely named node; True if this call (or its lost twin) made it.

    For names only this caller uses (a GUID in them): NodeExists after a
    ConnectionLoss means the first attempt went through.
    """
    lost = False
    while True:
        try:
            await client.create(path, data, ephemeral=ephemeral, makepath=True)
            return True
        except NodeExistsError:
            if lost:
                return True
            raise
        except ConnectionLoss:
            lost = True


async def delete_quietly(client: CoordClient, path: str, version: int = -1) -> bool:
    """Delete ``path``, retrying connection loss; False if it was already gone.

    A session that ended took its ephemerals with it, so SESSION_GONE counts
    as gone too.
    """
    try:
        await client.retry(client.delete, path, version)
        return True
    except NoNodeError:
        return False
    except SESSION_GONE:
        return False


async def call_user(fn: Callable[..., Any], *args: Any) -> Any:
    """Call user code inline on the loop (the async forms); await its result if needed."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def post_user(fn: Callable[..., Any], *args: Any) -> None:
    """Call a user listener without waiting for it; its errors are logged, not raised."""
    try:
        result = fn(*args)
    except Exception:
        log.exception("recipe listener %r raised; ignored", fn)
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("recipe listener failed", exc_info=task.exception())


class AsyncRecipe:
    """Base of the async recipes: how they call user code.

    The async forms call it inline on the loop; a sync form swaps in its
    Bridge's methods, which run it on the client's callback thread.
    """

    _call_user: Callable[..., Any] = staticmethod(call_user)
    _post_user: Callable[..., None] = staticmethod(post_user)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        tasks: set[asyncio.Task[Any]] = self.__dict__.setdefault("_tasks", set())
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(_log_failure)
        return task


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (loop time), None for no deadline."""
    if deadline is None:
        return None
    return max(deadline - asyncio.get_running_loop().time(), 0.0)
