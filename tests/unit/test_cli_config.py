"""``coordsvc serve`` flags: defaults shown in --help, COORDSVC_* env fallback, flags win."""

from __future__ import annotations

import pytest

from coordsvc.cli.config import apply_env_defaults, config_from_args
from coordsvc.cli.main import build_parser
from coordsvc.server.app import message_limit


def parse(argv: list[str], env: dict[str, str] | None = None):
    parser, serve = build_parser()
    apply_env_defaults(serve, env or {})
    return config_from_args(parser.parse_args(["serve", *argv]))


def test_defaults() -> None:
    cfg = parse([])
    assert (cfg.listen, cfg.data_dir, cfg.server_id) == ("127.0.0.1:2181", "./coordsvc-data", 1)
    assert (cfg.tick_ms, cfg.max_data_bytes, cfg.storage) == (2000, 1 << 20, "lmdb")
    assert (cfg.lmdb_map_size, cfg.snapshot_every, cfg.snapshot_retain) == (1 << 30, 100_000, 3)
    assert cfg.min_session_timeout_ms is None and cfg.max_session_timeout_ms is None


def test_env_is_a_fallback_and_flags_win() -> None:
    env = {"COORDSVC_TICK_MS": "250", "COORDSVC_LISTEN": "127.0.0.1:0", "COORDSVC_ID": "4"}
    cfg = parse([], env)
    assert (cfg.tick_ms, cfg.listen, cfg.server_id) == (250, "127.0.0.1:0", 4)
    assert parse(["--tick-ms", "300"], env).tick_ms == 300


def test_bad_env_value_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse([], {"COORDSVC_STORAGE": "floppy"})
    assert "COORDSVC_STORAGE" in capsys.readouterr().err


def test_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for shown in ("127.0.0.1:2181", "./coordsvc-data", "(default: 2000)", "1048576", "2 x", "20 x"):
        assert shown in out, shown


def test_message_limit_leaves_room_for_oversized_data() -> None:
    assert message_limit(1 << 20) == 8 << 20
    assert message_limit(4 << 20) == 16 * (1 << 20) + (64 << 10)
