"""The ``coordsvc`` command: ``serve`` runs a server; ``snapshot inspect``, ``backup``
and ``restore`` work on a data directory; ``config check`` vets a config file.

Logs go to stderr through structlog, with the server id and role bound to
every line. Stdout carries the listening address as its first line, so
scripts and tests can discover a port picked with 0; when metrics are on, a
second line ``coordsvc metrics on HOST:PORT`` follows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog

from coordsvc import __version__
from coordsvc.cli.config import HelpFormatter, add_serve_arguments, apply_env_defaults
from coordsvc.cli.configfile import ConfigFileError, apply_file_defaults, check_text, load_file
from coordsvc.server.logrole import add_role
from coordsvc.storage.base import StorageError

__all__ = ["main", "build_parser", "parse_args", "configure_logging", "bind_server_context"]


def configure_logging(fmt: str = "auto") -> None:
    """structlog to stderr: JSON lines unless ``fmt`` is console (or auto on a tty)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            add_role,  # an ensemble member's current role, ahead of the bound one
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def bind_server_context(server_id: int, role: str) -> None:
    """Put ``server_id`` and ``role`` on every log line from here on (structlog contextvars).

    Bound before the event loop starts, so every task inherits them. An
    ensemble member's role changes as it runs: its runner keeps the current
    one in ``coordsvc.server.logrole``, whose processor puts it ahead of this.
    """
    structlog.contextvars.bind_contextvars(server_id=server_id, role=role)


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser and its ``serve`` subparser."""
    parser = argparse.ArgumentParser(
        prog="coordsvc",
        description="coordsvc: a ZooKeeper-class coordination service over gRPC.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"coordsvc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run a server",
        description="Run a coordsvc server. Every flag can also be set as COORDSVC_<FLAG>.",
        formatter_class=HelpFormatter,
    )
    add_serve_arguments(serve)

    snap = sub.add_parser("snapshot", help="look inside a data directory")
    snap_sub = snap.add_subparsers(dest="snapshot_command", required=True, metavar="ACTION")
    inspect = snap_sub.add_parser(
        "inspect", help="last zxid, epochs, znode and session counts, sizes (read-only)"
    )
    inspect.add_argument("data_dir", metavar="DIR")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")

    backup = sub.add_parser(
        "backup", help="copy a data directory consistently, even while its server runs"
    )
    backup.add_argument("data_dir", metavar="DIR")
    backup.add_argument("out_dir", metavar="OUT", help="new or empty directory")

    restore = sub.add_parser("restore", help="restore a backup into a new or empty data directory")
    restore.add_argument("backup_dir", metavar="BACKUP")
    restore.add_argument("data_dir", metavar="DIR")

    config = sub.add_parser("config", help="work with a TOML config file of `serve` settings")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser(
        "check", help="report every problem in a config file with its line; exit 1 if any"
    )
    check.add_argument("file", metavar="FILE")
    return parser, serve


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Parse the command line; for ``serve`` layer flags > env COORDSVC_* > --config file > defaults."""
    parser, serve = build_parser()
    apply_env_defaults(serve, environ)
    args = parser.parse_args(argv)
    if args.command != "serve" or not args.config:
        return args
    try:
        values = load_file(args.config, serve)
    except ConfigFileError as exc:
        serve.exit(2, f"coordsvc serve: bad config file:\n{exc}\n")
    apply_file_defaults(serve, values)
    apply_env_defaults(serve, environ)  # the environment wins over the file
    return parser.parse_args(argv)


def _run_serve(args: argparse.Namespace) -> int:
    from coordsvc.cli.config import check_serve_args, config_from_args
    from coordsvc.server.app import serve

    configure_logging(args.log_format)
    cfg = config_from_args(args)
    try:
        check_serve_args(cfg)
    except ValueError as exc:
        print(f"coordsvc: cannot start: {exc}", file=sys.stderr)
        return 2
    bind_server_context(cfg.server_id, "ensemble" if cfg.peers else "standalone")

    def on_listening(address: str) -> None:
        print(f"coordsvc listening on {address}", flush=True)

    def on_metrics(address: str) -> None:
        print(f"coordsvc metrics on {address}", flush=True)

    try:
        return asyncio.run(serve(cfg, on_listening, on_metrics))
    except StorageError as exc:
        structlog.get_logger("coordsvc").error("store_damaged", error=str(exc))
        print(f"coordsvc: cannot start: {exc}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:
        structlog.get_logger("coordsvc").error("startup_failed", error=str(exc))
        print(f"coordsvc: cannot start: {exc}", file=sys.stderr)
        return 2


def _run_tool(args: argparse.Namespace) -> int:
    """snapshot inspect / backup / restore: plain output, one-line errors, non-zero exit."""
    from coordsvc.storage.backup import backup, restore
    from coordsvc.storage.inspect import format_report, inspect_store

    try:
        if args.command == "snapshot":
            report = inspect_store(args.data_dir)
            if args.json:
                print(json.dumps(report, indent=2, sort_keys=True, default=str))
            else:
                print("\n".join(format_report(report)))
        elif args.command == "backup":
            summary = backup(args.data_dir, args.out_dir)
            print(f"backup of {args.data_dir} written to {args.out_dir}: {summary}")
        elif args.command == "restore":
            summary = restore(args.backup_dir, args.data_dir)
            print(f"restored {args.backup_dir} into {args.data_dir}: {summary}")
    except (StorageError, OSError, ValueError) as exc:
        print(f"coordsvc {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_config_check(args: argparse.Namespace) -> int:
    """Print every problem as FILE:LINE: message (exit 1), or "ok" (exit 0)."""
    _, serve = build_parser()
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{args.file}: cannot read: {exc}", file=sys.stderr)
        return 1
    _, problems = check_text(text, serve)
    for problem in problems:
        print(problem.format(args.file))
    if problems:
        print(f"{len(problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    print("ok")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``coordsvc`` console script."""
    args = parse_args(argv)
    if args.command == "serve":
        sys.exit(_run_serve(args))
    if args.command in ("snapshot", "backup", "restore"):
        sys.exit(_run_tool(args))
    if args.command == "config":
        sys.exit(_run_config_check(args))
    raise SystemExit(f"coordsvc: unknown command {args.command!r}")


if __name__ == "__main__":
    main()
