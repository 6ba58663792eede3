"""Durability of a real server on real LMDB: crashes, restarts, snapshots, group commit.

Every test runs ``coordsvc serve`` processes (``server_factory``), talks to
them through the SDK, kills them with SIGKILL where a crash is the point,
and restarts a new process on the same ``--data-dir``. Waits are on events
or polled with deadlines; the only clock readings are the bounds checked on
session expiry after a restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGKILL

import grpc
import lmdb
import pytest
from coordsvc.client import AsyncClient, Stat
from coordsvc.client.errors import SessionExpiredError
from proctools import admin_status, cli

from coordsvc.tree.txn import zxid_counter, zxid_epoch
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

TICK_MS = 200
SEED = 20_240_603


# ---- helpers ------------------------------------------------------------------


async def poll(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Await ``check()`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)  # poll interval of a deadline-bounded wait


async def inspect_json(data_dir: Path) -> dict:
    code, out, err = await cli("snapshot", "inspect", "--json", str(data_dir))
    assert code == 0, f"inspect failed ({code}): {err}"
    return json.loads(out)


async def dump_tree(client: AsyncClient, root: str = "/") -> dict[str, tuple[bytes, Stat]]:
    """Every znode under ``root`` (included) with its data and Stat."""
    out: dict[str, tuple[bytes, Stat]] = {}
    level = [root]
    while level:
        got = await asyncio.gather(*(client.get(p) for p in level))
        kids = await asyncio.gather(*(client.get_children(p) for p in level))
        nxt: list[str] = []
        for path, (data, stat), names in zip(level, got, kids, strict=True):
            out[path] = (data, stat)
            nxt += [(path.rstrip("/") + "/" + n) for n in names]
        level = nxt
    return out


async def get_all(client: AsyncClient, paths: list[str], chunk: int = 256) -> list:
    """``client.get`` of many paths, ``chunk`` in flight at a time."""
    out: list = []
    for i in range(0, len(paths), chunk):
        out += await asyncio.gather(*(client.get(p) for p in paths[i : i + chunk]))
    return out


def lmdb_last_txnid(data_dir: Path) -> int:
    """LMDB's id of the last committed write txn, read-only beside the running server."""
    env = lmdb.open(
        str(data_dir / "lmdb"), readonly=True, lock=True, max_dbs=4, map_size=0, create=False
    )
    try:
        return env.info()["last_txnid"]
    finally:
        env.close()


async def admin_sessions(address: str) -> list[apb.SessionInfo]:
    async with grpc.aio.insecure_channel(address) as ch:
        resp = await apb_grpc.AdminStub(ch).Sessions(apb.SessionsRequest(), timeout=10)
    return list(resp.sessions)


# ---- 1. kill -9 during a write storm --------------------------------------------

WRITERS = 8
IN_FLIGHT = 4  # pipelined ops per writer session
ROUNDS = 4
STORM_TIMEOUT_S = 60.0


@dataclass
class Op:
    """One write a storm writer issued: a sequential create or a set of its own counter."""

    writer: int
    index: int  # per writer, increasing in the order sent on the session
    kind: str  # "create" | "set"
    round: int
    acked: bool = False
    path: str = ""  # the created path, once acknowledged
    zxid: int = 0  # the set's mzxid, once acknowledged

    @property
    def data(self) -> bytes:
        return f"w{self.writer}:{self.index}".encode()


@dataclass
class Ledger:
    """Every op issued, by writer, and what the last verification found."""

    ops: list[list[Op]] = field(default_factory=lambda: [[] for _ in range(WRITERS)])
    counters: list[int] = field(default_factory=lambda: [-1] * WRITERS)  # verified values
    nodes: dict[str, tuple[bytes, int]] = field(
        default_factory=dict
    )  # verified path -> data, czxid
    acks: int = 0


