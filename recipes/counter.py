"""Counter: a number in a node, changed by compare-and-set on the node's version.

Every change reads the value and its version, computes the new value and
writes it only if the version is unchanged (``set(..., version=v)``); a
BadVersionError means another client changed it first, so it reads and
tries again. No update is lost however many clients race.

The value is stored as text (``b"42"``, or ``b"1.5"`` with
``default_type=float``). ``pre_value`` and ``post_value`` are the value
before and after this client's last change, as in kazoo.

Error handling: a ConnectionLoss during the write leaves its outcome
unknown (the change may or may not have been applied), so it is raised to
the caller rather than retried into a possible double change.
"""

from __future__ import annotations

import contextlib
from typing import Any

from coordsvc.client.errors import BadVersionError, NodeExistsError, NoNodeError
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import AsyncRecipe

__all__ = ["AsyncCounter", "Counter"]

Number = int | float


class AsyncCounter(AsyncRecipe):
    """A shared counter over an AsyncClient (see module doc).

    ``Counter(client, path, default=0)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncCounter

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                hits = AsyncCounter(client, "/counters/hits")
                await hits.add(5)
                await hits.sub(2)
                print(await hits.get())   # 3 on a fresh counter

        asyncio.run(main())
    """

    def __init__(
        self, client: CoordClient, path: str, default: Number = 0, default_type: type = int
    ) -> None:
        if default_type not in (int, float):
            raise TypeError("default_type must be int or float")
        self.client = client
        self.path = path
        self.default = default_type(default)
        self.default_type = default_type
        self.pre_value: Number | None = None
        self.post_value: Number | None = None

    async def get(self) -> Number:
        """The current value (the default if the node does not exist yet)."""
        try:
            data, _ = await self.client.get(self.path)
        except NoNodeError:
            return self.default
        return self._parse(data)

    async def add(self, delta: Number) -> Number:
        """Add ``delta`` atomically; return the new value."""
        if not isinstance(delta, int | float) or isinstance(delta, bool):
            raise TypeError(f"delta must be a number, not {type(delta).__name__}")
        while True:
            value, version = await self._read()
            new = value + delta
            try:
                await self.client.set(self.path, self._encode(new), version=version)
            except BadVersionError:
                continue
            self.pre_value, self.post_value = value, new
            return new

    async def sub(self, delta: Number) -> Number:
        """Subtract ``delta`` atomically; return the new value."""
        return await self.add(-delta)

    async def _read(self) -> tuple[Number, int]:
        while True:
            try:
                data, stat = await self.client.get(self.path)
                return self._parse(data), stat.version
            except NoNodeError:
                with contextlib.suppress(NodeExistsError):
                    await self.client.create(self.path, self._encode(self.default), makepath=True)

    def _parse(self, data: bytes) -> Number:
        return self.default_type(data.decode()) if data else self.default

    def _encode(self, value: Number) -> bytes:
        return repr(self.default_type(value)).encode()


class Counter(SyncRecipe):
    """A shared counter over the blocking Client, with kazoo's ``+=`` / ``-=``.

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Counter

        with Client("127.0.0.1:2181") as client:
            hits = Counter(client, "/counters/hits")
            hits += 5
            hits -= 2
            print(hits.value, hits.pre_value, hits.post_value)
    """

    def __init__(self, client: Any, path: str, default: Number = 0, default_type: type = int):
        self._wrap(client, lambda c: AsyncCounter(c, path, default, default_type))

    path = mirrored("path")
    pre_value = mirrored("pre_value")
    post_value = mirrored("post_value")
    get = blocking(AsyncCounter.get)
    add = blocking(AsyncCounter.add)
    sub = blocking(AsyncCounter.sub)

    @property
    def value(self) -> Number:
        return self.get()

    def __add__(self, delta: Number) -> Counter:
        self.add(delta)
        return self

    def __sub__(self, delta: Number) -> Counter:
        self.sub(delta)
        return self

    __iadd__ = __add__
    __isub__ = __sub__
