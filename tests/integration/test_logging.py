"""Server logs through structlog: JSON lines off a terminal, console on one.

Every line carries server_id and role (standalone, or an ensemble member's
current ZAB role); lines about a session carry its session_id, and lines
about the tree's progress carry the zxid.
"""

from __future__ import annotations

import json
import os
import pty
import re
import selectors
import signal
import subprocess
import sys
import time

from coordsvc.client import Client
from rawsession import RawSession

DEADLINE_S = 15.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def json_lines(server) -> list[dict]:
    lines = [line for line in server.logs().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # a non-JSON line fails the test here


def wait_for_event(server, event: str, **fields: object) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        for record in json_lines(server):
            if record.get("event") == event and all(record.get(k) == v for k, v in fields.items()):
                return record
        assert time.monotonic() < deadline, f"no {event} {fields} in:\n{server.logs()}"
        time.sleep(0.05)  # poll interval of a deadline-bounded wait


async def test_json_lines_carry_server_role_session_and_zxid(server_factory) -> None:
    server = server_factory(tick_ms=200, id=3)
    serving = wait_for_event(server, "serving")
    assert serving["address"] == server.address and serving["zxid"] >= 0
    assert serving["level"] == "info" and "timestamp" in serving

    async with RawSession(server.address) as s:
        connected = await s.connect(timeout_ms=2000)
        session = hex(connected.session_id)
        record = wait_for_event(server, "session_connected", session_id=session)
        assert record["zxid"] > 0
    ended = wait_for_event(server, "session_ended", session_id=session)
    assert ended["zxid"] >= record["zxid"]

    records = json_lines(server)
    assert records, server.logs()
    for rec in records:
        assert rec["server_id"] == 3 and rec["role"] == "standalone", rec


def test_console_on_a_terminal(tmp_path) -> None:
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--data-dir", str(tmp_path / "d"), "--id", "5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    try:
        text = read_until(master, proc, "serving")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        os.close(master)
    line = next(ln for ln in ANSI.sub("", text).splitlines() if "serving" in ln)
    assert not line.lstrip().startswith("{"), line
    assert "[info" in line and "server_id=5" in line and "role=standalone" in line, line


def test_explicit_format_wins_over_the_terminal_check(server_factory) -> None:
    server = server_factory(tick_ms=200, log_format="console")
    deadline = time.monotonic() + DEADLINE_S
    while "serving" not in server.logs():
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.05)  # poll interval of a deadline-bounded wait
    line = next(ln for ln in server.logs().splitlines() if "serving" in ln)
    assert not line.startswith("{") and "server_id=1" in ANSI.sub("", line)


def read_until(fd: int, proc: subprocess.Popen, needle: str) -> str:
    deadline = time.monotonic() + DEADLINE_S
    buf = ""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while needle not in buf:
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, f"no {needle!r} on the terminal: {buf!r}"
            if sel.select(min(left, 0.2)):
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the other side closed
                    break
                buf += chunk.decode(errors="replace")
    return buf


def test_ensemble_lines_carry_the_current_role(ensemble_factory) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    follower = next(n for n in ens.nodes.values() if n is not leader)
    for node in (leader, follower):
        with Client([node.address], session_timeout=6.0) as c:
            c.create(f"/logged{node.id}", b"x")
    for node, role in ((leader, "leading"), (follower, "following")):
        records = json_lines(node)
        assert all(r["server_id"] == node.id for r in records), node.logs()
        assert all(r["role"] != "standalone" for r in records), node.logs()
        states = [i for i, r in enumerate(records) if r.get("event") == "zab_state"]
        assert states and records[states[0]]["role"] == "looking", node.logs()
        last = states[-1]  # the state this node settled in; every line after it says so
        assert records[last]["role"] == role and records[last]["phase"] == "BROADCAST"
        connected = [r for r in records[last + 1 :] if r.get("event") == "session_connected"]
        assert connected, node.logs()
        assert {r["role"] for r in records[last + 1 :]} == {role}, node.logs()
