"""DataWatch and ChildrenWatch: call a function with a node's data or children, now and on every change.

kazoo-style decorators::

    @DataWatch(client, "/config/app")
    def on_config(data, stat):          # data and stat are None while the node is missing
        ...

    @ChildrenWatch(client, "/workers")
    def on_workers(children):
        ...

The function is called once at the start and then after every change; a
function taking one more argument also gets the WatchedEvent that caused
the call (None for the first). Returning False stops the watch, as does
``stop()``. Changes that happen in quick succession may be reported once,
with the newest value (a watch is re-set by reading again). A missing node
is reported (None / []) and watched for creation.

The watch survives connection loss (the SDK re-arms it) and, for a
DataWatch and a ChildrenWatch with ``allow_session_lost=True``, the end of
a session too: it is set again once the client has a new session.

The watch runs in its own task, never inside the SDK's event dispatch, so
the function may call the client. The sync forms call it on the client's
callback thread; the decorator returns after the first call.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from coordsvc.client.errors import NoNodeError
from coordsvc.client.states import KazooState
from coordsvc.client.watches import WatchedEvent
from coordsvc.recipes._bridge import SyncRecipe, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import SESSION_GONE, AsyncRecipe

__all__ = ["AsyncDataWatch", "AsyncChildrenWatch", "DataWatch", "ChildrenWatch"]


def _takes_event(fn: Callable[..., Any], base: int) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) > base or any(p.kind is p.VAR_POSITIONAL for p in params)


class _Watch(AsyncRecipe):
    """The loop shared by both: read with a watch, call the function on news, wait."""

    _BASE_ARGS = 1

    def __init__(
        self, client: CoordClient, path: str, func: Callable[..., Any] | None = None
    ) -> None:
        self.client = client
        self.path = path
        self._func: Callable[..., Any] | None = None
        self._with_event = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._changed = asyncio.Event()
        self._event: WatchedEvent | None = None
        self._session_lost = False
        if func is not None:
            self(func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Start watching with ``func`` (use as a decorator; needs a running loop)."""
        if self._func is not None:
            raise RuntimeError("this watch already has a function")
        self._func = func
        self._with_event = _takes_event(func, self._BASE_ARGS)
        self._task = asyncio.ensure_future(self._run())
        return func

    @property
    def stopped(self) -> bool:
        return self._stopped

    async def started(self) -> None:
        """Wait until the function has been called the first time (or the watch ended)."""
        await self._started.wait()

    def stop(self) -> None:
        """Stop watching (call on the loop); the function is not called again."""
        self._stopped = True
        self._changed.set()

    async def _run(self) -> None:
        self.client.add_listener(self._on_state)
        last: Any = _NOTHING
        try:
            while not self._stopped:
                self._changed.clear()
                event, self._event = self._event, None
                try:
                    value = await self._read()
                except SESSION_GONE:
                    self._started.set()
                    await self._changed.wait()
                    continue
                if self._stopped:
                    break
                if last is _NOTHING or self._differs(last, value):
                    last = value
                    args = (*value, event) if self._with_event else value
                    if await self._call_user(self._func, *args) is False:
                        break
                self._started.set()
                await self._changed.wait()
        finally:
            self._stopped = True
            self.client.remove_listener(self._on_state)
            self._started.set()

    async def _on_event(self, event: WatchedEvent) -> None:
        self._event = event
        self._changed.set()

    def _on_state(self, state: KazooState) -> None:
        if state is KazooState.LOST:
            self._session_lost = True
            if not self._allow_session_lost():
                self.stop()
        elif state is KazooState.CONNECTED and self._session_lost:
            self._session_lost = False  # a new session: the old watches are gone; set again
            self._changed.set()

    def _allow_session_lost(self) -> bool:
        return True

    async def _read(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _differs(self, old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
        return old != new


_NOTHING = object()


class AsyncDataWatch(_Watch):
    """Watch a node's data over an AsyncClient (see module doc).

    ``DataWatch(client, path, func=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncDataWatch

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                seen = asyncio.Queue()
                watch = AsyncDataWatch(client, "/config/app")

                @watch
                def on_config(data, stat):
                    seen.put_nowait(data)

                await watch.started()      # the first call is done
                await client.create("/config/app", b"v1", makepath=True)
                print(await seen.get(), await seen.get())   # None b'v1'
                watch.stop()

        asyncio.run(main())
    """

    _BASE_ARGS = 2

    async def _read(self) -> tuple[Any, ...]:
        while True:
            try:
                return await self.client.get(self.path, watch=self._on_event)
            except NoNodeError:
                if await self.client.exists(self.path, watch=self._on_event) is None:
                    return None, None
                # created between the two reads: read its data

    def _differs(self, old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
        (_, a), (_, b) = old, new
        if a is None or b is None:
            return a is not b
        return (a.czxid, a.mzxid) != (b.czxid, b.mzxid)


class AsyncChildrenWatch(_Watch):
    """Watch a node's children over an AsyncClient (see module doc).

    ``ChildrenWatch(client, path, func=None, allow_session_lost=True,
    send_event=False)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncChildrenWatch

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                await client.ensure_path("/workers")
                seen = asyncio.Queue()
                watch = AsyncChildrenWatch(client, "/workers", seen.put_nowait)
                await watch.started()
                await client.create("/workers/w1", ephemeral=True)
                print(await seen.get(), await seen.get())   # [] ['w1']

        asyncio.run(main())
    """

    def __init__(
        self,
        client: CoordClient,
        path: str,
        func: Callable[..., Any] | None = None,
        allow_session_lost: bool = True,
        send_event: bool = False,
    ) -> None:
        self.allow_session_lost = allow_session_lost
        self.send_event = send_event
        super().__init__(client, path, func)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        result = super().__call__(func)
        self._with_event = self.send_event
        return result

    def _allow_session_lost(self) -> bool:
        return self.allow_session_lost

    async def _read(self) -> tuple[Any, ...]:
        while True:
            try:
                return (sorted(await self.client.get_children(self.path, watch=self._on_event)),)
            except NoNodeError:
                if await self.client.exists(self.path, watch=self._on_event) is None:
                    return ([],)


class _SyncWatch(SyncRecipe):
    _async_class: type[_Watch]

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Start watching with ``func``; returns after its first call."""

        async def start() -> None:
            self._core(func)
            await self._core.started()

        self._bridge.run(start())
        return func

    path = mirrored("path")
    stopped = mirrored("stopped")

    def stop(self) -> None:
        self._bridge.call_soon(self._core.stop)


class DataWatch(_SyncWatch):
    """Watch a node's data over the blocking Client (see AsyncDataWatch).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import DataWatch

        with Client("127.0.0.1:2181") as client:
            client.ensure_path("/config/app")

            @DataWatch(client, "/config/app")
            def on_config(data, stat):
                print("config is", data)
                return data != b"final"     # False stops the watch

            client.set("/config/app", b"final")
    """

    def __init__(self, client: Any, path: str, func: Callable[..., Any] | None = None) -> None:
        self._wrap(client, lambda c: AsyncDataWatch(c, path))
        if func is not None:
            self(func)


class ChildrenWatch(_SyncWatch):
    """Watch a node's children over the blocking Client (see AsyncChildrenWatch).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import ChildrenWatch

        with Client("127.0.0.1:2181") as client:
            client.ensure_path("/workers")

            @ChildrenWatch(client, "/workers")
            def on_workers(children):
                print("workers:", children)

            client.create("/workers/w1", ephemeral=True)
    """

    def __init__(
        self,
        client: Any,
        path: str,
        func: Callable[..., Any] | None = None,
        allow_session_lost: bool = True,
        send_event: bool = False,
    ) -> None:
        self._wrap(
            client,
            lambda c: AsyncChildrenWatch(
                c, path, allow_session_lost=allow_session_lost, send_event=send_event
            ),
        )
        if func is not None:
            self(func)
