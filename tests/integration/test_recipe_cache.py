"""Watch-driven recipes against a real coordination service: TreeCache, ServiceRegistry, watchers."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import recipe_env
from coordsvc.client import AsyncClient, Client
from coordsvc.client.errors import NodeExistsError, NoNodeError, NotEmptyError
from coordsvc.recipes import AsyncServiceRegistry, AsyncTreeCache, ChildrenWatch, DataWatch
from recipe_env import Proxies, end_children, expiry_bound, python_child, read_line, sigkill

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

INSTANCE = """
import sys, threading
from coordsvc.client import Client
from coordsvc.recipes import ServiceRegistry
client = Client(sys.argv[1], session_timeout=float(sys.argv[2]))
client.start()
ServiceRegistry(client, sys.argv[3]).register("api", "api-doomed", b"10.0.0.9:80")
print("registered", flush=True)
threading.Event().wait()
"""


async def started(address: str, n: int, timeout: float = 5.0) -> list[AsyncClient]:
    clients = [AsyncClient(address, session_timeout=timeout) for _ in range(n)]
    await asyncio.gather(*(c.start() for c in clients))
    return clients


async def stopped(clients: list[AsyncClient]) -> None:
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


async def snapshot(client: AsyncClient, path: str) -> dict[str, bytes]:
    """The subtree as the service has it now."""
    out = {}
    try:
        data, _ = await client.get(path)
        kids = await client.get_children(path)
    except NoNodeError:
        return out
    out[path] = data
    for name in kids:
        out |= await snapshot(client, f"{path}/{name}")
    return out


def mirror(cache: AsyncTreeCache) -> dict[str, bytes]:
    return {p: cache.get_data(p).data for p in cache.paths()}


async def converged(cache: AsyncTreeCache, client: AsyncClient, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while mirror(cache) != (want := await snapshot(client, cache.path)):
        assert time.monotonic() < deadline, f"cache {mirror(cache)} != tree {want}"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def churn(client: AsyncClient, root: str, seed: int, ops: int) -> None:
    """Random creates, sets and deletes under ``root``."""
    rng = random.Random(seed)
    for _ in range(ops):
        path = f"{root}/" + "/".join(rng.choice("abc") for _ in range(rng.randint(1, 3)))
        try:
            match rng.random():
                case r if r < 0.5:
                    await client.create(path, str(rng.random()).encode(), makepath=True)
                case r if r < 0.8:
                    await client.set(path, str(rng.random()).encode())
                case _:
                    await client.delete(path)
        except (NodeExistsError, NoNodeError, NotEmptyError):
            pass


async def test_tree_cache_mirrors_concurrent_changes(coord, base) -> None:
    owner, *writers = await started(coord, 4)
    try:
        await owner.create(f"{base}/mirror/a/b", b"seed", makepath=True)
        cache = AsyncTreeCache(owner, f"{base}/mirror")
        await cache.start()
        assert mirror(cache) == await snapshot(owner, f"{base}/mirror")
        await asyncio.gather(
            *(churn(w, f"{base}/mirror", seed, 60) for seed, w in enumerate(writers))
        )
        await converged(cache, owner)
        await cache.close()
    finally:
        await stopped([owner, *writers])


async def test_tree_cache_catches_up_after_a_connection_cut(coord, base) -> None:
    proxy = await Proxies(coord).start()
    client = AsyncClient(proxy.address, session_timeout=4.0, connect_timeout=0.5)
    (writer,) = await started(coord, 1)
    await client.start()
    try:
        await writer.ensure_path(f"{base}/mirror")
        cache = AsyncTreeCache(client, f"{base}/mirror")
        await cache.start()
        proxy.pause()  # changes made now are never seen as events
        await writer.create(f"{base}/mirror/while-away", b"1")
        await writer.set(f"{base}/mirror", b"changed")
        proxy.cut()
        proxy.resume()
        await converged(cache, writer)
        assert cache.get_data(f"{base}/mirror/while-away").data == b"1"
        await cache.close()
    finally:
        await stopped([client, writer])
        await proxy.close()


async def test_a_killed_instance_disappears_from_discovery(coord, base) -> None:
    session_timeout = 1.0
    (client,) = await started(coord, 1)
    instance = python_child(INSTANCE, coord, str(session_timeout), f"{base}/services")
    try:
        registry = AsyncServiceRegistry(client, f"{base}/services")
        await registry.register("api", "api-local", b"10.0.0.1:80")
        assert read_line(instance) == "registered"
        deadline = time.monotonic() + 10
        while "api-doomed" not in await registry.instances("api"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait
        gone = asyncio.Event()
        registry.add_listener(lambda service, found: "api-doomed" in found or gone.set())
        killed = sigkill(instance)
        await asyncio.wait_for(gone.wait(), 10)
        took = time.monotonic() - killed
        # expiry, then the CloseSession commit and the registry's watch (CI slack)
        assert took <= expiry_bound(session_timeout) + 0.5, f"still listed {took:.2f}s after death"
        assert await registry.instances("api") == {"api-local": b"10.0.0.1:80"}
        await registry.close()
        assert await client.get_children(f"{base}/services/api") == []
    finally:
        end_children([instance])
        await stopped([client])


def test_sync_data_and_children_watches(coord, base) -> None:
    with Client(coord, session_timeout=4.0) as client:
        client.ensure_path(f"{base}/watched")
        datas: list[bytes | None] = []
        kids: list[list[str]] = []
        done = threading.Event()

        @DataWatch(client, f"{base}/watched")
        def on_data(data, stat):
            datas.append(data)

        children_watch = ChildrenWatch(client, f"{base}/watched")

        @children_watch
        def on_children(children):
            kids.append(children)
            if children == ["x", "y"]:
                done.set()
                return False
            return None

        assert datas == [b""] and kids == [[]]  # both called before the decorators returned
        client.set(f"{base}/watched", b"v1")
        client.create(f"{base}/watched/x")
        client.create(f"{base}/watched/y")
        assert done.wait(10)
        deadline = time.monotonic() + 10
        while datas[-1] != b"v1":
            assert time.monotonic() < deadline
            time.sleep(0.01)  # poll interval of a deadline-bounded wait
        while not children_watch.stopped:  # returning False stopped it
            assert time.monotonic() < deadline
            time.sleep(0.01)  # poll interval of a deadline-bounded wait
        client.create(f"{base}/watched/z")  # not reported any more
        assert kids[-1] == ["x", "y"]
