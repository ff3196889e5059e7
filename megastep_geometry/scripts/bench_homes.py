"""Times generating the 5,000 homes of one seed into an empty cache, then loading them from it.

    python megastep_geometry/scripts/bench_homes.py [--workers N] [--seed S]

Prints one line per figure; the issue asks for under 60 s to generate and under 2 s to load.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time

import numpy as np

from megastep_geometry import homes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, workers={args.workers}")
    def cpu_seconds() -> float:  # this process and its finished worker processes
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as cache:
        start, cpu = time.perf_counter(), cpu_seconds()
        homes.sample(homes.POOL_SIZE, split="all", seed=args.seed, cache=cache, workers=args.workers)
        generated, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        start = time.perf_counter()
        pool = homes.sample(homes.POOL_SIZE, split="all", seed=args.seed, cache=cache, workers=args.workers)
        loaded = time.perf_counter() - start
        size = sum(f.stat().st_size for f in homes.cache_dir(cache).rglob("*.npz"))
    lines = np.array([len(g.walls) for g in pool])
    extents = np.array([np.ptp(g.walls.reshape(-1, 2), axis=0) for g in pool])
    print(f"generate {len(pool)} homes: {generated:.1f} s wall clock, {cpu:.1f} s of CPU time in all processes")
    print(f"load {len(pool)} homes from cache: {loaded:.2f} s")
    print(f"cache size: {size / 1e6:.1f} MB")
    print(f"distinct: {len({g.walls.tobytes() for g in pool})}")
    print(f"wall lines: min {lines.min()}, median {int(np.median(lines))}, max {lines.max()}")
    print(f"extent (m): min {extents.min(0).round(1).tolist()}, max {extents.max(0).round(1).tolist()}")
    print(f"lights per home: mean {np.mean([len(g.lights) for g in pool]):.1f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