async def run_storm(
    address: str, ledger: Ledger, rnd: int, kill_after: int, kill_delay: float, pid: int
) -> int:
    """Write; ``kill_delay`` s after the ``kill_after``-th ack SIGKILL ``pid``; returns acks.

    The kill lands at a moment unrelated to any reply (not right after one,
    when its commit is long finished), so it often cuts a group commit short.
    """
    rng = random.Random(SEED + rnd)
    killed = asyncio.Event()
    clients = [AsyncClient(address, session_timeout=4.0) for _ in range(WRITERS)]
    await asyncio.gather(*(c.start() for c in clients))
    round_acks = 0

    def kill() -> None:
        os.kill(pid, SIGKILL)  # mid-storm: dozens of ops are in flight right now
        killed.set()

    def acked(op: Op) -> None:
        nonlocal round_acks
        op.acked = True
        round_acks += 1
        ledger.acks += 1
        if round_acks == kill_after:
            asyncio.get_running_loop().call_later(kill_delay, kill)

    async def do(client: AsyncClient, op: Op) -> None:
        if op.kind == "create":
            op.path = await client.create("/storm/n-", op.data, sequence=True)
        else:
            op.zxid = (await client.set(f"/counters/c{op.writer}", op.data)).mzxid
        acked(op)

    async def writer(w: int, client: AsyncClient) -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        failed = asyncio.Event()

        def done(t: asyncio.Task[None]) -> None:
            tasks.discard(t)
            slots.release()
            if t.cancelled() or t.exception() is not None:
                failed.set()

        while not killed.is_set() and not failed.is_set():
            await slots.acquire()
            if killed.is_set() or failed.is_set():
                break
            op = Op(w, len(ledger.ops[w]), "create" if rng.random() < 0.7 else "set", rnd)
            ledger.ops[w].append(op)
            # The task's first step sends the request: tasks start in creation
            # order, so the session carries the ops in index order.
            t = asyncio.get_running_loop().create_task(do(client, op))
            tasks.add(t)
            t.add_done_callback(done)
        await asyncio.gather(*tasks, return_exceptions=True)

    writers = [asyncio.create_task(writer(w, c)) for w, c in enumerate(clients)]
    await asyncio.wait_for(killed.wait(), STORM_TIMEOUT_S)
    # The server is gone: stopping cannot reach it, and fails what is still in flight.
    await asyncio.wait_for(asyncio.gather(*(c.stop() for c in clients)), 30)
    await asyncio.wait_for(asyncio.gather(*writers), 30)
    return round_acks


async def verify_storm(address: str, ledger: Ledger, rnd: int) -> None:
    """Acked writes present; per session and globally a prefix of the commit order."""
    async with AsyncClient(address, session_timeout=4.0) as c:
        names = await c.get_children("/storm")
        paths = sorted(f"/storm/{n}" for n in names)
        got = await get_all(c, paths)
        counters = await get_all(c, [f"/counters/c{w}" for w in range(WRITERS)])
    present = {p: (data, stat) for p, (data, stat) in zip(paths, got, strict=True)}

    # Globally: sequence numbers are handed out in commit order; a prefix has no gap,
    # and creation zxids rise with them.
    seqs = sorted(int(p.rsplit("-", 1)[1]) for p in present)
    assert seqs == list(range(len(seqs))), f"round {rnd}: gap in /storm sequence numbers"
    czxids = [present[f"/storm/n-{s:010d}"][1].czxid for s in seqs]
    assert czxids == sorted(czxids) and len(set(czxids)) == len(czxids)

    # Nothing that was never issued, nothing twice, and every earlier verified node unchanged.
    by_op: dict[tuple[int, int], str] = {}
    for p, (data, _stat) in present.items():
        w_s, i_s = data.decode().removeprefix("w").split(":")
        key = (int(w_s), int(i_s))
        assert key[0] < WRITERS and key[1] < len(ledger.ops[key[0]]), f"{p}: never issued: {data}"
        op = ledger.ops[key[0]][key[1]]
        assert op.kind == "create", f"{p} holds the data of a set: {data}"
        assert key not in by_op, f"{data} created twice: {by_op[key]} and {p}"
        by_op[key] = p
        if op.acked:
            assert op.path == p, f"acked create {data} returned {op.path}, found at {p}"
    for p, (data, czxid) in ledger.nodes.items():
        assert p in present, f"round {rnd}: {p} ({data}) verified earlier, now missing"
        assert (present[p][0], present[p][1].czxid) == (data, czxid), f"{p} changed"

    for w in range(WRITERS):
        raw = counters[w][0]
        value = -1 if raw == b"-1" else int(raw.decode().removeprefix(f"w{w}:"))
        ops = [op for op in ledger.ops[w] if op.round == rnd]
        created = {i for (ww, i) in by_op if ww == w and ledger.ops[w][i].round == rnd}
        last = max(created | ({value} if ops and value >= ops[0].index else set()), default=-1)
        prefix = [op for op in ops if op.index <= last]
        # Per session: FIFO, so what survived is a prefix of what this writer sent...
        assert {op.index for op in prefix if op.kind == "create"} == created, (
            f"round {rnd} writer {w}: creates present {sorted(created)} are not the prefix"
            f" up to op {last}"
        )
        # ...holding every op the server acknowledged.
        lost = [op.index for op in ops if op.acked and op.index > last]
        assert not lost, f"round {rnd} writer {w}: acknowledged ops {lost} lost (prefix to {last})"
        # The counter is the last set in that prefix (acked or in flight), else unchanged.
        sets = [op.index for op in prefix if op.kind == "set"]
        expected = sets[-1] if sets else ledger.counters[w]
        assert value == expected, f"round {rnd} writer {w}: counter {value}, expected {expected}"
        acked_sets = [op for op in ops if op.kind == "set" and op.acked]
        if acked_sets:
            assert counters[w][1].mzxid >= acked_sets[-1].zxid
        ledger.counters[w] = value
    ledger.nodes = {p: (d, s.czxid) for p, (d, s) in present.items()}


