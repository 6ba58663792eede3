"""The deterministic simulator's tests; see sim_cluster.py. Env: SIM_SEED, SIM_SEEDS, SIM_STEPS."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "sim: deterministic simulator runs (tests/sim)")
