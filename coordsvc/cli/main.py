"""The ``coordsvc`` command: ``coordsvc serve`` runs a server (more subcommands later).

Logs go to stderr through structlog; stdout carries exactly one line, the
listening address, so scripts and tests can discover a port picked with 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import structlog

from coordsvc import __version__
from coordsvc.cli.config import HelpFormatter, add_serve_arguments, apply_env_defaults

__all__ = ["main", "build_parser", "configure_logging"]


def configure_logging(fmt: str = "auto") -> None:
    """structlog to stderr: JSON lines unless ``fmt`` is console (or auto on a tty)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
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
    return parser, serve


def _run_serve(args: argparse.Namespace) -> int:
    from coordsvc.cli.config import config_from_args
    from coordsvc.server.app import serve

    configure_logging(args.log_format)
    cfg = config_from_args(args)

    def on_listening(address: str) -> None:
        print(f"coordsvc listening on {address}", flush=True)

    try:
        return asyncio.run(serve(cfg, on_listening))
    except (OSError, ValueError) as exc:
        structlog.get_logger("coordsvc").error("startup_failed", error=str(exc))
        return 2


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``coordsvc`` console script."""
    parser, serve = build_parser()
    apply_env_defaults(serve)
    args = parser.parse_args(argv)
    if args.command == "serve":
        sys.exit(_run_serve(args))
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    main()
