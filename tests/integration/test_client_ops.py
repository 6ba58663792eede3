"""AsyncClient against a real server: every op, its results and its errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from coordsvc.client import AsyncClient, Stat
from coordsvc.client.errors import (
    BadVersionError,
    DataTooLargeError,
    InvalidPathError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
)

BAD_PATHS = ["a", "", "/a/", "/a//b", "/a/./b", "/a/../b", "/a\x00b", "/.", "/.."]


@pytest.fixture
async def client(server) -> AsyncIterator[AsyncClient]:
    c = AsyncClient(server.address, session_timeout=4.0)
    await c.start()
    yield c
    await c.stop()


async def test_create_get_set_delete_round_trip(client: AsyncClient) -> None:
    assert await client.create("/n", b"one") == "/n"
    data, stat = await client.get("/n")
    assert data == b"one"
    assert isinstance(stat, Stat)
    assert (stat.version, stat.data_length, stat.num_children) == (0, 3, 0)
    assert stat.czxid == stat.mzxid > 0
    assert stat.ephemeral_owner == 0

    new = await client.set("/n", b"three")
    assert (new.version, new.data_length) == (1, 5)
    assert new.mzxid > stat.mzxid and new.czxid == stat.czxid
    assert (await client.get("/n"))[0] == b"three"
    assert await client.exists("/n") == new

    assert await client.delete("/n") is True
    assert await client.exists("/n") is None
    assert client.last_zxid >= new.mzxid


async def test_versions_are_checked(client: AsyncClient) -> None:
    await client.create("/v", b"0")
    with pytest.raises(BadVersionError):
        await client.set("/v", b"1", version=5)
    assert (await client.set("/v", b"1", version=0)).version == 1
    with pytest.raises(BadVersionError):
        await client.delete("/v", version=0)
    assert (await client.get("/v"))[0] == b"1"
    await client.delete("/v", version=1)
    assert await client.exists("/v") is None


async def test_sequential_and_ephemeral_flags(client: AsyncClient) -> None:
    await client.create("/seq")
    first = await client.create("/seq/item-", b"", sequence=True)
    second = await client.create("/seq/item-", b"", sequence=True)
    assert first == "/seq/item-0000000000"
    assert second == "/seq/item-0000000001"
    path = await client.create("/eph", b"", ephemeral=True)
    stat = await client.exists(path)
    assert stat is not None
    assert stat.ephemeral_owner == client.client_id[0]
    both = await client.create("/seq/e-", ephemeral=True, sequence=True)
    assert both == "/seq/e-0000000002"


async def test_container_and_ttl_nodes_can_be_created(client: AsyncClient) -> None:
    assert await client.create("/box", container=True) == "/box"
    assert await client.create("/lease", b"t", ttl=60_000) == "/lease"
    assert (await client.get("/lease"))[0] == b"t"


async def test_makepath_and_ensure_path(client: AsyncClient) -> None:
    with pytest.raises(NoNodeError):
        await client.create("/p/q/r", b"x")
    assert await client.create("/p/q/r", b"x", makepath=True) == "/p/q/r"
    assert (await client.get("/p/q"))[0] == b""
    await client.ensure_path("/p/q/s/t")
    await client.ensure_path("/p/q/s/t")  # idempotent
    assert await client.get_children("/p/q") == ["r", "s"]
    seq = await client.create("/m/n/job-", sequence=True, makepath=True)
    assert seq == "/m/n/job-0000000000"


async def test_get_children_and_include_data(client: AsyncClient) -> None:
    await client.create("/kids")
    for name in ["c", "a", "b"]:
        await client.create(f"/kids/{name}")
    assert await client.get_children("/kids") == ["a", "b", "c"]
    names, stat = await client.get_children("/kids", include_data=True)
    assert names == ["a", "b", "c"]
    assert stat.num_children == 3 and stat.cversion == 3
    assert await client.get_children("/kids/a") == []


async def test_local_reads_and_sync(client: AsyncClient) -> None:
    await client.create("/r", b"v")
    assert await client.sync("/r") == "/r"
    assert (await client.get("/r", consistency="local"))[0] == b"v"
    assert await client.exists("/r", consistency="local") is not None
    assert await client.get_children("/", consistency="local") == ["r"]
    with pytest.raises(ValueError):
        await client.get("/r", consistency="eventual")


async def test_recursive_delete(client: AsyncClient) -> None:
    for path in ["/t/a/x", "/t/a/y", "/t/b"]:
        await client.create(path, makepath=True)
    with pytest.raises(NotEmptyError):
        await client.delete("/t")
    await client.delete("/t", recursive=True)
    assert await client.exists("/t") is None
    with pytest.raises(NoNodeError):
        await client.delete("/t", recursive=True)


@pytest.mark.parametrize(
    "op",
    [
        lambda c: c.get("/missing"),
        lambda c: c.set("/missing", b""),
        lambda c: c.delete("/missing"),
        lambda c: c.get_children("/missing"),
        lambda c: c.create("/missing/child"),
    ],
    ids=["get", "set", "delete", "get_children", "create-under-missing"],
)
async def test_no_node(client: AsyncClient, op) -> None:
    with pytest.raises(NoNodeError):
        await op(client)


async def test_node_exists_not_empty_and_ephemeral_parents(client: AsyncClient) -> None:
    await client.create("/x")
    with pytest.raises(NodeExistsError) as info:
        await client.create("/x")
    assert info.value.path == "/x"
    await client.create("/x/y")
    with pytest.raises(NotEmptyError):
        await client.delete("/x")
    await client.create("/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        await client.create("/e/child")
    assert await client.get_children("/e") == []


@pytest.mark.parametrize("path", BAD_PATHS)
async def test_invalid_paths_are_rejected_by_the_server(client: AsyncClient, path: str) -> None:
    for op in (
        client.create(path, b""),
        client.get(path),
        client.exists(path),
        client.set(path, b""),
        client.delete(path),
        client.get_children(path),
    ):
        with pytest.raises(InvalidPathError):
            await op
    assert await client.get_children("/") == []


async def test_data_too_large_leaves_the_tree_unchanged(server_factory) -> None:
    server = server_factory(tick_ms=200, max_data_bytes=1000)
    async with AsyncClient(server.address, session_timeout=4.0) as client:
        with pytest.raises(DataTooLargeError):
            await client.create("/big", b"x" * 1001)
        assert await client.exists("/big") is None
        await client.create("/small", b"ok")
        with pytest.raises(DataTooLargeError):
            await client.set("/small", b"y" * 1001)
        data, stat = await client.get("/small")
        assert (data, stat.version) == (b"ok", 0)
        txn = client.transaction()
        txn.create("/other")
        txn.set_data("/small", b"z" * 1001)
        # the server rejects a malformed multi as a whole, before any op runs
        with pytest.raises(DataTooLargeError):
            await txn.commit()
        assert await client.exists("/other") is None
        assert await client.create("/edge", b"e" * 1000) == "/edge"


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda c: c.create("/a", "text"), TypeError),
        (lambda c: c.create(5), TypeError),
        (lambda c: c.set("/a", None), TypeError),
        (lambda c: c.set("/a", b"", version="1"), TypeError),
        (lambda c: c.delete("/a", version=-5), ValueError),
        (lambda c: c.get("/a", watch="not callable"), TypeError),
        (lambda c: c.create("/a", ephemeral=True, ttl=1000), ValueError),
        (lambda c: c.create("/a", ephemeral=True, container=True), ValueError),
    ],
)
async def test_bad_arguments_fail_before_sending(client: AsyncClient, call, exc) -> None:
    await client.exists("/")
    before = client.last_zxid  # the server's applied zxid
    with pytest.raises(exc):
        await call(client)
    assert await client.exists("/a") is None
    assert client.last_zxid == before  # nothing was written


async def test_hundred_concurrent_sequential_creates(client: AsyncClient) -> None:
    await client.create("/race")
    names = await asyncio.gather(
        *(client.create("/race/n-", str(i).encode(), sequence=True) for i in range(100))
    )
    assert len(set(names)) == 100
    assert names == sorted(names)  # requests go out, and are applied, in call order
    assert names == [f"/race/n-{i:010d}" for i in range(100)]
    for i in (0, 57, 99):
        assert (await client.get(names[i]))[0] == str(i).encode()


async def test_transaction_commits_all(client: AsyncClient) -> None:
    await client.create("/tx", b"0")
    await client.create("/gone")
    txn = client.transaction()
    txn.check("/tx", 0)
    txn.create("/tx/a", b"a")
    txn.create("/tx/s-", sequence=True)
    txn.set_data("/tx", b"1", version=0)
    txn.delete("/gone")
    results = await txn.commit()
    assert results[0] is True
    assert results[1] == "/tx/a"
    assert results[2] == "/tx/s-0000000001"
    assert isinstance(results[3], Stat) and results[3].version == 1
    assert results[4] is True
    assert (await client.get("/tx"))[0] == b"1"
    assert await client.get_children("/tx") == ["a", "s-0000000001"]
    assert await client.exists("/gone") is None


async def test_transaction_is_all_or_nothing(client: AsyncClient) -> None:
    await client.create("/all", b"0")
    txn = client.transaction()
    txn.create("/all/new")
    txn.set_data("/all", b"changed")
    txn.check("/all", 7)  # wrong version: the whole transaction fails
    txn.delete("/all/new")
    results = await txn.commit()
    assert [type(r) for r in results] == [
        RolledBackError,
        RolledBackError,
        BadVersionError,
        RolledBackError,
    ]
    assert await client.exists("/all/new") is None
    data, stat = await client.get("/all")
    assert (data, stat.version) == (b"0", 0)
