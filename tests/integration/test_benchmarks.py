"""The CI slice of the benchmarks: each script's --quick run completes and prints its figures.

The figures themselves are not asserted (this machine is shared and noisy);
the full runs are ``python scripts/bench_*.py`` without ``--quick``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("bench_storage.py", ["append in batches of 64", "snapshot of"]),
        ("bench_durable.py", ["(b) durable create", "restart after stop"]),
        ("bench_ensemble.py", ["ensemble / standalone", "(b) failover", "(c) a follower"]),
    ],
)
def test_a_quick_benchmark_run_prints_its_figures(tmp_path: Path, script: str, expected) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for text in expected:
        assert text in run.stdout, run.stdout
