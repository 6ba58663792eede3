"""An ensemble leader checks session expiry every replication tick (expiry_config)."""

from __future__ import annotations

import pytest

from coordsvc.request.pipeline import PipelineConfig
from coordsvc.server.replica_runner import expiry_config


@pytest.mark.parametrize(
    ("tick", "zab_tick", "expiry_tick"),
    [(2000, 100, 100), (200, 100, 100), (100, 100, 100), (100, 250, 100)],
)
def test_expiry_runs_on_the_finer_tick_and_timeouts_stay_derived_from_tick_ms(
    tick: int, zab_tick: int, expiry_tick: int
) -> None:
    base = PipelineConfig(tick_ms=tick)
    got = expiry_config(base, zab_tick)
    assert got.tick_ms == expiry_tick
    assert (got.min_timeout_ms, got.max_timeout_ms) == (2 * tick, 20 * tick)


def test_explicit_timeout_bounds_are_kept() -> None:
    base = PipelineConfig(tick_ms=2000, min_session_timeout_ms=3000, max_session_timeout_ms=9000)
    got = expiry_config(base, 100)
    assert (got.tick_ms, got.min_timeout_ms, got.max_timeout_ms) == (100, 3000, 9000)
