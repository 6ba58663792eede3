"""ServiceRegistry: instances register themselves; clients discover them from a watched cache.

An instance registers as an ephemeral node ``<base>/<service>/<instance id>``
whose data describes it (an address, a JSON document: bytes of your
choice). Because the node is ephemeral, an instance that dies disappears
with its session, without anyone deregistering it. The registry
re-registers its own instances when the client gets a new session after a
LOST one.

Discovery keeps a TreeCache per service (one recursive watch, loaded once),
so ``instances(service)`` after the first call is a local read, and
listeners hear ``fn(service, instances)`` whenever the set changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from coordsvc.client.errors import NodeExistsError
from coordsvc.client.states import KazooState
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import SESSION_GONE, AsyncRecipe, create_once, delete_quietly, join
from coordsvc.recipes.treecache import AsyncTreeCache, TreeEvent, TreeEventType

__all__ = ["AsyncServiceRegistry", "ServiceRegistry"]

_CHANGES = (TreeEventType.NODE_ADDED, TreeEventType.NODE_UPDATED, TreeEventType.NODE_REMOVED)


def _check_name(kind: str, name: str) -> None:
    if not name or "/" in name:
        raise ValueError(f"a {kind} is one path segment, not {name!r}")


class AsyncServiceRegistry(AsyncRecipe):
    """Service registration and discovery over an AsyncClient (see module doc).

    ``ServiceRegistry(client, path="/services")``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncServiceRegistry

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                registry = AsyncServiceRegistry(client)
                await registry.register("api", "api-1", b"10.0.0.5:8080")
                print(await registry.instances("api"))   # {'api-1': b'10.0.0.5:8080'}
                await registry.close()

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str = "/services") -> None:
        self.client = client
        self.path = path.rstrip("/")
        self._mine: dict[tuple[str, str], bytes] = {}
        self._caches: dict[str, AsyncTreeCache] = {}
        self._listeners: list[Callable[[str, dict[str, bytes]], Any]] = []
        self._lost = False
        self._listening = False

    async def register(self, service: str, instance_id: str, data: bytes = b"") -> str:
        """Register an instance (ephemeral); returns its node path."""
        _check_name("service", service)
        _check_name("instance id", instance_id)
        node = join(join(self.path, service), instance_id)
        if not self._listening:
            self._listening = True
            self.client.add_listener(self._on_state)
        try:
            await create_once(self.client, node, data, ephemeral=True)
        except NodeExistsError:
            raise NodeExistsError(
                f"instance {instance_id} of {service} is registered", node
            ) from None
        self._mine[(service, instance_id)] = data
        return node

    async def unregister(self, service: str, instance_id: str) -> bool:
        """Remove an instance this registry registered; False if it was not there."""
        self._mine.pop((service, instance_id), None)
        return await delete_quietly(self.client, join(join(self.path, service), instance_id))

    async def instances(self, service: str) -> dict[str, bytes]:
        """The live instances of ``service``: id -> data (from the watched cache)."""
        cache = await self._cache(service)
        root = join(self.path, service)
        out = {}
        for name in cache.get_children(root) or []:
            node = cache.get_data(join(root, name))
            if node is not None:
                out[name] = node.data
        return out

    def add_listener(self, fn: Callable[[str, dict[str, bytes]], Any]) -> None:
        """Call ``fn(service, instances)`` when a discovered service's instances change."""
        self._listeners.append(fn)

    async def close(self) -> None:
        """Stop discovery caches and unregister this registry's instances."""
        for cache in self._caches.values():
            await cache.close()
        self._caches.clear()
        for service, instance_id in list(self._mine):
            await self.unregister(service, instance_id)
        if self._listening:
            self._listening = False
            self.client.remove_listener(self._on_state)

    async def _cache(self, service: str) -> AsyncTreeCache:
        _check_name("service", service)
        cache = self._caches.get(service)
        if cache is None:
            await self.client.ensure_path(join(self.path, service))
            cache = AsyncTreeCache(self.client, join(self.path, service))
            cache._post_user = lambda fn, event: fn(event)  # internal listener: inline
            cache.add_listener(lambda event, s=service: self._on_tree(s, event))
            self._caches[service] = cache
            await cache.start()
        return cache

    def _on_tree(self, service: str, event: TreeEvent) -> None:
        if event.type not in _CHANGES or not self._listeners:
            return
        self._spawn(self._notify(service))

    async def _notify(self, service: str) -> None:
        current = await self.instances(service)
        for fn in list(self._listeners):
            self._post_user(fn, service, current)

    def _on_state(self, state: KazooState) -> None:
        if state is KazooState.LOST:
            self._lost = True
        elif state is KazooState.CONNECTED and self._lost:
            self._lost = False
            self._spawn(self._reregister())

    async def _reregister(self) -> None:
        for (service, instance_id), data in list(self._mine.items()):
            try:
                await self._claim(join(join(self.path, service), instance_id), data)
            except SESSION_GONE:
                return

    async def _claim(self, node: str, data: bytes) -> None:
        """Create ``node`` for this session, waiting out a node of the old session."""
        while True:
            try:
                await create_once(self.client, node, data, ephemeral=True)
                return
            except NodeExistsError:
                pass
            gone = asyncio.Event()

            async def on_change(_event: Any, gone: asyncio.Event = gone) -> None:
                gone.set()

            stat = await self.client.exists(node, watch=on_change)
            client_id = self.client.client_id
            if stat is not None and client_id is not None and stat.ephemeral_owner == client_id[0]:
                return
            if stat is not None:
                await gone.wait()  # the old session's node goes when the server expires it


class ServiceRegistry(SyncRecipe):
    """Service registration and discovery over the blocking Client.

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import ServiceRegistry

        with Client("127.0.0.1:2181") as client:
            registry = ServiceRegistry(client)
            registry.register("api", "api-1", b"10.0.0.5:8080")
            print(registry.instances("api"))   # {'api-1': b'10.0.0.5:8080'}
            registry.close()
    """

    def __init__(self, client: Any, path: str = "/services") -> None:
        self._wrap(client, lambda c: AsyncServiceRegistry(c, path))

    path = mirrored("path")
    register = blocking(AsyncServiceRegistry.register)
    unregister = blocking(AsyncServiceRegistry.unregister)
    instances = blocking(AsyncServiceRegistry.instances)
    close = blocking(AsyncServiceRegistry.close)

    def add_listener(self, fn: Callable[[str, dict[str, bytes]], Any]) -> None:
        self._core.add_listener(fn)
