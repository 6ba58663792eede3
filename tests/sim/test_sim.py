"""The deterministic simulator (VOPR-style) over the pure ZAB core.

- ``test_seeds``: the CI slice: seeds 0..SIM_SEEDS-1 (default 500) plus
  SIM_RANDOM (default 16) random ones, SIM_STEPS (default 4000) safety steps
  each, then a liveness phase; run in one worker process per core.
- ``test_replay``: ``SIM_SEED=<n> pytest tests/sim -k replay`` replays one seed
  in this process, exactly (a failure prints this command).

Longer soak: ``SIM_SEEDS=5000 SIM_STEPS=10000 pytest tests/sim -k seeds``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sim_cluster import DEFAULT_STEPS, SimFailure, Simulation, Stats
from sim_runner import add_stats, run_chunk

HERE = Path(__file__).resolve().parent
SEEDS = int(os.environ.get("SIM_SEEDS", "500"))
RANDOM_SEEDS = int(os.environ.get("SIM_RANDOM", "16"))
STEPS = int(os.environ.get("SIM_STEPS", str(DEFAULT_STEPS)))

pytestmark = pytest.mark.sim


def _seeds() -> list[int]:
    extra = random.Random(int.from_bytes(os.urandom(8), "big"))
    return list(range(SEEDS)) + [extra.randrange(10**6, 10**9) for _ in range(RANDOM_SEEDS)]


@pytest.mark.timeout(600 + SEEDS * STEPS // 1000)
def test_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    seeds = _seeds()
    workers = max(1, min(os.cpu_count() or 1, 8))
    chunks = [seeds[i :: workers * 8] for i in range(workers * 8)]
    start = time.perf_counter()
    total = Stats()
    failures: list[tuple[int, str]] = []
    # fresh interpreters (not fork: the parent may hold grpc threads) that find
    # the simulator's modules through PYTHONPATH
    ctx = multiprocessing.get_context("spawn")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), saved) if p)
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for result in pool.map(run_chunk, [c for c in chunks if c], [STEPS] * len(chunks)):
                for seed, stats, error in result:
                    if error is not None:
                        failures.append((seed, error))
                    else:
                        add_stats(total, stats)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(
            f"\nsim: {len(seeds)} seeds ({SEEDS} fixed + {RANDOM_SEEDS} random) x {STEPS} "
            f"safety steps + liveness, {elapsed:.1f}s on {workers} workers; "
            f"steps={total.steps} liveness_steps={total.liveness_steps} "
            f"writes acked={total.acked}/{total.proposed} reads={total.reads} "
            f"leaders={total.elections} crashes={total.crashes} stalls={total.stalls} "
            f"partitions={total.partitions} link_hints={total.hints} "
            f"truncs={total.truncs} snap_installs={total.snaps_sent} snapshots={total.snapshots}"
        )
    if failures:
        failures.sort()
        pytest.fail(
            f"{len(failures)} of {len(seeds)} seeds failed; first:\n\n{failures[0][1]}\n\n"
            + "all: "
            + ", ".join(f"SIM_SEED={s}" for s, _ in failures)
        )


@pytest.mark.timeout(600 + STEPS // 10)
def test_replay(capsys: pytest.CaptureFixture[str]) -> None:
    raw = os.environ.get("SIM_SEED", "0")  # without one, replay seed 0 (never a skip)
    sim = Simulation(int(raw), STEPS)
    with capsys.disabled():
        print(f"\nseed {raw}: {sim.opts.describe()}")
    try:
        stats = sim.run()
    except SimFailure as exc:
        pytest.fail(str(exc))
    with capsys.disabled():
        print(f"seed {raw} passed: {stats}")


def test_a_seed_replays_exactly() -> None:
    """Determinism: the same seed gives the same run, event for event."""
    a, b = Simulation(7, 600), Simulation(7, 600)
    a.run()
    b.run()
    assert a.trace == b.trace and a.checker.canon == b.checker.canon
