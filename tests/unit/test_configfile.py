"""TOML config files: every setting, the four layers, and ``coordsvc config check``.

The layers are checked in-process through ``parse_args`` (flags > env > file >
defaults) and once end to end, with a real server whose behaviour shows
which layer won.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest

from coordsvc.cli.config import add_serve_arguments, config_from_args
from coordsvc.cli.configfile import check_text, settings_of
from coordsvc.cli.main import build_parser, parse_args
from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.v1 import coordination_pb2_grpc as pb_grpc


def serve_parser() -> argparse.ArgumentParser:
    return build_parser()[1]


def write(tmp_path: Path, text: str, name: str = "coordsvc.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def config_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coordsvc", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_serve_flag_is_a_file_key() -> None:
    flags = {
        a.option_strings[-1]
        for a in serve_parser()._actions
        if a.option_strings and a.dest not in ("help", "config")
    }
    keys = set(settings_of(serve_parser()))
    assert {f.lstrip("-").replace("-", "_") for f in flags if f != "--id"} | {"id"} == keys
    assert {"listen", "data_dir", "tick_ms", "metrics_listen", "log_format"} <= keys


def test_a_file_of_every_default_is_ok(tmp_path: Path) -> None:
    lines = []
    for key, action in settings_of(serve_parser()).items():
        if action.default is None:
            continue
        value = action.default
        if isinstance(value, bool):  # a switch such as --observer
            lines.append(f"{key} = {str(value).lower()}")
        else:
            lines.append(f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"')
    path = write(tmp_path, "\n".join(lines) + "\n")
    result = config_check(path)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stdout + result.stderr


def test_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # a config with one mistake of each kind
        listen = "localhost"
        tick_msec = 100
        tick_ms = "2000"
        snapshot_retain = 0
        storage = "floppy"
        metrics_listen = "::1:9181"
        min_session_timeout_ms = 9000
        max_session_timeout_ms = 4000
        data_dir = "/var/lib/coordsvc"

        [server]
        id = 2
        """,
    )
    result = config_check(path)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    p = str(path)
    assert out == [
        f"{p}:2: listen: expected HOST:PORT with a port 0-65535, got 'localhost'",
        f"{p}:3: unknown key 'tick_msec' (did you mean tick_ms?)",
        f"{p}:4: tick_ms must be an integer, got str '2000'",
        f"{p}:5: snapshot_retain: must be > 0, got 0",
        f"{p}:6: storage must be one of 'lmdb', 'memory', got 'floppy'",
        f"{p}:7: metrics_listen: an IPv6 host goes in brackets ([::1]:2181), got '::1:9181'",
        f"{p}:8: min_session_timeout_ms (9000) exceeds max (4000)",
        f"{p}:12: unknown table [server]: settings go at the top level, outside any table",
    ]
    assert "8 problem(s)" in result.stderr


def test_check_reports_a_toml_syntax_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'tick_ms = 2000\ndata_dir = "unterminated\n')
    result = config_check(path)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:2: not valid TOML: "), result.stdout


def test_check_of_a_missing_file_fails(tmp_path: Path) -> None:
    result = config_check(tmp_path / "nope.toml")
    assert result.returncode == 1 and "cannot read" in result.stderr


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('"tick_ms" = true\n', 1, "tick_ms must be an integer, got bool True"),
        ("\n\nserver.tick_ms = 5\n", 3, "unknown table [server]"),
        ('listen = "127.0.0.1:70000"\n', 1, "port 0-65535"),
        ('listen = "[::1]:2181"\nid = 0\n', 2, "id: must be > 0, got 0"),
        ("lmdb_map_size = 1.5\n", 1, "lmdb_map_size must be an integer, got float 1.5"),
        ('metrics_listen = "[::1]"\n', 1, "metrics_listen: expected HOST:PORT"),
    ],
)
def test_check_messages(text: str, line: int, needle: str) -> None:
    _, problems = check_text(text, serve_parser())
    assert len(problems) == 1, problems
    assert problems[0].line == line and needle in problems[0].message, problems[0]


def test_switches_are_booleans_in_a_file() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)  # --observer is a serve switch
    values, problems = check_text("observer = true\n", parser)
    assert (values, problems) == ({"observer": True}, [])
    _, problems = check_text('observer = "yes"\n', parser)
    assert problems[0].message == "observer must be a boolean, got str 'yes'"


def test_the_four_layers(tmp_path: Path) -> None:
    """defaults < file < env COORDSVC_* < flags, each layer only where it speaks."""
    path = write(
        tmp_path,
        """
        tick_ms = 500
        max_data_bytes = 1000
        snapshot_retain = 7
        storage = "memory"
        """,
    )

    def cfg(argv: list[str], env: dict[str, str]):
        return config_from_args(parse_args(["serve", *argv], env))

    defaults = cfg([], {})
    assert (defaults.tick_ms, defaults.max_data_bytes, defaults.snapshot_retain) == (
        2000,
        1 << 20,
        3,
    )
    env = {"COORDSVC_MAX_DATA_BYTES": "2000", "COORDSVC_SNAPSHOT_RETAIN": "8"}
    layered = cfg(["--config", str(path), "--snapshot-retain", "9"], env)
    assert layered.tick_ms == 500  # file over default
    assert layered.storage == "memory"  # file over default
    assert layered.max_data_bytes == 2000  # env over file
    assert layered.snapshot_retain == 9  # flag over env over file
    assert layered.snapshot_every == 100_000  # nobody spoke: the default
    from_env = cfg([], {"COORDSVC_CONFIG": str(path)})
    assert from_env.tick_ms == 500  # the file itself may be named by the environment


def test_serve_refuses_a_bad_file_listing_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, 'tick_ms = 0\nwhat = 1\nlisten = "127.0.0.1:0"\n')
    result = subprocess.run(
        [sys.executable, "-m", "coordsvc", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{path}:1: tick_ms: must be > 0, got 0" in result.stderr
    assert f"{path}:2: unknown key 'what'" in result.stderr
    assert result.stdout == ""


def test_a_real_server_takes_settings_from_the_file_and_env_over_it(
    tmp_path: Path, server_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "max_data_bytes = 16\ntick_ms = 200\n")
    small = server_factory(config=path)
    monkeypatch.setenv("COORDSVC_MAX_DATA_BYTES", "64")
    larger = server_factory(config=path)
    request = pb.CreateRequest(path="/big", data=b"x" * 32)
    with grpc.insecure_channel(small.address) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.CoordinationStub(channel).Create(request, timeout=10)
        assert "DATA_TOO_LARGE" in (info.value.details() or "")
    with grpc.insecure_channel(larger.address) as channel:
        made = pb_grpc.CoordinationStub(channel).Create(request, timeout=10)
        assert made.path == "/big"
