"""coordctl: the command-line client (ls, get, set, create, rm, stat, tree, watch), the
operator commands (status, members, sessions, watches, ruok; see coordctl_admin) and
lock/elect, which run a command while holding a lock or leadership (see coordctl_recipes).

Every command connects with the SDK, does one thing, prints plain text and
exits 0; a failure prints one line `coordctl: REASON: message` to stderr and
exits 1 (2 for usage errors, 3 when no server could be reached).

``--cacert`` (and ``--cert``/``--key`` for mutual TLS; etcdctl's names) connect
over TLS, for the SDK's session and watch streams and the Admin calls alike;
a missing or unreadable file is a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

# grpc logs each failed TLS handshake on stderr at INFO; coordctl's errors are one line
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc  # noqa: E402

from coordsvc.cli.coordctl_admin import ADMIN_COMMANDS, add_admin_commands, run_admin  # noqa: E402
from coordsvc.cli.coordctl_recipes import (  # noqa: E402
    RECIPE_COMMANDS,
    add_recipe_commands,
    run_recipe,
)
from coordsvc.client.tls import load_client_tls  # noqa: E402
from coordsvc.errors import CoordError  # noqa: E402

__all__ = ["main", "build_parser"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coordctl",
        description="Command-line client for coordsvc.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--servers",
        default=os.environ.get("COORDSVC_SERVERS", "127.0.0.1:2181"),
        help="comma-separated HOST:PORT list (env COORDSVC_SERVERS)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a server")
    p.add_argument(
        "--cacert",
        metavar="FILE",
        default=os.environ.get("COORDSVC_CACERT") or None,
        help="connect over TLS, trusting the CA in this PEM file (env COORDSVC_CACERT)",
    )
    p.add_argument(
        "--cert",
        metavar="FILE",
        default=os.environ.get("COORDSVC_CERT") or None,
        help="mutual TLS: present this PEM certificate; needs --key (env COORDSVC_CERT)",
    )
    p.add_argument(
        "--key",
        metavar="FILE",
        default=os.environ.get("COORDSVC_KEY") or None,
        help="mutual TLS: the PEM private key of --cert (env COORDSVC_KEY)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ls", help="list the children of a node")
    s.add_argument("path")
    s = sub.add_parser("get", help="print a node's data")
    s.add_argument("path")
    s = sub.add_parser("set", help="set a node's data")
    s.add_argument("path")
    s.add_argument("value")
    s.add_argument("--version", type=int, default=-1, help="expected version (-1: any)")
    s = sub.add_parser("create", help="create a node and print its path")
    s.add_argument("path")
    s.add_argument("value", nargs="?", default="")
    s.add_argument(
        "-e", "--ephemeral", action="store_true", help="ephemeral (lives as long as coordctl)"
    )
    s.add_argument("-s", "--sequential", action="store_true", help="append a sequence number")
    s.add_argument("-c", "--container", action="store_true", help="a container node")
    s.add_argument("-t", "--ttl", type=int, default=None, help="TTL in milliseconds")
    s.add_argument("-p", "--parents", action="store_true", help="create missing parents")
    s = sub.add_parser("rm", help="delete a node")
    s.add_argument("path")
    s.add_argument("-r", "--recursive", action="store_true", help="delete the subtree too")
    s.add_argument("--version", type=int, default=-1, help="expected version (-1: any)")
    s = sub.add_parser("stat", help="print a node's Stat")
    s.add_argument("path")
    s = sub.add_parser("tree", help="print a subtree")
    s.add_argument("path", nargs="?", default="/")
    s = sub.add_parser("watch", help="print changes under a path as they happen")
    s.add_argument("path")
    s.add_argument("-r", "--recursive", action="store_true", help="include every descendant")
    s.add_argument("--count", type=int, default=0, help="exit after this many events (0: never)")
    s.add_argument(
        "--from-zxid",
        type=lambda v: int(v, 0),
        default=None,
        help="first replay every event after this zxid (decimal or 0x-hex)",
    )
    add_admin_commands(sub)
    add_recipe_commands(sub)
    return p


def _stat_lines(stat) -> list[str]:
    fields = (
        "czxid",
        "mzxid",
        "pzxid",
        "ctime",
        "mtime",
        "version",
        "cversion",
        "aversion",
        "ephemeral_owner",
        "data_length",
        "num_children",
    )
    out = []
    for name in fields:
        value = getattr(stat, name)
        shown = f"{value:#x}" if name.endswith("zxid") or name == "ephemeral_owner" else str(value)
        out.append(f"{name} = {shown}")
    return out


async def _tree(client, path: str, out: list[str]) -> None:
    out.append(path)
    for name in await client.get_children(path):
        await _tree(client, path.rstrip("/") + "/" + name, out)


async def _watch(client, args) -> None:
    seen = 0
    stream = client.watch_stream(args.path, recursive=args.recursive, start_zxid=args.from_zxid)
    async for event in stream:
        print(f"{event.type} {event.path} zxid={event.zxid:#x}", flush=True)
        seen += 1
        if args.count and seen >= args.count:
            return


def tls_options(args: argparse.Namespace) -> dict[str, object]:
    """The SDK's TLS keywords for coordctl's flags: TLS when any file is given."""
    use_ssl = bool(args.cacert or args.cert or args.key)
    return {"use_ssl": use_ssl, "ca": args.cacert, "certfile": args.cert, "keyfile": args.key}


async def _run(args) -> int:
    from coordsvc.client import AsyncClient

    if args.command in ADMIN_COMMANDS:
        for line in await run_admin(args):
            print(line)
        return 0
    if args.command in RECIPE_COMMANDS:
        return await run_recipe(args)
    client = AsyncClient(args.servers, session_timeout=max(args.timeout, 4.0), **args.tls_options)
    await client.start(timeout=args.timeout)
    try:
        match args.command:
            case "ls":
                for name in await client.get_children(args.path):
                    print(name)
            case "get":
                data, _ = await client.get(args.path)
                sys.stdout.buffer.write(data + (b"" if data.endswith(b"\n") else b"\n"))
            case "set":
                await client.set(args.path, args.value.encode(), version=args.version)
            case "create":
                path = await client.create(
                    args.path,
                    args.value.encode(),
                    ephemeral=args.ephemeral,
                    sequence=args.sequential,
                    makepath=args.parents,
                    container=args.container,
                    ttl=args.ttl,
                )
                print(path)
            case "rm":
                await client.delete(args.path, version=args.version, recursive=args.recursive)
            case "stat":
                stat = await client.exists(args.path)
                if stat is None:
                    from coordsvc.errors import NoNodeError

                    raise NoNodeError(f"node {args.path} does not exist", args.path)
                print("\n".join(_stat_lines(stat)))
            case "tree":
                lines: list[str] = []
                await _tree(client, args.path, lines)
                print("\n".join(lines))
            case "watch":
                await _watch(client, args)
    finally:
        await client.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``coordctl`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.tls_options = tls_options(args)  # for the SDK clients coordctl makes
        args.tls = load_client_tls(**args.tls_options, names=("--cacert", "--cert", "--key"))
    except (OSError, ValueError) as err:
        print(f"coordctl: {err}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    try:
        code = asyncio.run(_run(args))
    except KeyboardInterrupt:
        code = 130
    except CoordError as err:
        print(f"coordctl: {err.code}: {err.message}", file=sys.stderr)
        code = (
            EXIT_UNREACHABLE if err.code in ("CONNECTION_LOSS", "OPERATION_TIMEOUT") else EXIT_ERROR
        )
    except grpc.aio.AioRpcError as err:  # from the admin commands
        print(f"coordctl: {err.code().name}: {err.details()}", file=sys.stderr)
        unreachable = err.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        code = EXIT_UNREACHABLE if unreachable else EXIT_ERROR
    except Exception as err:  # anything unexpected
        print(f"coordctl: error: {err}", file=sys.stderr)
        code = EXIT_ERROR
    raise SystemExit(code)


if __name__ == "__main__":
    main()
