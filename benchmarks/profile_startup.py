"""Where a training run's start-up goes, before its first timed update.

A development tool, not part of the packages: ``python3 benchmarks/profile_startup.py pointgoal --device cuda``.
A run of ``megastep train`` with a time limit counts its start-up against that limit, so a start-up of 45 s
is 15% of a 5-minute budget. This builds a run as ``megastep train`` does (the preset's sizes unless
``--envs``), under cProfile, then times its first updates one by one (the first rollout captures the acting
graphs, the second update the captured update); it prints the seconds of each phase and the functions that
took the most of the build.
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import time

import torch

from megastep_core.checks import synchronize
from megastep_envs.train import distributed
from megastep_envs.train.hyperparameters import defaults, env_options
from megastep_envs.train.ppo import build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("env")
    parser.add_argument("--envs", type=int, default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    config = defaults(args.env, args.device)
    config = dataclasses.replace(config, device=args.device, **({"envs": args.envs} if args.envs else {}))
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.zeros(1, device=device)  # the CUDA context, apart from the build
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    parts = build(args.env, config, env_options(args.env, None), distributed.Process(device=device))
    synchronize(device)
    profiler.disable()
    print(f"{args.env}, {config.envs} envs on {args.device}: build {time.perf_counter() - started:.1f} s")
    for update in range(args.updates):
        began = time.perf_counter()
        rollout, _ = parts.collector.collect()
        synchronize(device)
        collected = time.perf_counter()
        parts.learner.update(rollout)
        synchronize(device)
        print(f"update {update}: rollout {collected - began:.2f} s, learning {time.perf_counter() - collected:.2f} s")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