async def test_kill9_during_write_storm_keeps_every_acknowledged_write(server_factory) -> None:
    rng = random.Random(SEED)
    server = server_factory(tick_ms=TICK_MS)
    data_dir = server.data_dir
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        await c.create("/storm")
        for w in range(WRITERS):
            await c.create(f"/counters/c{w}", b"-1", makepath=True)
    ledger = Ledger()
    epochs = [zxid_epoch((await admin_status(server.address)).last_zxid)]
    cut_short: list[int] = []
    for rnd in range(ROUNDS):
        kill_after, kill_delay = rng.randint(60, 400), rng.uniform(0.0, 0.02)
        acks = await run_storm(server.address, ledger, rnd, kill_after, kill_delay, server.pid)
        assert acks >= kill_after
        server.kill()
        server = server_factory(data_dir=data_dir, tick_ms=TICK_MS)
        await verify_storm(server.address, ledger, rnd)
        status = await admin_status(server.address)
        epochs.append(zxid_epoch(status.last_zxid))
        unknown = sum(1 for ops in ledger.ops for op in ops if op.round == rnd and not op.acked)
        assert unknown <= WRITERS * IN_FLIGHT
        cut_short.append(unknown)
    # On a loaded machine a round's in-flight ops may all have been answered
    # before the kill landed; across the rounds, kills must cut writes short.
    assert sum(cut_short) > 0, f"no kill landed mid-storm: {cut_short}"
    assert ledger.acks >= ROUNDS * 60
    assert len(ledger.nodes) >= ROUNDS * 30
    assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs), epochs
    # The last restarted server goes on taking writes.
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        path = await c.create("/storm/n-", b"after", sequence=True)
        assert int(path.rsplit("-", 1)[1]) == len(ledger.nodes)


# ---- 2. ephemerals across a restart ----------------------------------------------


async def test_ephemerals_survive_restart_then_expire_unless_resumed(server_factory) -> None:
    server = server_factory(tick_ms=TICK_MS)
    lost = AsyncClient(server.address, session_timeout=3.0)  # abandoned: never stopped
    kept = AsyncClient(server.address, session_timeout=3.0)
    await asyncio.gather(lost.start(), kept.start())
    try:
        assert lost.client_id is not None and kept.client_id is not None
        lost_id, kept_id = lost.client_id, kept.client_id
        timeout_s = lost.session_timeout
        assert kept.session_timeout == timeout_s
        await lost.create("/eph")
        for name in ("a1", "a2"):
            await lost.create(f"/eph/{name}", name.encode(), ephemeral=True)
        for name in ("b1", "b2"):
            await kept.create(f"/eph/{name}", name.encode(), ephemeral=True)

        server.kill()
        launched = time.monotonic()
        server = server_factory(data_dir=server.data_dir, tick_ms=TICK_MS)
        async with AsyncClient(server.address, session_timeout=4.0) as observer:
            # Right after the restart every ephemeral is there, owned as before.
            owners = {}
            for name in ("a1", "a2", "b1", "b2"):
                data, stat = await observer.get(f"/eph/{name}")
                assert data == name.encode()
                owners[name] = stat.ephemeral_owner
            assert owners == {
                "a1": lost_id[0],
                "a2": lost_id[0],
                "b1": kept_id[0],
                "b2": kept_id[0],
            }
            assert {lost_id[0], kept_id[0]} <= {
                s.session_id for s in await admin_sessions(server.address)
            }

            resumed = AsyncClient(server.address, session_timeout=3.0, client_id=kept_id)
            await resumed.start()
            try:
                assert resumed.client_id == kept_id

                async def lost_gone() -> bool:
                    return await observer.exists("/eph/a1") is None

                await poll(lost_gone, timeout_s + 10, "the lost session's ephemerals to go")
                gone_at = time.monotonic()
                assert await observer.exists("/eph/a2") is None
                # Not before the timeout has passed again since the restart.
                assert gone_at - launched >= timeout_s - TICK_MS / 1000, (
                    f"ephemerals removed {gone_at - launched:.2f} s after the restart began;"
                    f" the session timeout is {timeout_s} s"
                )
                # The resumed session, recovered at the same moment with the same
                # timeout, keeps its ephemerals.
                for name in ("b1", "b2"):
                    assert (await observer.get(f"/eph/{name}"))[1].ephemeral_owner == kept_id[0]
                ids = {s.session_id for s in await admin_sessions(server.address)}
                assert lost_id[0] not in ids and kept_id[0] in ids
                # The expired session cannot be resumed.
                late = AsyncClient(server.address, session_timeout=3.0, client_id=lost_id)
                with pytest.raises(SessionExpiredError):
                    await late.start(timeout=10)
                await late.stop()
            finally:
                await resumed.stop()
            # Closing the resumed session removes its ephemerals at once.
            assert await observer.get_children("/eph") == []
    finally:
        await asyncio.gather(lost.stop(), kept.stop(), return_exceptions=True)


