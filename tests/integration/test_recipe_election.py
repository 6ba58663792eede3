"""Elections against a real coordination service: one leader at a time, a new one after each death."""

from __future__ import annotations

import asyncio
import contextlib
import time

import recipe_env
from coordsvc.client import AsyncClient, Client
from coordsvc.client.errors import ConnectionClosedError, SessionExpiredError
from coordsvc.recipes import AsyncElection, LeaderLatch
from recipe_env import Proxies, Timeline, expiry_bound

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

SESSION_TIMEOUT = 1.0


async def test_ten_candidates_leader_killed_again_and_again(coord, base) -> None:
    """Each leader's session is cut off from the service (its proxy stops
    forwarding: the process lives on, partitioned, and must step down by
    itself) until its session expires. Candidates treat SUSPENDED as loss,
    so the partitioned leader stops acting before the service can expire it
    and elect the next: the timeline of leaders must never overlap.
    """
    proxies = [await Proxies(coord).start() for _ in range(10)]
    clients = [
        AsyncClient(p.address, session_timeout=SESSION_TIMEOUT, connect_timeout=0.3)
        for p in proxies
    ]
    await asyncio.gather(*(c.start() for c in clients))
    timeline = Timeline()
    leaders: list[tuple[int, int, float]] = []  # (candidate, fencing token, when)
    changed = asyncio.Event()

    async def candidate(i: int) -> None:
        election = AsyncElection(clients[i], f"{base}/election", f"c{i}", lose_on_suspend=True)

        async def lead(leadership) -> None:
            timeline.enter(f"c{i}")
            try:
                leaders.append((i, leadership.fencing_token, time.monotonic()))
                changed.set()
                await leadership.lost.wait()  # lead until told otherwise
            finally:
                timeline.exit(f"c{i}")

        with contextlib.suppress(SessionExpiredError, ConnectionClosedError):
            await election.run(lead)

    async def leaders_reach(n: int) -> None:
        while len(leaders) < n:
            changed.clear()
            await changed.wait()

    tasks = [asyncio.ensure_future(candidate(i)) for i in range(10)]
    try:
        takeovers = []
        for kill in range(5):
            await asyncio.wait_for(leaders_reach(kill + 1), 15)
            leader = leaders[-1][0]
            proxies[leader].pause()  # its session can no longer reach the service
            cut = time.monotonic()
            await asyncio.wait_for(leaders_reach(kill + 2), 15)
            takeovers.append(leaders[-1][2] - cut)
        timeline.assert_no_overlap()
        who = [i for i, _, _ in leaders]
        assert len(set(who)) == len(who) == 6, who  # a new leader every time
        tokens = [t for _, t, _ in leaders]
        assert tokens == sorted(tokens) and len(set(tokens)) == 6
        # a new leader no later than the old session's expiry (and CI slack for the takeover)
        assert max(takeovers) <= expiry_bound(SESSION_TIMEOUT) + 0.5, takeovers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in proxies:
            p.resume()
        await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
        for p in proxies:
            await p.close()


def test_leader_latches_hand_over_when_the_leader_leaves(coord, base) -> None:
    clients = [Client(coord, session_timeout=4.0) for _ in range(3)]
    for c in clients:
        c.start()
    try:
        latches = [LeaderLatch(c, f"{base}/latch", f"l{i}") for i, c in enumerate(clients)]
        heard: list[tuple[int, bool]] = []
        for i, latch in enumerate(latches):
            latch.add_listener(lambda leading, i=i: heard.append((i, leading)))
            latch.start()  # joins in the background: wait for its node, to fix the order
            deadline = time.monotonic() + 10
            while len(latch.contenders()) < i + 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)  # poll interval of a deadline-bounded wait
        assert latches[0].await_leadership(10)
        assert [x.has_leadership for x in latches] == [True, False, False]
        assert latches[1].contenders() == ["l0", "l1", "l2"]
        clients[0].stop()  # its session ends: the node goes at once
        assert latches[1].await_leadership(10)
        assert not latches[0].has_leadership and not latches[2].has_leadership
        assert latches[1].fencing_token > 0
        deadline = time.monotonic() + 10
        while (0, False) not in heard or (1, True) not in heard:
            assert time.monotonic() < deadline, heard
            time.sleep(0.01)  # poll interval of a deadline-bounded wait
        for latch in latches[1:]:
            latch.close()
    finally:
        for c in clients:
            c.close()
