"""Recipes while the ensemble itself fails: servers SIGKILLed under locks and elections.

The other recipe tests already run on a 3-node ensemble (recipe_env's
``coord``); these kill ``coordsvc serve`` processes of it (by pid, through
``ensemble.Node``) and check what a recipe user relies on: a holder whose
server dies keeps its lock and nobody else gets it meanwhile; updates made
under a lock survive the leader's crash, once each; an election keeps at
most one leader acting while the ensemble's own leader is killed again and
again. Every test restarts what it killed before the next one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
import recipe_env
from coordsvc.client import AsyncClient, KazooState
from coordsvc.client.errors import ConnectionClosedError, SessionExpiredError
from coordsvc.recipes import AsyncElection, AsyncLock, AsyncTwoPhaseCommit, Lease, Outcome
from ensemble import InOrder
from recipe_env import Proxies, Timeline, expiry_bound, restart_node

# the service under test (one ensemble for this module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

# Long enough for a session to move to another server (and through an election)
# without expiring: a leader's crash is noticed and replaced within about 0.2 s here.
MOVE_TIMEOUT = 2.0


@pytest.fixture
def healed(cluster):
    """Restart whatever node a test killed, and wait for one leader, before the next test."""
    yield
    for node in cluster.nodes.values():
        if not node.up:
            restart_node(cluster, node)


async def until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def children(client: AsyncClient, path: str, n: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):  # the parent may not exist yet
            names = await client.get_children(path)
            if len(names) == n:
                return names
        assert time.monotonic() < deadline, f"{path} never had {n} children"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def leader_node(cluster):
    """The ensemble's leader once the live servers agree on one (polled in a thread)."""
    return await asyncio.to_thread(cluster.wait_leader)


async def epoch_of(node) -> int:
    status = await asyncio.to_thread(node.status)
    assert status is not None, f"node {node.id} does not answer Admin.Status"
    return status.epoch


async def kill(node) -> None:
    await asyncio.to_thread(node.kill)


def states_seen(clients: list[AsyncClient]) -> dict[KazooState, set[int]]:
    """Which clients (by index) have been SUSPENDED or LOST so far; filled in as it happens."""
    seen: dict[KazooState, set[int]] = {KazooState.SUSPENDED: set(), KazooState.LOST: set()}

    def note(i: int, state: KazooState) -> None:
        if state in seen:
            seen[state].add(i)

    for i, c in enumerate(clients):
        c.add_listener(lambda state, i=i: note(i, state))
    return seen


@pytest.mark.parametrize("dies", ["leader", "follower"])
async def test_a_holder_whose_server_dies_keeps_the_lock_and_nobody_else_gets_it(
    coord, base, cluster, healed, dies: str
) -> None:
    leader = await leader_node(cluster)
    followers = [n for n in cluster.nodes.values() if n is not leader]
    victim = leader if dies == "leader" else followers[0]
    survivors = [n for n in cluster.nodes.values() if n is not victim]
    path = f"{base}/locks/moved"
    # the holder starts on the victim; the waiters and the observer on servers that stay up
    holder_client = AsyncClient(
        [victim.address, *cluster.addresses(survivors)], MOVE_TIMEOUT, rng=InOrder()
    )
    others = [
        AsyncClient(cluster.addresses(survivors[i % 2 :] + survivors[: i % 2]), 5.0, rng=InOrder())
        for i in range(4)
    ]
    observer, waiter_clients = others[0], others[1:]
    await asyncio.gather(holder_client.start(), *(c.start() for c in others))
    timeline = Timeline()
    tokens: list[int] = []
    holder = AsyncLock(holder_client, path, "holder")

    async def wait_turn(i: int, client: AsyncClient) -> None:
        async with AsyncLock(client, path, f"w{i}") as lock:
            with timeline.span(f"w{i}"):
                tokens.append(lock.fencing_token)

    try:
        assert holder_client.server_id == victim.id
        sid = holder_client.client_id[0]
        assert await holder.acquire()
        timeline.enter("holder")
        tokens.append(holder.fencing_token)
        lease: Lease = holder.lease
        changes: list[tuple[bool, bool]] = []  # (suspended, lost) after each change
        lease.observe(lambda ls: changes.append((ls.suspended, ls.is_lost())))
        waiters = [asyncio.ensure_future(wait_turn(i, c)) for i, c in enumerate(waiter_clients)]
        await children(observer, path, 4)

        await kill(victim)
        await until(lambda: changes, 10, "the holder to notice its server died")
        await until(
            lambda: holder_client.connected and holder_client.server_id != victim.id,
            MOVE_TIMEOUT,
            "the holder's session to move to another server",
        )
        await until(lambda: not lease.suspended, 5, "the lease to be safe again")
        assert holder_client.client_id[0] == sid  # the same session ...
        assert changes[0] == (True, False) and changes[-1] == (False, False), changes
        assert holder.is_acquired and lease.is_safe()  # ... still holding the lock
        # Had the move lost the session, the service would expire it within this
        # window (counted on the new leader, or from the last touch the old server
        # relayed) and a waiter would take over: none may.
        done, _ = await asyncio.wait(waiters, timeout=expiry_bound(MOVE_TIMEOUT) + 0.3)
        assert not done, "a waiter got the lock while its holder's session was moving"
        assert lease.is_safe() and not lease.is_lost()
        queued = await AsyncLock(observer, path).contenders()
        assert queued[0] == "holder" and sorted(queued[1:]) == ["w0", "w1", "w2"], queued

        timeline.exit("holder")
        await holder.release()
        await asyncio.wait_for(asyncio.gather(*waiters), 10)  # then each waiter in turn
        timeline.assert_no_overlap()
        assert tokens == sorted(tokens) and len(set(tokens)) == 4, tokens
        assert await observer.get_children(path) == []
    finally:
        await asyncio.gather(
            holder_client.stop(), *(c.stop() for c in others), return_exceptions=True
        )


