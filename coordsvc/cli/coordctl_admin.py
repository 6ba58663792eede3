"""coordctl's operator commands: status, members, sessions, watches, ruok.

They call the Admin gRPC service of one server (the first of --servers)
directly, without opening a session, so they never change what they look
at. Each returns the lines to print; ``--json`` prints the response as JSON
(protobuf's JSON mapping, 64-bit numbers as strings) for scripts.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import UTC, datetime

from google.protobuf import json_format

from coordsvc.client.tls import open_channel
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc

__all__ = ["ADMIN_COMMANDS", "add_admin_commands", "run_admin"]

ADMIN_COMMANDS = ("status", "members", "sessions", "watches", "ruok")


def add_admin_commands(sub: argparse._SubParsersAction) -> None:
    """Register the admin subcommands on coordctl's subparsers."""
    for name, text in (
        ("status", "print the server's role, epoch, zxid, leader and counts"),
        ("members", "print the ensemble's members as this server sees them"),
        ("sessions", "print every session with its request counters (like ZooKeeper's cons)"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument("--json", action="store_true", help="print the response as JSON")
    s = sub.add_parser(
        "watches", help="summarise watches (wchs); --by-session (wchc) or --by-path (wchp) lists"
    )
    group = s.add_mutually_exclusive_group()
    group.add_argument("--by-session", action="store_true", help="list watched paths per session")
    group.add_argument("--by-path", action="store_true", help="list watching sessions per path")
    s.add_argument("--session", type=lambda v: int(v, 0), default=0, help="only this session id")
    s.add_argument("--path", default="", help="only this path")
    s.add_argument("--json", action="store_true", help="print the response as JSON")
    sub.add_parser("ruok", help="print imok if the server is running (exit 0), else fail")


async def run_admin(args: argparse.Namespace) -> list[str]:
    """Call the Admin service for ``args.command`` and return the lines to print.

    The channel is over TLS when ``args.tls`` (coordctl's loaded ClientTls) is set.
    """
    address = args.servers.split(",")[0].strip()
    async with open_channel(address, args.tls) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        t = args.timeout
        match args.command:
            case "status":
                resp = await stub.Status(apb.StatusRequest(), timeout=t)
                fmt = _status
            case "members":
                resp = await stub.Members(apb.MembersRequest(), timeout=t)
                fmt = _members
            case "sessions":
                resp = await stub.Sessions(apb.SessionsRequest(), timeout=t)
                fmt = _sessions
            case "watches":
                req = apb.WatchesRequest(session_id=args.session, path=args.path)
                resp = await stub.Watches(req, timeout=t)
                return _json(resp) if args.json else _watches(resp, args)
            case "ruok":
                return [(await stub.Ruok(apb.RuokRequest(), timeout=t)).answer]
            case _:
                raise ValueError(f"not an admin command: {args.command}")
    return _json(resp) if args.json else fmt(resp)


def _json(resp) -> list[str]:
    return [json_format.MessageToJson(resp, always_print_fields_with_no_presence=True)]


def _status(r: apb.StatusResponse) -> list[str]:
    lines = [
        f"server_id = {r.server_id}",
        f"role = {r.role}",
        f"epoch = {r.epoch}",
        f"last_zxid = {r.last_zxid:#x}",
        f"leader_id = {r.leader_id}",
        f"members = {','.join(str(m.id) for m in r.members)}",
        f"znodes = {r.znode_count}",
        f"sessions = {r.session_count}",
        f"watches = {r.watch_count}",
        f"version = {r.version}",
    ]
    if r.metrics_address:
        lines.append(f"metrics = http://{r.metrics_address}/metrics")
    return lines


def _members(r: apb.MembersResponse) -> list[str]:
    out = []
    for m in r.members:
        words = [str(m.id), m.address, m.role]
        if m.peer_address:
            words.append(f"peer={m.peer_address}")
        if m.leader:
            words.append("leader")
        if m.id == r.server_id:
            words.append("(this server)")
        out.append(" ".join(words))
    return out


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _sessions(r: apb.SessionsResponse) -> list[str]:
    out = []
    for s in r.sessions:
        words = [
            f"{s.session_id:#018x}",
            f"timeout_ms={s.timeout_ms}",
            f"here={'yes' if s.connected_here else 'no'}",
            f"ephemerals={s.ephemeral_count}",
            f"watches={s.watch_count}",
            f"outstanding={s.outstanding}",
            f"requests={s.requests}",
        ]
        if s.requests:
            when = datetime.fromtimestamp(s.last_response_ms / 1000, UTC)
            words += [
                f"last_op={s.last_op}",
                f"last_zxid={s.last_zxid:#x}",
                f"last_response={when.isoformat(timespec='milliseconds')}",
                f"latency_ms={_ms(s.min_latency_ms)}/{_ms(s.avg_latency_ms)}/"
                f"{_ms(s.max_latency_ms)}",
            ]
        out.append(" ".join(words))
    return out


def _watches(r: apb.WatchesResponse, args: argparse.Namespace) -> list[str]:
    if not (args.by_session or args.by_path or args.session or args.path):
        return [
            f"{r.session_count} sessions watching {r.path_count} paths",
            f"total watches: {r.total}",
        ]
    groups: dict[object, list[str]] = defaultdict(list)
    for w in r.watches:
        if args.by_path or (args.path and not args.by_session and not args.session):
            groups[w.path].append(f"\t{w.session_id:#018x} {w.kind}")
        else:
            groups[w.session_id].append(f"\t{w.path} {w.kind}")
    out = []
    for key in sorted(groups):  # type: ignore[type-var]
        out.append(f"{key:#018x}" if isinstance(key, int) else str(key))
        out.extend(groups[key])
    return out
