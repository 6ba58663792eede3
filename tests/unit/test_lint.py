"""The code base stays ruff-clean (lint and format), so CI catches drift."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _ruff() -> str:
    exe = shutil.which("ruff") or str(pathlib.Path(sys.executable).parent / "ruff")
    assert pathlib.Path(exe).exists(), "ruff is part of the test extra: pip install -e '.[test]'"
    return exe


def test_ruff_check() -> None:
    proc = subprocess.run([_ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = subprocess.run(
        [_ruff(), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
