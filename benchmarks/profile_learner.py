"""Where a PPO update's GPU time goes: the top kernels of one learner update, per variant.

A development tool, not part of the packages: run it on a GPU machine with
``python3 benchmarks/profile_learner.py explorer --envs 16384 --variant default nolstm fp32``.
Each variant builds a run as ``megastep train`` does (with the changes the
variant names), collects one rollout, and profiles one update; it prints the
update's wall time, its samples per second, and the kernels that took the most
GPU time; with ``--rollout``, the same for one rollout (acting, env steps and storing).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.profiler import ProfilerActivity, profile

from megastep_envs.train import distributed
from megastep_envs.train.hyperparameters import defaults
from megastep_envs.train.ppo import build

VARIANTS = {
    "default": {},
    "nolstm": {"lstm": False},
    "fp32": {"bf16": False},
    "hidden128": {"hidden": 128},
    "epochs2": {"epochs": 2, "minibatches": 2},
    "bf16": {"bf16": True},
    # graph_update exists from 2026-12-07 on: name these only at a commit that has it
    "eager": {"graph_update": False},
    "bf16eager": {"bf16": True, "graph_update": False},
    "dense": {"dense_strips": True},
    "convolutions": {"dense_strips": False},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("env")
    parser.add_argument("--envs", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--variant", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--no-cudnn-benchmark", action="store_true", help="take cuDNN's heuristic algorithms")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--rollout", action="store_true",
                        help="also profile one rollout (acting, env steps, storing: graph replays)")
    args = parser.parse_args()
    for variant in args.variant:
        config = dataclasses.replace(defaults(args.env), envs=args.envs, device="cuda", **VARIANTS[variant])
        if args.steps:
            config.steps = args.steps
        parts = build(args.env, config, None, distributed.Process(device=torch.device("cuda")))
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        for _ in range(2):
            parts.learner.update(parts.collector.collect()[0])
        rollout, _ = parts.collector.collect()
        torch.cuda.synchronize()
        started = time.perf_counter()
        parts.learner.update(rollout)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as profiler:
            parts.learner.update(rollout)
            torch.cuda.synchronize()
        samples = config.steps * parts.collector.n_rows * config.epochs
        print(f"\n== {args.env} {variant} ({args.envs} envs x {config.steps} steps): update {seconds * 1000:.0f} ms, "
              f"{samples / seconds / 1e6:.2f} M samples/s")
        averages = profiler.key_averages()
        print(averages.table(sort_by="cuda_time_total", row_limit=args.top, max_name_column_width=60))
        # the host's side: a wait (a synchronize, a copy from pageable memory) shows here, not among the kernels
        print(averages.table(sort_by="self_cpu_time_total", row_limit=args.top, max_name_column_width=60))
        if args.rollout:
            torch.cuda.synchronize()
            started = time.perf_counter()
            parts.collector.collect()
            torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            with profile(activities=[ProfilerActivity.CUDA]) as profiler:
                parts.collector.collect()
                torch.cuda.synchronize()
            print(f"\n== {args.env} {variant}: a rollout takes {seconds * 1000:.1f} ms")
            print(profiler.key_averages().table(sort_by="cuda_time_total", row_limit=args.top,
                                                max_name_column_width=60))
        del parts
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
