"""coordctl lock and coordctl elect: run a command while holding a lock or leadership.

    coordctl lock PATH -- CMD [ARG...]
    coordctl elect PATH NAME -- CMD [ARG...]

Like ``etcdctl lock`` and ``etcdctl elect``: coordctl waits for the lock (or
to be elected as NAME), then runs CMD with the holder's node and fencing
token in its environment (COORDSVC_LOCK_NODE, COORDSVC_FENCING_TOKEN), and
gives the lock up when CMD exits. If the lock or leadership is lost first
(the session expired, the node was deleted; with --stop-on-suspend also a
suspended connection), CMD is stopped: SIGTERM, then SIGKILL after --grace
seconds. SIGINT/SIGTERM to coordctl stop CMD the same way. coordctl exits
with CMD's exit code (128+N when a signal N ended it); 130/143 when it was
interrupted before CMD started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from typing import Any

__all__ = ["RECIPE_COMMANDS", "add_recipe_commands", "run_recipe"]

RECIPE_COMMANDS = ("lock", "elect")
EXIT_USAGE = 2


def add_recipe_commands(sub: Any) -> None:
    """Add the lock and elect subcommands to coordctl's parser."""
    s = sub.add_parser("lock", help="run a command while holding a lock (like etcdctl lock)")
    s.add_argument("path", help="the lock's node")
    _common(s)
    s = sub.add_parser("elect", help="run a command while elected leader (like etcdctl elect)")
    s.add_argument("path", help="the election's node")
    s.add_argument("name", help="this candidate's name, shown to the others")
    _common(s)


def _common(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--session-timeout", type=float, default=10.0, help="seconds; the lock dies with it"
    )
    s.add_argument("--grace", type=float, default=10.0, help="seconds from SIGTERM to SIGKILL")
    s.add_argument(
        "--stop-on-suspend",
        action="store_true",
        help="stop CMD as soon as the connection is suspended, not only when the session is lost",
    )
    s.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")


async def run_recipe(args: argparse.Namespace) -> int:
    """Hold the lock or leadership while CMD runs; return CMD's exit code."""
    from coordsvc.client import AsyncClient
    from coordsvc.recipes import AsyncElection, AsyncLock

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        print(f"coordctl {args.command}: missing the command to run (after --)", file=sys.stderr)
        return EXIT_USAGE
    stop = _stop_on_signals()
    client = AsyncClient(args.servers, session_timeout=args.session_timeout, **args.tls_options)
    await client.start(timeout=args.timeout)
    try:
        if args.command == "lock":
            identifier = f"{socket.gethostname()}:{os.getpid()}"
            recipe: Any = AsyncLock(
                client, args.path, identifier, lose_on_suspend=args.stop_on_suspend
            )
        else:
            recipe = AsyncElection(
                client, args.path, args.name, lose_on_suspend=args.stop_on_suspend
            )
        acquiring = asyncio.ensure_future(_acquire(recipe))
        interrupted = asyncio.ensure_future(stop.wait())
        await asyncio.wait({acquiring, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        if not acquiring.done():
            recipe.cancel()
            with contextlib.suppress(Exception):
                await acquiring
            return 128 + stop.signum
        interrupted.cancel()
        lease = acquiring.result()
        if lease is None:  # the campaign was cancelled
            return 128 + stop.signum
        try:
            return await _supervise(cmd, lease, stop, args.grace, args.command)
        finally:
            await _give_up(recipe)
    finally:
        await client.stop()


async def _acquire(recipe: Any) -> Any:
    if hasattr(recipe, "acquire"):
        await recipe.acquire()
        return recipe.lease
    return await recipe.campaign()


async def _give_up(recipe: Any) -> None:
    with contextlib.suppress(Exception):
        await (recipe.release() if hasattr(recipe, "release") else recipe.resign())


async def _supervise(cmd: list[str], lease: Any, stop: _Stop, grace: float, what: str) -> int:
    env = {
        **os.environ,
        "COORDSVC_LOCK_NODE": lease.node,
        "COORDSVC_FENCING_TOKEN": str(lease.fencing_token),
    }
    try:
        proc = await asyncio.create_subprocess_exec(*cmd, env=env)
    except OSError as err:
        print(f"coordctl: cannot run {cmd[0]}: {err}", file=sys.stderr)
        return 127
    exited = asyncio.ensure_future(proc.wait())
    lost = asyncio.ensure_future(lease.lost.wait())
    interrupted = asyncio.ensure_future(stop.wait())
    await asyncio.wait({exited, lost, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    lost.cancel()
    interrupted.cancel()
    if not exited.done():
        if lease.is_lost():
            print(f"coordctl: {what} lost ({lease.reason}); stopping the command", file=sys.stderr)
        await _terminate(proc, grace)
    code = await exited
    return 128 - code if code < 0 else code


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        async with asyncio.timeout(grace):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


class _Stop(asyncio.Event):
    signum = signal.SIGTERM


def _stop_on_signals() -> _Stop:
    stop = _Stop()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        stop.signum = signum
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
    return stop
