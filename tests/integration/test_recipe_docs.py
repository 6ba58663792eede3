"""Every recipe's docstring example runs as printed, against a real service."""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import textwrap
import threading

import coordsvc.recipes as recipes
import recipe_env
from coordsvc.recipes import fencing

# the service under test (one ensemble per module); examples use their own printed paths
coord, cluster = recipe_env.coord, recipe_env.cluster

# value types and helpers, not recipes: they need no example of their own
NO_EXAMPLE = {
    "CoordClient",
    "Lease",
    "SyncLease",
    "Leadership",
    "SyncLeadership",
    "NodeData",
    "TreeEvent",
    "TreeEventType",
    "Outcome",
    "StaleTokenError",
    "TokenGuard",  # its example is the fencing module's, checked below
}


def example(doc: str) -> str | None:
    m = re.search(r"Example::\n\n(.*?)(?:\n\S|\Z)", doc, re.S)
    return textwrap.dedent(m.group(1)) if m else None


def documented() -> dict[str, str]:
    out = {}
    for name in recipes.__all__:
        obj = getattr(recipes, name)
        if inspect.isclass(obj) and name not in NO_EXAMPLE:
            out[name] = example(inspect.getdoc(obj) or "") or ""
    out["fencing (module)"] = example(inspect.getdoc(fencing) or "") or ""
    return out


def test_every_recipe_has_an_async_and_a_sync_form_with_an_example() -> None:
    found = documented()
    missing = [name for name, code in found.items() if not code]
    assert not missing, f"no Example:: in {missing}"
    names = set(found)
    for name in names:
        if name.startswith("Async"):
            assert name[5:] in names, f"{name} has no sync form"
        elif " " not in name:
            assert "Async" + name in names, f"{name} has no async form"
    assert len([n for n in names if n.startswith("Async")]) >= 17


def test_every_example_runs_as_printed(coord) -> None:
    failures = []
    for name, code in documented().items():
        code = code.replace("127.0.0.1:2181", coord)
        outcome: list[BaseException] = []

        def run(code: str = code, name: str = name, outcome: list = outcome) -> None:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(code, f"<example {name}>", "exec"), {"__name__": "__main__"})
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(30)
        if thread.is_alive():
            failures.append(f"{name}: still running after 30s")
        elif outcome:
            failures.append(f"{name}: {outcome[0]!r}")
    assert not failures, "\n".join(failures)
