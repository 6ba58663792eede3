"""The pure core imports no I/O, clock, randomness or concurrency (ARCHITECTURE.md).

Two checks: a static one that follows import statements transitively through
coordsvc (it sees ``import os`` and ``import time`` too, which every
interpreter has loaded at startup), and a runtime one in a fresh interpreter.
Each is shown to fire on a copy of the package with a forbidden import added.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import coordsvc

PACKAGE_DIR = Path(coordsvc.__file__).resolve().parent
PURE = ("tree", "request", "session", "zab")
FORBIDDEN = frozenset(
    {"asyncio", "grpc", "lmdb", "time", "random", "threading", "socket", "subprocess", "os"}
)
DYNAMIC = frozenset({"importlib", "__import__"})  # would let the check be dodged


def _module_file(pkg_dir: Path, dotted: str) -> Path | None:
    """The file of coordsvc.<...> under pkg_dir, or None if it is not a module."""
    parts = dotted.split(".")[1:]
    base = pkg_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, dotted: str) -> list[str]:
    """Every module name an import statement in ``path`` may load (any nesting level)."""
    is_pkg = path.name == "__init__.py"
    package = dotted if is_pkg else dotted.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{alias.name}" for alias in node.names]  # submodules, if any
        elif isinstance(node, ast.Name) and node.id == "__import__":
            out.append("__import__")
    return out


def _pure_modules(pkg_dir: Path) -> list[str]:
    names = []
    for sub in PURE:
        for file in sorted((pkg_dir / sub).rglob("*.py")):
            rel = file.relative_to(pkg_dir).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            names.append(".".join(["coordsvc", *parts]))
    return names


def forbidden_imports(pkg_dir: Path) -> list[str]:
    """'module -> ... -> forbidden' chains reachable from the pure packages."""
    todo = [(name, (name,)) for name in _pure_modules(pkg_dir)]
    seen: set[str] = set()
    bad: list[str] = []
    while todo:
        name, chain = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        # importing a.b.c runs a/__init__, a/b/__init__ too
        parents = [".".join(name.split(".")[:i]) for i in range(2, name.count(".") + 1)]
        todo += [(p, (*chain, p)) for p in parents]
        file = _module_file(pkg_dir, name)
        if file is None:
            continue
        for imported in _imports(file, name):
            top = imported.split(".")[0]
            if top in FORBIDDEN or top in DYNAMIC:
                bad.append(" -> ".join((*chain, imported)))
            elif top == "coordsvc" and _module_file(pkg_dir, imported) is not None:
                todo.append((imported, (*chain, imported)))
    return sorted(set(bad))


_PROBE = """
import json, sys
before = set(sys.modules)
for name in sys.argv[1:]:
    __import__(name)
new = {m.split(".")[0] for m in set(sys.modules) - before}
print(json.dumps({"file": sys.modules["coordsvc"].__file__, "new": sorted(new)}))
"""


def _runtime_probe(pkg_dir: Path) -> tuple[str, set[str]]:
    """Import every pure module in a fresh interpreter; return (coordsvc file, new top names)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pkg_dir.parent)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *_pure_modules(pkg_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=pkg_dir.parent,  # "python -c" puts the cwd first on sys.path
        check=True,
    )
    report = json.loads(proc.stdout)
    return report["file"], set(report["new"])


def test_pure_packages_exist() -> None:
    modules = _pure_modules(PACKAGE_DIR)
    for expected in ("coordsvc.tree.datatree", "coordsvc.request.pipeline", "coordsvc.zab"):
        assert expected in modules


def test_pure_packages_import_nothing_forbidden_statically() -> None:
    assert forbidden_imports(PACKAGE_DIR) == []


def test_pure_packages_load_nothing_forbidden_at_runtime() -> None:
    file, new = _runtime_probe(PACKAGE_DIR)
    assert Path(file).resolve().parent == PACKAGE_DIR
    assert new & FORBIDDEN == set()


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "coordsvc"
    shutil.copytree(PACKAGE_DIR, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _add_line(file: Path, line: str) -> None:
    file.write_text(file.read_text() + line + "\n")


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("tree/datatree.py", "import time", "coordsvc.tree.datatree -> time"),
        ("session/tracker.py", "from os import path", "coordsvc.session.tracker -> os"),
        ("request/prep.py", "import importlib", "coordsvc.request.prep -> importlib"),
        # reached only through another package the pipeline imports
        ("storage/base.py", "import threading", "coordsvc.storage.base -> threading"),
        ("storage/__init__.py", "import lmdb", "coordsvc.storage -> lmdb"),
    ],
)
def test_static_check_catches_an_added_import(package_copy, module, line, expected) -> None:
    assert forbidden_imports(package_copy) == []
    _add_line(package_copy / module, line)
    found = forbidden_imports(package_copy)
    assert any(chain.endswith(expected) for chain in found), found


def test_runtime_check_catches_an_added_import(package_copy: Path) -> None:
    _add_line(package_copy / "tree" / "datatree.py", "import asyncio")
    file, new = _runtime_probe(package_copy)
    assert Path(file).resolve().parent == package_copy.resolve()
    assert "asyncio" in new & FORBIDDEN
