"""Command-line and environment configuration of ``coordsvc serve``.

Each flag falls back to an environment variable ``COORDSVC_<FLAG>`` (for
example ``COORDSVC_TICK_MS``), which falls back to the TOML file named by
``--config`` (see ``configfile``), which falls back to the default shown in
``--help``: flags > env > file > defaults. The flags defined here are the one
list of settings; the file and env layers derive their keys from it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from coordsvc.server.app import ServerConfig

__all__ = [
    "add_serve_arguments",
    "apply_env_defaults",
    "config_from_args",
    "env_name",
    "listen_address",
    "optional_listen_address",
    "ENV_PREFIX",
    "INT_TYPES",
]

ENV_PREFIX = "COORDSVC_"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default, except where the help text already explains a derived one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == "":
            return action.help
        return super()._get_help_string(action)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def listen_address(text: str) -> str:
    """HOST:PORT with a port in 0..65535; an IPv6 host goes in brackets ([::1]:2181)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port 0-65535, got {text!r}")
    bracketed = host.startswith("[") and host.endswith("]")
    if any(c.isspace() for c in host) or ("[" in host or "]" in host) != bracketed:
        raise argparse.ArgumentTypeError(f"bad host in {text!r}")
    if ":" in host and not bracketed:
        raise argparse.ArgumentTypeError(
            f"an IPv6 host goes in brackets ([::1]:2181), got {text!r}"
        )
    return text


def optional_listen_address(text: str) -> str:
    """Like ``listen_address``, but the empty string means "off"."""
    return text if text == "" else listen_address(text)


# Flag types whose values are integers (a TOML file must give them as integers).
INT_TYPES: tuple[object, ...] = (int, _positive, _non_negative)


