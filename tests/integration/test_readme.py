"""The README's promises: its SDK example runs as printed, and CI runs its test command."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block_after(marker: str) -> str:
    m = re.search(re.escape(marker) + r"\s*```python\n(.*?)```", README, re.S)
    assert m, f"README has no python block after {marker}"
    return m.group(1)


def test_sdk_example_runs_as_printed(server) -> None:
    code = _block_after("<!-- example:sdk -->")
    env = {**os.environ, "COORDSVC_SERVERS": server.address}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("registered as /app/members/m-0000000000 members: ['m-0000000000']")
    assert lines[1] == "/app/config already exists"


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_cmd = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci, f"README test command {test_cmd!r} is not what .ci/run runs"
