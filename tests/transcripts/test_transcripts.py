"""Run every ``*.txt`` transcript here through the ZAB interaction harness."""

from __future__ import annotations

from pathlib import Path

import pytest
from _datadriven import run_file
from harness import Harness

FILES = sorted(Path(__file__).resolve().parent.glob("*.txt"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path, request: pytest.FixtureRequest) -> None:
    rewrite = bool(request.config.getoption("rewrite", default=False))
    harness = Harness()
    problems = run_file(path, harness.handle, rewrite)
    assert not problems, "\n\n".join(problems)
