"""Prometheus metrics of a real server: scraped over HTTP, parsed, and seen to move.

The scrape is parsed with prometheus_client's own parser, so what is checked
here is what Prometheus would store. Requests go over a raw session stream
(no SDK in between), so every count is known exactly.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
import pytest
from coordsvc.client import Client
from prometheus_client.parser import text_string_to_metric_families
from rawsession import RawSession

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc
from coordsvc.v1 import coordination_pb2 as pb

DEADLINE_S = 10.0

Samples = dict[tuple[str, frozenset], float]


def metrics_address(server) -> str:
    with grpc.insecure_channel(server.address) as channel:
        status = admin_pb2_grpc.AdminStub(channel).Status(apb.StatusRequest(), timeout=10)
    return status.metrics_address


def scrape(address: str) -> Samples:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(address: str, check, what: str) -> Samples:
    """Scrape until ``check(samples)`` holds (the deadline bounds the wait)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        samples = scrape(address)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # poll interval of a deadline-bounded wait


@pytest.fixture
def metrics_server(server_factory):
    return server_factory(tick_ms=200, metrics_listen="127.0.0.1:0")


def test_metrics_are_off_by_default(server) -> None:
    assert metrics_address(server) == ""


def test_state_gauges_at_rest(metrics_server) -> None:
    samples = scrape(metrics_address(metrics_server))
    assert value(samples, "coordsvc_role", role="standalone") == 1
    assert value(samples, "coordsvc_role", role="leading") == 0
    assert value(samples, "coordsvc_server_info", server_id="1", version="0.1.0") == 1
    for name in ("sessions", "watches", "outstanding_requests", "connections"):
        assert value(samples, f"coordsvc_{name}") == 0, name
    assert value(samples, "coordsvc_znodes") == 1  # the root
    assert value(samples, "coordsvc_elections_total") == 0
    assert value(samples, "coordsvc_followers_in_sync") == 0
    assert value(samples, "process_open_fds") > 0


async def test_counters_and_gauges_move_with_operations(metrics_server) -> None:
    address = metrics_address(metrics_server)
    async with RawSession(metrics_server.address) as s:
        await s.connect(timeout_ms=4000)
        before = scrape(address)
        for name in ("a", "b", "c"):
            resp = await s.call_op(create=pb.CreateRequest(path=f"/{name}", data=b"x"))
            assert not resp.HasField("error"), resp
        dup = await s.call_op(create=pb.CreateRequest(path="/a"))
        assert pb.ErrorCode.Name(dup.error.code) == "NODE_EXISTS", dup
        await s.call_op(get_data=pb.GetDataRequest(path="/a", watch=True))
        after = scrape(address)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("coordsvc_requests_total", op="create", code="OK") == 3
    assert delta("coordsvc_requests_total", op="create", code="NODE_EXISTS") == 1
    assert delta("coordsvc_requests_total", op="get_data", code="OK") == 1
    assert delta("coordsvc_request_duration_seconds_count", op="create") == 4
    assert delta("coordsvc_request_duration_seconds_sum", op="create") > 0
    assert delta("coordsvc_proposals_total") == 3
    appends = delta("coordsvc_storage_appends_total")
    assert 1 <= appends <= 3
    assert delta("coordsvc_fsync_duration_seconds_count") == appends
    assert delta("coordsvc_storage_txns_per_append_sum") == 3
    assert delta("coordsvc_commit_duration_seconds_count") >= 1
    assert value(after, "coordsvc_znodes") == 4
    assert value(after, "coordsvc_sessions") == 1
    assert value(after, "coordsvc_connections") == 1
    assert value(after, "coordsvc_watches") == 1
    assert value(after, "coordsvc_last_zxid") > value(before, "coordsvc_last_zxid")
    assert value(after, "coordsvc_epoch") >= 1

    # the stream is gone; the session (and its watch) go at once when closed,
    # or after its timeout otherwise: either way the gauges come back down
    wait_for(
        address,
        lambda m: value(m, "coordsvc_connections") == 0 and value(m, "coordsvc_sessions") == 0,
        "the session to end",
    )


def test_other_paths_are_404(metrics_server) -> None:
    address = metrics_address(metrics_server)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://{address}/nope", timeout=10)
    assert info.value.code == 404


def test_port_zero_is_printed_as_the_second_stdout_line(tmp_path) -> None:
    cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--data-dir", str(tmp_path / "d"), "--metrics-listen", "127.0.0.1:0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    try:
        lines = read_lines(proc, 2)
        assert lines[0].startswith("coordsvc listening on 127.0.0.1:")
        assert lines[1].startswith("coordsvc metrics on 127.0.0.1:")
        address = lines[1].removeprefix("coordsvc metrics on ")
        assert int(address.rpartition(":")[2]) > 0
        assert value(scrape(address), "coordsvc_role", role="standalone") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == 0


def read_lines(proc: subprocess.Popen, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while buf.count(b"\n") < count:
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, f"server did not print {count} lines: {buf!r}"
            if sel.select(min(left, 0.2)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"stdout closed early: {buf!r}"
                buf += chunk
    return buf.decode().splitlines()[:count]


def test_an_ensemble_reports_roles_elections_followers_in_sync_and_commits(
    ensemble_factory,
) -> None:
    ens = ensemble_factory(3, 0, "--metrics-listen", "127.0.0.1:0")
    leader = ens.wait_leader()
    addresses = {n.id: metrics_address(n) for n in ens.nodes.values()}
    assert all(addresses.values()), addresses
    wait_for(
        addresses[leader.id],
        lambda m: value(m, "coordsvc_followers_in_sync") == 2,
        "both followers in sync with the leader",
    )
    scraped = {nid: scrape(a) for nid, a in addresses.items()}
    roles = {
        nid: [
            r
            for r in ("standalone", "leading", "following", "observing", "looking")
            if value(m, "coordsvc_role", role=r) == 1
        ]
        for nid, m in scraped.items()
    }
    assert roles[leader.id] == ["leading"], roles
    assert sorted(r for nid, rs in roles.items() if nid != leader.id for r in rs) == [
        "following",
        "following",
    ], roles
    for nid, m in scraped.items():
        assert value(m, "coordsvc_elections_total") >= 1, nid
        expected = 2 if nid == leader.id else 0
        assert value(m, "coordsvc_followers_in_sync") == expected, nid

    before = scraped[leader.id]
    follower = next(n for n in ens.nodes.values() if n is not leader)
    with Client([follower.address], session_timeout=6.0) as c:
        c.create("/metered", b"x")  # forwarded to the leader, committed by a quorum
    after = wait_for(
        addresses[leader.id],
        lambda m: (
            value(m, "coordsvc_commit_duration_seconds_count")
            > value(before, "coordsvc_commit_duration_seconds_count")
        ),
        "a commit on the leader",
    )
    assert value(after, "coordsvc_proposals_total") > value(before, "coordsvc_proposals_total")
    assert value(after, "coordsvc_commit_duration_seconds_sum") > value(
        before, "coordsvc_commit_duration_seconds_sum"
    )
