"""The client operations the recipes use, as a Protocol.

Recipes are written against ``CoordClient``, not against ``AsyncClient``,
so the in-memory ``FakeCoordClient`` of the tests (and any other async
client with kazoo's method names) drives them too. Only what the recipes
call is listed here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from coordsvc.client.states import KazooState
from coordsvc.client.watches import WatchedEvent

from coordsvc.tree.znode import Stat

__all__ = ["CoordClient", "TransactionLike", "Watcher"]

T = TypeVar("T")
Watcher = Callable[[WatchedEvent], Any]


class TransactionLike(Protocol):
    def create(
        self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False
    ) -> None: ...

    def delete(self, path: str, version: int = -1) -> None: ...

    def set_data(self, path: str, value: bytes, version: int = -1) -> None: ...

    def check(self, path: str, version: int) -> None: ...

    async def commit(self) -> list[Any]: ...


@runtime_checkable
class CoordClient(Protocol):
    """An asyncio coordsvc client (``AsyncClient`` or a test fake)."""

    @property
    def state(self) -> KazooState: ...

    @property
    def client_id(self) -> tuple[int, bytes] | None: ...

    def add_listener(self, fn: Callable[[KazooState], Any]) -> None: ...

    def remove_listener(self, fn: Callable[[KazooState], Any]) -> None: ...

    async def create(
        self,
        path: str,
        value: bytes = b"",
        ephemeral: bool = False,
        sequence: bool = False,
        makepath: bool = False,
    ) -> str: ...

    async def ensure_path(self, path: str) -> None: ...

    async def exists(self, path: str, watch: Watcher | None = None) -> Stat | None: ...

    async def get(self, path: str, watch: Watcher | None = None) -> tuple[bytes, Stat]: ...

    async def set(self, path: str, value: bytes, version: int = -1) -> Stat: ...

    async def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool: ...

    async def get_children(self, path: str, watch: Watcher | None = None) -> Any: ...

    def transaction(self) -> TransactionLike: ...

    async def add_watch(self, path: str, fn: Watcher, recursive: bool = False) -> Any: ...

    async def remove_watch(self, handle: Any) -> None: ...

    async def retry(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...
