"""The committed coordsvc/v1 modules must match what protoc makes from protos/."""

from __future__ import annotations

import filecmp
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_modules_are_fresh(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "genproto.py"), str(tmp_path)],
        check=True,
        cwd=ROOT,
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    assert fresh, "protoc produced nothing"
    stale = [
        str(rel)
        for rel in fresh
        if not (ROOT / rel).exists() or not filecmp.cmp(tmp_path / rel, ROOT / rel, shallow=False)
    ]
    assert not stale, f"regenerate with `python scripts/genproto.py`: stale {stale}"


def test_generated_modules_import() -> None:
    from coordsvc.v1 import admin_pb2_grpc, coordination_pb2, coordination_pb2_grpc

    assert coordination_pb2.DESCRIPTOR.package == "coordsvc.v1"
    assert hasattr(coordination_pb2_grpc, "CoordinationStub")
    assert hasattr(admin_pb2_grpc, "AdminStub")
