"""Where the GPU time of an env step goes: kernels per step and the costliest kernels.

A development tool, not part of the packages: run it on a GPU machine with
``python3 benchmarks/profile_env.py --env explorer --envs 1024 65536``. For
each env and size it prints the engine-only step's and the env step's GPU
time (summed kernel time per step, so launch gaps do not count) and kernel
count, then the ten kernels that take the most of the env step's time.
"""
from __future__ import annotations

import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

from megastep_envs.bench import CONFIGS, ENV_CONFIGS, default_geometries, engine_builder, env_builder

STEPS = 20


def kernel_times(step, steps: int = STEPS) -> tuple[float, float, collections.Counter]:
    """GPU milliseconds per step, kernels per step, and microseconds per step of each kernel name."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    per_kernel: collections.Counter = collections.Counter()
    count = 0
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            per_kernel[event.name[:90]] += event.device_time / steps
            count += 1
    return sum(per_kernel.values()) / 1000, count / steps, per_kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", nargs="+", default=["minimal", "explorer", "pointgoal", "deathmatch"])
    parser.add_argument("--envs", nargs="+", type=int)
    parser.add_argument("--layouts")
    parser.add_argument("--one-render", action="store_true", help="final_observations=False")
    args = parser.parse_args()
    geometries = default_geometries(args.layouts)
    for name in args.env:
        config = CONFIGS[ENV_CONFIGS[name]]
        for size in args.envs or (config.sizes[0], config.sizes[-1]):
            engine = engine_builder(config, geometries, size, "cuda", "cuda", "cuda", 0)()
            engine_ms, engine_kernels, _ = kernel_times(engine)
            del engine
            env_step = env_builder(name, config, geometries, size, "cuda", "cuda", "cuda", 0,
                                   not args.one_render, graph=False)()
            env_ms, env_kernels, per_kernel = kernel_times(env_step)
            del env_step
            print(f"\n{name} x {size}: engine {engine_ms:.3f} ms GPU in {engine_kernels:.0f} kernels; "
                  f"env {env_ms:.3f} ms GPU in {env_kernels:.0f} kernels "
                  f"(engine is {engine_ms / env_ms:.0%} of env)")
            for kernel, us in per_kernel.most_common(10):
                print(f"  {us:9.1f} us  {kernel}")
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
