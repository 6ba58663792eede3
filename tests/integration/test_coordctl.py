"""coordctl against a real server: every command, its output and its exit codes."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from coordsvc.client import Client


def coordctl(server, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coordsvc.cli.coordctl", "--servers", server.address, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def client(server):
    c = Client(server.address, session_timeout=5.0)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def test_create_get_set_ls_stat_tree_rm(server, client) -> None:
    assert coordctl(server, "create", "/app", "top").stdout == "/app\n"
    assert coordctl(server, "create", "-p", "/app/a/b", "deep").returncode == 0
    assert coordctl(server, "get", "/app/a/b").stdout == "deep\n"
    assert coordctl(server, "set", "/app/a/b", "new").returncode == 0
    assert client.get("/app/a/b")[0] == b"new"
    assert coordctl(server, "ls", "/app").stdout == "a\n"
    stat = coordctl(server, "stat", "/app/a/b").stdout
    assert "version = 1" in stat and "num_children = 0" in stat
    assert coordctl(server, "tree", "/app").stdout.splitlines() == ["/app", "/app/a", "/app/a/b"]
    assert coordctl(server, "rm", "-r", "/app").returncode == 0
    assert client.exists("/app") is None


def test_sequential_and_ephemeral(server, client) -> None:
    client.create("/q")
    first = coordctl(server, "create", "-s", "/q/job-").stdout.strip()
    second = coordctl(server, "create", "-s", "/q/job-").stdout.strip()
    assert first.startswith("/q/job-") and len(first) == len("/q/job-") + 10
    assert int(second[-10:]) > int(first[-10:])
    # an ephemeral node lives only as long as coordctl's own session
    result = coordctl(server, "create", "-e", "/q/eph")
    assert result.returncode == 0, result.stderr
    assert client.exists("/q/eph") is None


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("get", "/missing"), "NO_NODE"),
        (("create", "relative"), "INVALID_PATH"),
        (("rm", "/"), "BAD_ARGUMENTS"),
        (("set", "/missing", "x"), "NO_NODE"),
    ],
)
def test_errors_name_the_reason_and_exit_1(server, args, reason) -> None:
    result = coordctl(server, *args)
    assert result.returncode == 1
    assert result.stderr.startswith(f"coordctl: {reason}: "), result.stderr
    assert result.stdout == ""


def test_wrong_version_and_not_empty(server, client) -> None:
    client.create("/v", b"1")
    client.create("/v/child")
    bad = coordctl(server, "set", "--version", "7", "/v", "x")
    assert bad.returncode == 1 and "BAD_VERSION" in bad.stderr
    assert client.get("/v")[0] == b"1"
    busy = coordctl(server, "rm", "/v")
    assert busy.returncode == 1 and "NOT_EMPTY" in busy.stderr
    assert client.exists("/v/child") is not None


def test_usage_error_exits_2(server) -> None:
    result = coordctl(server, "frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_unreachable_server_exits_3(free_port) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "coordsvc.cli.coordctl",
            "--servers",
            f"127.0.0.1:{free_port}",
            "--timeout",
            "1",
            "ls",
            "/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("coordctl: ")


def test_watch_recursive_replays_from_a_zxid(server, client) -> None:
    client.create("/w")
    _, stat = client.get("/w")
    client.create("/w/a")
    client.create("/w/a/b")
    client.set("/w/a/b", b"x")
    result = coordctl(server, "watch", "-r", "/w", "--from-zxid", hex(stat.mzxid), "--count", "5")
    assert result.returncode == 0, result.stderr
    lines = [line.split()[:2] for line in result.stdout.splitlines()]
    assert lines == [
        ["CREATED", "/w/a"],
        ["CHILD", "/w"],
        ["CREATED", "/w/a/b"],
        ["CHILD", "/w/a"],
        ["CHANGED", "/w/a/b"],
    ]


def test_status(server) -> None:
    result = coordctl(server, "status")
    assert result.returncode == 0, result.stderr
    assert "role = standalone" in result.stdout
