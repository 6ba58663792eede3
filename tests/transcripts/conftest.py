"""Transcript tests: ``pytest tests/transcripts --rewrite`` regenerates expectations."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "sim"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


def pytest_addoption(parser) -> None:
    group = parser.getgroup("transcripts")
    group.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="rewrite transcript expectations with the actual output",
    )