# ---- 3. snapshots -----------------------------------------------------------------


async def write_varied(c: AsyncClient, rng: random.Random, n: int) -> None:
    """About ``n`` txns of every kind: nested creates, sets, deletes, sequentials, multis."""
    await c.ensure_path("/snap/seq")
    made: list[str] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.45 or len(made) < 10:
            parent = rng.choice(["/snap", *made[-20:]]) if made else "/snap"
            path = f"{parent}/k{i}"
            made.append(await c.create(path, rng.randbytes(rng.randint(0, 300))))
        elif roll < 0.7:
            await c.set(rng.choice(made), rng.randbytes(rng.randint(0, 200)))
        elif roll < 0.8:
            await c.create("/snap/seq/s-", str(i).encode(), sequence=True)
        elif roll < 0.9:
            victim = made[-1]
            if not await c.get_children(victim):
                await c.delete(victim)
                made.pop()
        else:
            t = c.transaction()
            t.create(f"/snap/m{i}", b"multi")
            t.set_data("/snap", str(i).encode())
            results = await t.commit()
            assert results[0] == f"/snap/m{i}"


async def test_snapshots_retained_purged_and_restart_keeps_tree(server_factory) -> None:
    server = server_factory(tick_ms=TICK_MS, snapshot_every=50, snapshot_retain=2)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        await write_varied(c, random.Random(SEED), 400)
    last = (await admin_status(server.address)).last_zxid
    assert zxid_counter(last) >= 400

    seen: list[dict] = []

    async def settled() -> bool:
        report = await inspect_json(server.data_dir)  # read-only, beside the live server
        seen.append(report)
        snaps = report["snapshots"]
        return len(snaps) == 2 and report["last_zxid"] == last

    await poll(settled, 30, "two retained snapshots and the whole log in inspect", 0.2)
    for report in seen:
        assert 1 <= len(report["snapshots"]) <= 2, report["snapshots"]
    report = seen[-1]
    snaps, log = report["snapshots"], report["log"]
    zxids = [s["zxid"] for s in snaps]
    assert zxids == sorted(zxids) and zxids[-1] <= last
    assert zxid_counter(last) - zxid_counter(zxids[0]) < 3 * 50 + 50, "snapshots fall behind"
    # The log before the oldest retained snapshot is gone; what is left runs to the end.
    assert log["purged_through"] == zxids[0] > 0
    assert log["first_zxid"] == zxids[0] + 1
    assert log["records"] == zxid_counter(last) - zxid_counter(zxids[0])
    files = sorted(p.name for p in (server.data_dir / "snapshots").iterdir())
    assert files == sorted(Path(s["file"]).name for s in snaps), files
    assert all(s["bytes"] > 0 and s["znodes"] > 1 for s in snaps)

    async with AsyncClient(server.address, session_timeout=4.0) as c:
        before = await dump_tree(c)
    assert len(before) > 150
    server.kill()
    server = server_factory(data_dir=server.data_dir, tick_ms=TICK_MS)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        after = await dump_tree(c)
    assert after.keys() == before.keys()
    for path, (data, stat) in before.items():
        assert after[path] == (data, stat), f"{path} differs after the restart"
    report = await inspect_json(server.data_dir)
    assert report["znodes"] == len(after)