def env_name(flag: str) -> str:
    """``COORDSVC_TICK_MS`` for ``--tick-ms``."""
    return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``coordsvc serve``."""
    p.add_argument(
        "--listen",
        default="127.0.0.1:2181",
        type=listen_address,
        help="HOST:PORT to serve gRPC on; port 0 picks a free port",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TOML file of settings (keys are these flags' names with underscores, "
        "e.g. tick_ms = 2000); flags and COORDSVC_* win over it",
    )
    p.add_argument(
        "--data-dir",
        default="./coordsvc-data",
        help="directory for the server's data (created if missing)",
    )
    p.add_argument("--id", dest="id", default=1, type=_positive, help="this server's id")
    p.add_argument(
        "--tick-ms",
        default=2000,
        type=_positive,
        help="length of one tick; session and TTL expiry run on ticks",
    )
    p.add_argument(
        "--min-session-timeout-ms",
        default=None,
        type=_positive,
        help="smallest session timeout granted (default: 2 x --tick-ms)",
    )
    p.add_argument(
        "--max-session-timeout-ms",
        default=None,
        type=_positive,
        help="largest session timeout granted (default: 20 x --tick-ms)",
    )
    p.add_argument(
        "--max-data-bytes", default=1 << 20, type=_positive, help="largest znode data accepted"
    )
    p.add_argument(
        "--storage",
        default="lmdb",
        choices=["lmdb", "memory"],
        help="lmdb keeps data under --data-dir; memory loses everything on exit",
    )
    p.add_argument(
        "--lmdb-map-size",
        default=1 << 30,
        type=_positive,
        help="largest size in bytes the LMDB store may grow to (raise it when writes fail "
        "with STORAGE_FULL; restarting with a larger value continues)",
    )
    p.add_argument(
        "--snapshot-every",
        default=100_000,
        type=_non_negative,
        help="take a snapshot after this many txns (0: only on demand)",
    )
    p.add_argument(
        "--snapshot-retain",
        default=3,
        type=_positive,
        help="snapshots kept; the log before the oldest kept one is purged",
    )
    p.add_argument(
        "--peers",
        default="",
        metavar="ID=HOST:PORT,...",
        help="the ensemble: every member's id and --peer-listen address, e.g. "
        "1=h1:2888,2=h2:2888,3=h3:2888 (append :observer to an observer's address); "
        "empty (the default) runs standalone",
    )
    p.add_argument(
        "--peer-listen",
        default="",
        type=optional_listen_address,
        metavar="HOST:PORT",
        help="HOST:PORT to serve peer (replication) traffic on; needed with --peers",
    )
    p.add_argument(
        "--observer",
        action="store_true",
        default=False,
        help="join the ensemble as an observer: it gets commits and serves reads, never votes",
    )
    p.add_argument(
        "--zab-tick-ms",
        default=100,
        type=_positive,
        help="length of one replication tick (heartbeats every tick; a leader whose link "
        "breaks is lost at once, a silent one after 10; elections retry after 10-20)",
    )
    p.add_argument(
        "--tls-cert",
        default="",
        metavar="FILE",
        help="PEM certificate (chain) to serve the client port with TLS; needs --tls-key",
    )
    p.add_argument("--tls-key", default="", metavar="FILE", help="PEM private key of --tls-cert")
    p.add_argument(
        "--tls-client-ca",
        default="",
        metavar="FILE",
        help="PEM CA certificate(s): clients must present a certificate signed by one",
    )
    p.add_argument(
        "--peer-tls-cert",
        default="",
        metavar="FILE",
        help="PEM certificate this member presents on peer links (mutual TLS; "
        "needs --peer-tls-key and --peer-tls-ca)",
    )
    p.add_argument(
        "--peer-tls-key", default="", metavar="FILE", help="PEM private key of --peer-tls-cert"
    )
    p.add_argument(
        "--peer-tls-ca",
        default="",
        metavar="FILE",
        help="PEM CA certificate(s) every member's peer certificate is signed by",
    )
    p.add_argument(
        "--log-format",
        default="auto",
        choices=["auto", "json", "console"],
        help="log format on stderr; auto is console on a terminal, else JSON",
    )
    p.add_argument(
        "--metrics-listen",
        default="",
        type=optional_listen_address,
        metavar="HOST:PORT",
        help="serve Prometheus metrics over HTTP at /metrics on HOST:PORT (port 0 picks "
        "one, printed as a second stdout line); empty (the default) turns it off",
    )
    p.add_argument(
        "--zk-listen",
        default="",
        type=optional_listen_address,
        metavar="HOST:PORT",
        help="also speak ZooKeeper's own client protocol on HOST:PORT (kazoo, zkCli, "
        "Curator); empty (the default) turns it off",
    )
    p.add_argument(
        "--zk-max-client-cnxns",
        default=60,
        type=_non_negative,
        metavar="N",
        help="connections one client host may hold on --zk-listen (ZooKeeper's "
        "maxClientCnxns); 0 lifts the limit",
    )


_BOOL_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def apply_env_defaults(
    parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None
) -> None:
    """Replace each flag's default by ``COORDSVC_<FLAG>`` when that variable is set."""
    environ = os.environ if environ is None else environ
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = env_name(action.option_strings[-1])
        raw = environ.get(name)
        if raw is None:
            continue
        if action.nargs == 0:  # a switch such as --observer: COORDSVC_OBSERVER=true|false
            if raw.strip().lower() not in _BOOL_WORDS:
                parser.error(f"{name}: expected one of {sorted(_BOOL_WORDS)}, got {raw!r}")
            action.default = _BOOL_WORDS[raw.strip().lower()]
            continue
        try:
            value = action.type(raw) if action.type else raw
        except (ValueError, argparse.ArgumentTypeError) as exc:
            parser.error(f"{name}: {exc}")
        if action.choices is not None and value not in action.choices:
            parser.error(f"{name}: {value!r} not in {list(action.choices)}")
        action.default = value


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig of parsed ``serve`` arguments."""
    return ServerConfig(
        listen=args.listen,
        data_dir=args.data_dir,
        server_id=args.id,
        tick_ms=args.tick_ms,
        min_session_timeout_ms=args.min_session_timeout_ms,
        max_session_timeout_ms=args.max_session_timeout_ms,
        max_data_bytes=args.max_data_bytes,
        storage=args.storage,
        lmdb_map_size=args.lmdb_map_size,
        snapshot_every=args.snapshot_every,
        snapshot_retain=args.snapshot_retain,
        metrics_listen=args.metrics_listen,
        zk_listen=args.zk_listen,
        zk_max_client_cnxns=args.zk_max_client_cnxns,
        peers=args.peers,
        peer_listen=args.peer_listen,
        observer=args.observer,
        zab_tick_ms=args.zab_tick_ms,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        peer_tls_cert=args.peer_tls_cert,
        peer_tls_key=args.peer_tls_key,
        peer_tls_ca=args.peer_tls_ca,
    )


def check_serve_args(cfg: ServerConfig) -> None:
    """Clear errors for replication flags that cannot work together (ValueError).

    TLS files are read (and their flags checked) once, when the server starts.
    """
    peer_tls = cfg.peer_tls_cert or cfg.peer_tls_key or cfg.peer_tls_ca
    if not cfg.peers:
        if cfg.peer_listen or cfg.observer or peer_tls:
            raise ValueError("--peer-listen, --observer and --peer-tls-* need --peers")
        return
    from coordsvc.server.replica_runner import parse_peers

    parse_peers(cfg.peers, cfg.server_id, observer=cfg.observer)
    if not cfg.peer_listen:
        raise ValueError("--peers needs --peer-listen (where the other members reach this one)")
    if cfg.storage != "lmdb":
        raise ValueError("an ensemble member needs --storage lmdb")
