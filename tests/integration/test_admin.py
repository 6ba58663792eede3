"""The Admin service and coordctl's operator commands against a real server.

status, members, sessions (ZooKeeper's cons), watches (wchs / wchc / wchp)
and ruok: what an operator types, what it prints and how it exits.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import grpc
import pytest
from coordsvc.client import Client

from coordsvc.v1 import admin_pb2 as apb


def coordctl(address: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coordsvc.cli.coordctl", "--servers", address, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def client(server):
    c = Client(server.address, session_timeout=5.0)
    c.start()
    try:
        yield c
    finally:
        c.close()  # stop the session and end the client's threads


def fields(line: str) -> dict[str, str]:
    """key=value words of one output line."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def test_ruok_answers_imok(server) -> None:
    result = coordctl(server.address, "ruok")
    assert (result.returncode, result.stdout) == (0, "imok\n"), result.stderr


def test_ruok_on_a_dead_address_exits_3() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = coordctl(f"127.0.0.1:{port}", "--timeout", "1", "ruok")
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("coordctl: UNAVAILABLE") or "DEADLINE" in result.stderr


def test_status_and_members(server_factory) -> None:
    srv = server_factory(tick_ms=200, id=7, metrics_listen="127.0.0.1:0")
    status = coordctl(srv.address, "status")
    assert status.returncode == 0, status.stderr
    lines = dict(line.split(" = ", 1) for line in status.stdout.splitlines())
    assert lines["server_id"] == "7" and lines["role"] == "standalone"
    assert lines["leader_id"] == "7" and lines["members"] == "7"
    metrics = lines["metrics"]
    assert metrics.startswith("http://127.0.0.1:") and metrics.endswith("/metrics")
    members = coordctl(srv.address, "members")
    assert members.returncode == 0, members.stderr
    assert members.stdout.splitlines() == [f"7 {srv.address} voter leader (this server)"]
    as_json = json.loads(coordctl(srv.address, "members", "--json").stdout)
    assert as_json["leaderId"] == "7" and as_json["members"][0]["address"] == srv.address


def test_sessions_show_cons_counters(server, client) -> None:
    sid = client.client_id[0]
    client.create("/svc", b"")
    client.create("/svc/me", b"x", ephemeral=True)
    client.get("/svc/me", watch=lambda event: None)
    client.get_children("/svc", watch=lambda event: None)
    result = coordctl(server.address, "sessions")
    assert result.returncode == 0, result.stderr
    mine = [line for line in result.stdout.splitlines() if line.startswith(f"{sid:#018x} ")]
    assert len(mine) == 1, result.stdout
    f = fields(mine[0])
    assert f["here"] == "yes" and f["ephemerals"] == "1" and f["watches"] == "2"
    assert f["timeout_ms"] == "4000"  # 5 s asked, capped at 20 ticks of 200 ms
    assert f["outstanding"] == "0"
    assert int(f["requests"]) >= 4 and f["last_op"] == "get_children"
    low, avg, high = (float(x) for x in f["latency_ms"].split("/"))
    assert 0 <= low <= avg <= high
    before = int(f["requests"])
    client.exists("/svc")
    again = [ln for ln in coordctl(server.address, "sessions").stdout.splitlines() if "here=" in ln]
    after = fields(next(ln for ln in again if ln.startswith(f"{sid:#018x} ")))
    assert int(after["requests"]) == before + 1 and after["last_op"] == "exists"


def test_sessions_json(server, client) -> None:
    client.create("/j", b"")
    out = json.loads(coordctl(server.address, "sessions", "--json").stdout)
    ours = [s for s in out["sessions"] if int(s["sessionId"]) == client.client_id[0]]
    assert ours and ours[0]["connectedHere"] is True and int(ours[0]["requests"]) >= 1


def test_watches_summary_and_listings(server, client) -> None:
    other = Client(server.address, session_timeout=5.0)
    other.start()
    try:
        client.create("/w", b"")
        client.create("/w/a", b"")
        client.get("/w", watch=lambda e: None)
        client.get_children("/w", watch=lambda e: None)
        other.get("/w/a", watch=lambda e: None)
        mine, theirs = client.client_id[0], other.client_id[0]

        summary = coordctl(server.address, "watches")
        assert summary.returncode == 0, summary.stderr
        assert summary.stdout.splitlines() == ["2 sessions watching 2 paths", "total watches: 3"]

        by_session = coordctl(server.address, "watches", "--by-session").stdout.splitlines()
        assert by_session[by_session.index(f"{mine:#018x}") + 1 :][:2] == [
            "\t/w child",
            "\t/w data",
        ]
        assert by_session[by_session.index(f"{theirs:#018x}") + 1] == "\t/w/a data"

        one = coordctl(server.address, "watches", "--session", hex(theirs)).stdout.splitlines()
        assert one == [f"{theirs:#018x}", "\t/w/a data"]

        by_path = coordctl(server.address, "watches", "--by-path").stdout.splitlines()
        assert by_path[by_path.index("/w/a") + 1] == f"\t{theirs:#018x} data"
    finally:
        other.close()


def test_watches_filters_over_grpc(server, client, admin_stub) -> None:
    client.create("/f", b"")
    client.get("/f", watch=lambda e: None)
    client.exists("/f/none", watch=lambda e: None)
    everything = admin_stub.Watches(apb.WatchesRequest())
    assert (everything.total, everything.session_count, everything.path_count) == (2, 1, 2)
    only = admin_stub.Watches(apb.WatchesRequest(path="/f/none"))
    # an exists watch is a data watch, as in ZooKeeper: it fires on creation
    assert [(w.path, w.kind) for w in only.watches] == [("/f/none", "data")]
    assert only.total == 2  # the summary counts everything, the list is filtered
    nobody = admin_stub.Watches(apb.WatchesRequest(session_id=12345))
    assert list(nobody.watches) == []


def test_ruok_over_grpc(admin_stub) -> None:
    assert admin_stub.Ruok(apb.RuokRequest()).answer == "imok"


def test_liveness_health_is_the_admin_service(server) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = stub.Check(health_pb2.HealthCheckRequest(service="coordsvc.v1.Admin"), timeout=5)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