async def test_twenty_contenders_lose_no_update_when_the_leader_server_dies_midway(
    coord, base, cluster, healed
) -> None:
    clients = [AsyncClient(coord, session_timeout=MOVE_TIMEOUT) for _ in range(20)]
    await asyncio.gather(*(c.start() for c in clients))
    counter = f"{base}/counter"
    await clients[0].create(counter, b"0", makepath=True)
    timeline = Timeline()
    tokens: list[tuple[float, int]] = []
    increments = 0
    halfway = asyncio.Event()
    seen = states_seen(clients)

    async def contender(i: int, client: AsyncClient) -> None:
        nonlocal increments
        lock = AsyncLock(client, f"{base}/locks/counter", f"c{i}")
        for _ in range(3):
            async with lock:
                with timeline.span(f"c{i}"):
                    tokens.append((time.monotonic(), lock.fencing_token))
                    data, _ = await client.get(counter)
                    await asyncio.sleep(0)  # invite a racing writer, if the lock let one in
                    await client.set(counter, str(int(data) + 1).encode())
                    increments += 1
                    if increments == 20:
                        halfway.set()

    try:
        working = asyncio.ensure_future(
            asyncio.gather(*(contender(i, c) for i, c in enumerate(clients)))
        )
        await asyncio.wait_for(halfway.wait(), 30)
        leader = await leader_node(cluster)
        await kill(leader)  # in flight: a lock create, a read, a set, a delete ...
        at_kill = increments
        new_leader = await leader_node(cluster)
        assert new_leader is not leader
        await asyncio.wait_for(working, 60)
        assert at_kill < 60, "the kill came after the work was done"
        assert seen[KazooState.SUSPENDED], "no client was connected to the killed leader"
        assert (await clients[0].get(counter))[0] == b"60"  # every increment, once each
        timeline.assert_no_overlap()
        in_order = [token for _, token in sorted(tokens)]
        assert all(a < b for a, b in zip(in_order, in_order[1:], strict=False)), in_order
        assert await clients[0].get_children(f"{base}/locks/counter") == []
        assert not seen[KazooState.LOST], f"sessions lost to the crash: {seen}"
    finally:
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)


