"""coordctl lock and coordctl elect against a real coordination service.

The command coordctl runs is a small python program that talks to the test
over coordctl's own stdin/stdout (which it inherits): it prints what it
does, and waits for a line on stdin before it finishes, so the test decides
when each holder lets go and never has to guess with a sleep.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import recipe_env
from coordsvc.client import AsyncClient
from recipe_env import TICK_S, Proxies

# the service under test (one ensemble per module), and each test's own root path
coord, cluster, base = recipe_env.coord, recipe_env.cluster, recipe_env.base

# prints "NAME start TOKEN", waits for a line on stdin, prints "NAME end", exits with CODE;
# also appends start/end to the shared LOG, whose order is the order things really happened
HOLD = """
import os, sys
name, code, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def note(what):
    with open(log, "a") as f:
        f.write(name + " " + what + "\\n")
note("start")
print(name, "start", os.environ["COORDSVC_FENCING_TOKEN"], flush=True)
sys.stdin.readline()
note("end")
print(name, "end", flush=True)
sys.exit(code)
"""

# prints "started", then waits; on SIGTERM prints "terminated" and exits 7 (or ignores it)
STUBBORN = """
import signal, sys, threading
if sys.argv[1] == "polite":
    def on_term(signum, frame):
        print("terminated", flush=True)
        sys.exit(7)
    signal.signal(signal.SIGTERM, on_term)
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("started", flush=True)
threading.Event().wait()
"""


async def coordctl(servers: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coordsvc.cli.coordctl",
        "--servers",
        servers,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line(proc: asyncio.subprocess.Process, timeout: float = 20.0) -> str:
    text = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert text, f"coordctl ended: {(await proc.stderr.read()).decode()}"
    return text.decode().strip()


async def contenders(client: AsyncClient, path: str, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if len(await client.get_children(path)) == n:
                return
        except Exception:  # noqa: BLE001 - the path may not exist yet
            pass
        assert time.monotonic() < deadline, f"never {n} contenders at {path}"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def finish(proc: asyncio.subprocess.Process) -> None:
    proc.stdin.write(b"\n")
    await proc.stdin.drain()


async def serialized(coord: str, verb: list[str], path: str, log: Path) -> None:
    """Two coordctl invocations: the second's command starts only after the first's ends."""
    client = AsyncClient(coord, session_timeout=5.0)
    await client.start()
    hold = ["--", sys.executable, "-c", HOLD]
    first = await coordctl(coord, *verb[:1], path, *verb[1:2], *hold, "A", "3", str(log))
    second = None
    try:
        a_start = await line(first)
        assert a_start.startswith("A start ")
        second = await coordctl(coord, *verb[:1], path, *verb[2:3], *hold, "B", "0", str(log))
        await contenders(client, path, 2)  # B is queued behind A ...
        reading = asyncio.ensure_future(line(second))
        done, _ = await asyncio.wait({reading}, timeout=0.3)  # ... and stays out for a while
        assert not done, "B's command started while A held the lock"
        await finish(first)
        assert await line(first) == "A end"
        assert await asyncio.wait_for(first.wait(), 20) == 3  # coordctl exits with CMD's code
        b_start = await reading
        assert b_start.startswith("B start ")
        assert int(b_start.split()[2]) > int(a_start.split()[2])  # fencing tokens rise
        await finish(second)
        assert await line(second) == "B end"
        assert await asyncio.wait_for(second.wait(), 20) == 0
        assert log.read_text().split("\n") == ["A start", "A end", "B start", "B end", ""]
        assert await client.get_children(path) == []
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
        await client.stop()


async def test_two_coordctl_locks_run_their_commands_one_after_the_other(
    coord, base, tmp_path
) -> None:
    await serialized(coord, ["lock"], f"{base}/cli/lock", tmp_path / "log")


async def test_two_coordctl_elections_lead_one_after_the_other(coord, base, tmp_path) -> None:
    await serialized(coord, ["elect", "node-a", "node-b"], f"{base}/cli/elect", tmp_path / "log")


async def stopped_when_session_dies(
    coord: str, path: str, kind: str, grace: float
) -> tuple[int, str]:
    proxy = await Proxies(coord).start()
    args = ["lock", "--session-timeout", "1", "--grace", str(grace), path]
    proc = await coordctl(proxy.address, *args, "--", sys.executable, "-c", STUBBORN, kind)
    try:
        assert await line(proc) == "started"
        proxy.pause()  # coordctl's session can no longer reach the service
        cut = time.monotonic()
        code = await asyncio.wait_for(proc.wait(), 20)
        took = time.monotonic() - cut
        # lost after the session timeout (plus a tick), then at most the grace period
        assert took <= 1.0 + TICK_S + grace + 1.0, f"stopped after {took:.2f}s"  # CI slack
        rest = (await proc.stdout.read()).decode()
        assert "lost (session lost)" in (await proc.stderr.read()).decode()
        return code, rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        proxy.resume()
        await proxy.close()


async def test_a_lost_session_stops_the_command_with_sigterm(coord, base) -> None:
    code, rest = await stopped_when_session_dies(coord, f"{base}/cli/lost", "polite", grace=5.0)
    assert code == 7 and "terminated" in rest


async def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(coord, base) -> None:
    code, rest = await stopped_when_session_dies(coord, f"{base}/cli/lost", "stubborn", grace=0.3)
    assert code == 128 + 9 and "terminated" not in rest
