"""Run seeds in worker processes and sum up what they did (used by test_sim.py)."""

from __future__ import annotations

import dataclasses

from sim_cluster import SimFailure, Simulation, Stats

__all__ = ["run_chunk", "add_stats"]


def run_chunk(seeds: list[int], steps: int) -> list[tuple[int, Stats | None, str | None]]:
    out: list[tuple[int, Stats | None, str | None]] = []
    for seed in seeds:
        try:
            out.append((seed, Simulation(seed, steps).run(), None))
        except SimFailure as exc:
            out.append((seed, None, str(exc)))
    return out


def add_stats(total: Stats, more: Stats) -> None:
    for f in dataclasses.fields(Stats):
        setattr(total, f.name, getattr(total, f.name) + getattr(more, f.name))