async def test_admin_snapshot_while_writes_continue(server_factory) -> None:
    server = server_factory(tick_ms=TICK_MS, snapshot_every=0, snapshot_retain=2)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        # A tree big enough that writing its snapshot takes a while.
        for b in range(20):
            t = c.transaction()
            for i in range(1000):
                t.create(f"/bulk-{b}-{i}" if i else f"/bulk-{b}", b"x" * 64)
            await t.commit()
    assert (await inspect_json(server.data_dir))["snapshots"] == []

    clients = [AsyncClient(server.address, session_timeout=4.0) for _ in range(4)]
    await asyncio.gather(*(c.start() for c in clients))
    stop = asyncio.Event()
    acked_zxid = 0
    acks = 0
    progress = asyncio.Event()

    async def writer(w: int, c: AsyncClient) -> int:
        nonlocal acked_zxid, acks
        await c.create(f"/w{w}", b"0")
        n = 0
        while not stop.is_set():
            n += 1
            stat = await c.set(f"/w{w}", str(n).encode())
            acked_zxid = max(acked_zxid, stat.mzxid)
            acks += 1
            progress.set()
        return n

    tasks = [asyncio.create_task(writer(w, c)) for w, c in enumerate(clients)]
    returned: list[int] = []
    during: list[int] = []
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            admin = apb_grpc.AdminStub(ch)
            for _ in range(3):
                progress.clear()
                await asyncio.wait_for(progress.wait(), 10)
                floor, acks_before = acked_zxid, acks
                resp = await admin.Snapshot(apb.SnapshotRequest(), timeout=60)
                during.append(acks - acks_before)
                assert resp.zxid >= floor, "the snapshot misses a write acknowledged before it"
                returned.append(resp.zxid)
                assert all(not t.done() for t in tasks), "a writer stopped during a snapshot"
    finally:
        stop.set()
        counts = await asyncio.gather(*tasks)  # re-raises any failed write
        await asyncio.gather(*(c.stop() for c in clients))
    assert all(n > 0 for n in counts)
    assert returned == sorted(returned) and len(set(returned)) == 3, returned
    assert sum(during) > 0, "no write was acknowledged while snapshots were being written"
    report = await inspect_json(server.data_dir)
    kept = [s["zxid"] for s in report["snapshots"]]
    assert kept == returned[-2:], (kept, returned)
    for z in kept:
        assert (server.data_dir / "snapshots" / f"snap-{z:016x}").is_file()
    assert report["log"]["purged_through"] == returned[-2]
    assert report["snapshots"][-1]["znodes"] >= 20_000


# ---- 7. group commit, end to end ---------------------------------------------------

GROUP_N = 200


async def test_concurrent_writes_share_commits(server_factory) -> None:
    server = server_factory(tick_ms=TICK_MS)
    clients = [AsyncClient(server.address, session_timeout=4.0) for _ in range(8)]
    await asyncio.gather(*(c.start() for c in clients))
    try:
        await clients[0].create("/gc")
        before = lmdb_last_txnid(server.data_dir)
        zxid_before = (await admin_status(server.address)).last_zxid
        paths = await asyncio.gather(
            *(clients[i % 8].create(f"/gc/n{i}", b"v") for i in range(GROUP_N))
        )
        after = lmdb_last_txnid(server.data_dir)
        zxid_after = (await admin_status(server.address)).last_zxid
        assert len(set(paths)) == GROUP_N
        assert zxid_counter(zxid_after) - zxid_counter(zxid_before) >= GROUP_N
        commits = after - before
        # Each LMDB write txn is one synced commit; 200 acknowledged writes must share them.
        assert 0 < commits < GROUP_N / 4, f"{GROUP_N} concurrent creates took {commits} commits"
        # And they are all durable: a crash right now keeps every one.
        server.kill()
        server = server_factory(data_dir=server.data_dir, tick_ms=TICK_MS)
        async with AsyncClient(server.address, session_timeout=4.0) as c:
            assert len(await c.get_children("/gc")) == GROUP_N
    finally:
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


async def test_sequential_writes_each_take_a_commit(server_factory) -> None:
    """The counter above is sensitive: one write in flight at a time is one commit each."""
    server = server_factory(tick_ms=TICK_MS)
    async with AsyncClient(server.address, session_timeout=4.0) as c:
        await c.create("/seq")
        before = lmdb_last_txnid(server.data_dir)
        for i in range(20):
            await c.create(f"/seq/n{i}")
        after = lmdb_last_txnid(server.data_dir)
    assert after - before >= 20
