"""Client: the AsyncClient's API, blocking, for code without an event loop.

One background thread runs an event loop that owns the AsyncClient; each
method submits the matching coroutine there and waits for its result, so
there is exactly one implementation of every op. Plain watch callbacks run
one at a time on a single callback thread, and the loop waits for each
before the next event, so the AsyncClient's guarantee carries over: a call
returns only after the callbacks of earlier events have finished. A callback
may call the client; a state listener runs on the loop thread and may not.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import random
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from coordsvc.client.aio import AsyncClient
from coordsvc.client.retry import RetryPolicy
from coordsvc.client.states import KazooState, SessionState
from coordsvc.client.tls import StrPath
from coordsvc.client.transaction import Transaction
from coordsvc.client.watch_stream import WatchStream
from coordsvc.client.watches import WatchedEvent

__all__ = ["Client", "SyncTransaction", "SyncWatchStream"]

T = TypeVar("T")


class Client:
    """A coordsvc session with blocking calls; arguments as for AsyncClient."""

    def __init__(
        self,
        hosts: str | Sequence[str] = "127.0.0.1:2181",
        session_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float | None = None,
        rng: random.Random | None = None,
        *,
        client_id: tuple[int, bytes] | None = None,
        use_ssl: bool = False,
        ca: StrPath | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
    ) -> None:
        # made first: bad TLS arguments must not leave a thread or a loop behind
        self._async = AsyncClient(
            hosts,
            session_timeout,
            retry,
            connect_timeout,
            rng,
            client_id=client_id,
            callback_runner=self._run_callback,
            use_ssl=use_ssl,
            ca=ca,
            certfile=certfile,
            keyfile=keyfile,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="coordsvc-client-loop", daemon=True
        )
        self._callbacks = ThreadPoolExecutor(1, thread_name_prefix="coordsvc-client-callback")
        self._thread.start()
        # a Client dropped without close() must not leave its threads behind
        self._finalizer = weakref.finalize(self, _stop_threads, self._loop, self._callbacks)

    @property
    def async_client(self) -> AsyncClient:
        """The AsyncClient this facade drives (for code that runs on ``loop``)."""
        return self._async

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the AsyncClient runs on, in this client's own thread."""
        return self._loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the client's loop and block until it is done."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "blocking Client call from the client's own loop thread (a state "
                "listener?) would deadlock; hand the work to another thread"
            )
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("the Client was closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _run_callback(self, fn: Callable[[WatchedEvent], Any], event: WatchedEvent) -> None:
        if inspect.iscoroutinefunction(fn):
            await fn(event)
            return
        ctx = contextvars.copy_context()  # marks calls made by fn as "inside a callback"
        await self._loop.run_in_executor(self._callbacks, ctx.run, fn, event)

    # ---- lifecycle --------------------------------------------------------

    def close(self) -> None:
        """Stop the session if needed and end the background threads."""
        if self._loop.is_closed():
            return
        if self._async.session_state is not SessionState.CLOSED:
            self.stop()
        self._run(_cancel_leftovers())
        self._finalizer.detach()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._callbacks.shutdown(wait=True)

    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- state and listeners ------------------------------------------------

    client_id = property(lambda self: self._async.client_id, doc=AsyncClient.client_id.__doc__)
    state = property(lambda self: self._async.state, doc=AsyncClient.state.__doc__)
    session_state = property(
        lambda self: self._async.session_state, doc=AsyncClient.session_state.__doc__
    )
    connected = property(lambda self: self._async.connected)
    last_zxid = property(lambda self: self._async.last_zxid, doc=AsyncClient.last_zxid.__doc__)
    session_timeout = property(lambda self: self._async.session_timeout)
    server_id = property(lambda self: self._async.server_id, doc=AsyncClient.server_id.__doc__)

    def add_listener(self, fn: Callable[[KazooState], Any]) -> None:
        """Call ``fn(state)`` on each change, on the loop thread: never block in it."""
        self._async.add_listener(fn)

    def remove_listener(self, fn: Callable[[KazooState], Any]) -> None:
        self._async.remove_listener(fn)

    # ---- things that wrap async objects --------------------------------------

    def transaction(self) -> SyncTransaction:
        """A new transaction: add ops, then ``commit()``."""
        return SyncTransaction(self, self._async.transaction())

    def watch_stream(
        self, path: str, recursive: bool = True, start_zxid: int | None = None
    ) -> SyncWatchStream:
        """A blocking iterator over the resumable Watch stream (see AsyncClient)."""
        return SyncWatchStream(self, self._async.watch_stream(path, recursive, start_zxid))

    def retry(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` (a blocking function) under the retry policy."""
        call = functools.partial(fn, *args, **kwargs)
        return self._run(self._async.retry(asyncio.to_thread, call))


def _stop_threads(loop: asyncio.AbstractEventLoop, callbacks: ThreadPoolExecutor) -> None:
    """Finalizer of an unclosed Client: let its loop thread and callback thread end."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
    callbacks.shutdown(wait=False)


async def _cancel_leftovers() -> None:
    """End tasks grpc or callers left on the loop, so closing it is clean."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


def _delegate(name: str) -> Callable[..., Any]:
    target = getattr(AsyncClient, name)

    @functools.wraps(target)
    def method(self: Client, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(self._async, name)(*args, **kwargs))

    return method


for _name in (
    "start",
    "stop",
    "create",
    "ensure_path",
    "exists",
    "get",
    "set",
    "delete",
    "get_children",
    "sync",
    "add_watch",
    "remove_watch",
):
    setattr(Client, _name, _delegate(_name))
del _name


class SyncTransaction:
    """A Transaction whose ``commit()`` blocks."""

    def __init__(self, client: Client, txn: Transaction) -> None:
        self._client = client
        self._txn = txn
        self.create = txn.create
        self.delete = txn.delete
        self.set_data = txn.set_data
        self.check = txn.check

    @property
    def operations(self) -> list[Any]:
        return self._txn.operations

    def commit(self) -> list[Any]:
        """Apply every op or none; one result per op (see Transaction)."""
        return self._client._run(self._txn.commit())


class SyncWatchStream(Iterator[WatchedEvent]):
    """A WatchStream driven from a plain thread; ``close()`` when done."""

    def __init__(self, client: Client, stream: WatchStream) -> None:
        self._client = client
        self._stream = stream

    @property
    def zxid(self) -> int:
        return self._stream.zxid

    def __next__(self) -> WatchedEvent:
        try:
            return self._client._run(self._stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self, timeout: float) -> WatchedEvent:
        """The next event, or TimeoutError after ``timeout`` seconds."""

        async def one() -> WatchedEvent:
            async with asyncio.timeout(timeout):
                return await self._stream.__anext__()

        return self._client._run(one())

    def close(self) -> None:
        self._client._run(self._stream.aclose())