async def test_ten_candidates_while_the_ensemble_leader_is_killed_again_and_again(
    coord, base, cluster, healed
) -> None:
    """Each round SIGKILLs the ensemble's leader server and, at the same moment,
    cuts the election's leader off from every server (its proxy stops
    forwarding). The ensemble must elect a new leader server; on it the cut-off
    session expires and the next candidate leads; candidates whose server died
    keep their sessions and their places. Leadership is what ``is_safe()`` says
    (the default policy: SUSPENDED pauses a leader, LOST ends it), and no two
    candidates may be acting as leader at once.
    """
    rounds = 3
    proxies = [await Proxies(coord).start() for _ in range(10)]
    clients = [AsyncClient(p.address, session_timeout=MOVE_TIMEOUT) for p in proxies]
    await asyncio.gather(*(c.start() for c in clients))
    timeline = Timeline()
    leaders: list[tuple[int, int]] = []  # (candidate, fencing token)
    changed = asyncio.Event()
    acting = [False] * 10

    def act(i: int, leadership: Lease) -> None:
        """Keep the timeline in step with whether candidate i may act as leader."""
        if leadership.is_safe() and not acting[i]:
            acting[i] = True
            timeline.enter(f"c{i}")
        elif not leadership.is_safe() and acting[i]:
            acting[i] = False
            timeline.exit(f"c{i}")

    async def candidate(i: int) -> None:
        election = AsyncElection(clients[i], f"{base}/election", f"c{i}")

        async def lead(leadership: Lease) -> None:
            leadership.observe(lambda ls: act(i, ls))
            act(i, leadership)
            leaders.append((i, leadership.fencing_token))
            changed.set()
            try:
                await leadership.lost.wait()  # lead until told otherwise
            finally:
                act(i, leadership)

        with contextlib.suppress(SessionExpiredError, ConnectionClosedError):
            await election.run(lead)

    async def leaders_reach(n: int) -> None:
        while len(leaders) < n:
            changed.clear()
            await changed.wait()

    tasks = [asyncio.ensure_future(candidate(i)) for i in range(10)]
    cut: list[int] = []
    try:
        epochs = []
        for r in range(rounds):
            await asyncio.wait_for(leaders_reach(r + 1), 15)
            await children(clients[leaders[-1][0]], f"{base}/election", 10 - r)
            server = await leader_node(cluster)
            epochs.append(await epoch_of(server))
            who = leaders[-1][0]
            proxies[who].pause()  # the election's leader can reach no server ...
            cut.append(who)
            await kill(server)  # ... and the ensemble's leader dies with it
            new_server = await leader_node(cluster)
            assert new_server is not server
            await asyncio.wait_for(leaders_reach(r + 2), 15)
            await asyncio.to_thread(restart_node, cluster, server)
        epochs.append(await epoch_of(await leader_node(cluster)))

        timeline.assert_no_overlap()
        who = [i for i, _ in leaders]
        assert len(set(who)) == len(who) == rounds + 1, who  # a new leader every time
        tokens = [t for _, t in leaders]
        assert tokens == sorted(tokens) and len(set(tokens)) == rounds + 1
        assert epochs == sorted(epochs) and len(set(epochs)) == rounds + 1, epochs
        # only the cut-off leaders left; every candidate whose server died is still queued
        await children(clients[leaders[-1][0]], f"{base}/election", 10 - rounds)
        left = await AsyncElection(clients[leaders[-1][0]], f"{base}/election").contenders()
        assert sorted(left) == sorted(f"c{i}" for i in range(10) if i not in cut), left
        assert all(clients[i].state is not KazooState.LOST for i in range(10) if i not in cut)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in proxies:
            p.resume()
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
        for p in proxies:
            await p.close()


async def test_two_phase_commit_commits_when_the_leader_server_dies_during_the_vote(
    coord, base, cluster, healed
) -> None:
    """A server's crash is not a participant's death: every participant joined,
    the ensemble's leader dies while they vote yes, and all five parties still
    learn COMMIT (an alive node lost with its server would have forced ABORT).
    """
    nodes = list(cluster.nodes.values())
    # client i starts on server i % 3, so every server, the leader too, has a party on it
    clients = [
        AsyncClient(cluster.addresses(nodes[i % 3 :] + nodes[: i % 3]), MOVE_TIMEOUT, rng=InOrder())
        for i in range(5)
    ]
    await asyncio.gather(*(c.start() for c in clients))
    seen = states_seen(clients)
    path, names = f"{base}/tx", ["a", "b", "c", "d"]
    try:
        coordinator = AsyncTwoPhaseCommit(clients[0], path)
        await coordinator.begin(names, b"transfer")
        parts = [AsyncTwoPhaseCommit(c, path, n) for c, n in zip(clients[1:], names, strict=True)]
        for part in parts:
            assert await part.join(timeout=10) == b"transfer"
        deciding = asyncio.ensure_future(coordinator.outcome(timeout=30))
        leader = await leader_node(cluster)
        voting = [asyncio.ensure_future(p.vote(True, timeout=30)) for p in parts[:2]]
        await kill(leader)  # two votes may be in flight, two are cast after the crash
        voting += [asyncio.ensure_future(p.vote(True, timeout=30)) for p in parts[2:]]
        outcomes = [await deciding, *await asyncio.gather(*voting)]
        assert outcomes == [Outcome.COMMIT] * 5, outcomes
        assert (await clients[0].get(f"{path}/outcome"))[0] == b"commit"
        assert seen[KazooState.SUSPENDED], "no party was connected to the killed leader"
        assert not seen[KazooState.LOST], f"sessions lost to the crash: {seen}"
    finally:
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
