"""Running the async recipes for the blocking ``Client``.

Every recipe is written once, on asyncio. Its sync form is a thin wrapper
that submits the async recipe's coroutines to the event loop the sync
``Client`` already runs in its background thread, and blocks for the
result: one implementation, one loop, no second thread of recipe logic.

User code handed to a sync recipe (a DataWatch function, a listener) must
not run on that loop thread, where a blocking client call would deadlock.
It runs on one callback thread per client, in order.

The bridge needs the blocking client's ``async_client`` and ``loop`` (the
SDK's ``Client`` and the test fake's sync client both publish them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from coordsvc.recipes._protocol import CoordClient

__all__ = ["Bridge", "bridge_for", "blocking", "mirrored", "SyncRecipe"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_BRIDGES: weakref.WeakKeyDictionary[Any, Bridge] = weakref.WeakKeyDictionary()
_BRIDGES_LOCK = threading.Lock()


class Bridge:
    """A sync client's AsyncClient, its loop, and the thread user callbacks run on."""

    def __init__(self, aclient: CoordClient, loop: asyncio.AbstractEventLoop) -> None:
        self.aclient = aclient
        self.loop = loop
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop and block until it is done.

        If the waiting thread is interrupted (KeyboardInterrupt), the
        coroutine is cancelled too, so no acquisition goes on unseen.
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise RuntimeError(
                "a blocking recipe call on the client's own loop thread would deadlock "
                "(from a state listener?); use the Async* recipe there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a non-blocking ``fn`` on the loop (e.g. to wake a waiting coroutine)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    1, thread_name_prefix="coordsvc-recipe-callback"
                )
            return self._executor

    async def call_user(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run user code on the callback thread and wait for its result."""
        return await self.loop.run_in_executor(self._pool(), functools.partial(fn, *args))

    def post_user(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue user code on the callback thread; errors are logged."""
        self._pool().submit(_logged, fn, *args)


def _logged(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("recipe listener %r raised; ignored", fn)


def bridge_for(client: Any) -> Bridge:
    """The Bridge of a blocking client (one per client, shared by its recipes)."""
    aclient = getattr(client, "async_client", None)
    loop = getattr(client, "loop", None)
    if aclient is None or not isinstance(loop, asyncio.AbstractEventLoop):
        raise TypeError(
            f"{type(client).__name__} is not a blocking coordsvc Client; "
            "use the Async* recipes with an AsyncClient"
        )
    with _BRIDGES_LOCK:
        try:
            bridge = _BRIDGES.get(client)
        except TypeError:  # not weak-referenceable: no sharing
            return Bridge(aclient, loop)
        if bridge is None or bridge.aclient is not aclient:
            bridge = Bridge(aclient, loop)
            _BRIDGES[client] = bridge
        return bridge


class SyncRecipe:
    """Base of the sync forms: ``_core`` is the async recipe, ``_bridge`` runs it."""

    _core: Any
    _bridge: Bridge

    def _wrap(self, client: Any, factory: Callable[[CoordClient], Any]) -> None:
        self._bridge = bridge_for(client)
        self._core = factory(self._bridge.aclient)
        self._core._call_user = self._bridge.call_user
        self._core._post_user = self._bridge.post_user

    def __repr__(self) -> str:
        return f"<sync {self._core!r}>"


def blocking(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """A sync method that runs the async recipe's method of the same name."""
    name = fn.__name__

    @functools.wraps(fn)
    def method(self: SyncRecipe, *args: Any, **kwargs: Any) -> T:
        return self._bridge.run(getattr(self._core, name)(*args, **kwargs))

    return method


def mirrored(name: str, doc: str | None = None) -> property:
    """A read-only property read straight from the async recipe."""
    return property(lambda self: getattr(self._core, name), doc=doc)
