"""Where a replayed env step spends its time: the kernel timeline of one step replayed from its CUDA graph.

A development tool, not part of the packages: run it on a GPU machine with
``python3 benchmarks/graph_timeline.py explorer 1024`` (or a config, ``explorer-like``, for the
benchmark step alone). Unlike
``profile_regions.py``, which profiles eager steps, this profiles graph
replays (CUPTI reports each kernel of a graph): for every kernel of one step,
its start from the step's first kernel, its duration, the gap since the
previous kernel ended (negative: they overlapped) and the stream the graph ran
it on. A step starts at its action check (``clamp_actions``), the first
kernel of an env's graph. The time between steps
is not the step's: under the profiler the host may fall behind the GPU, which
the bench's own timing (``megastep bench``) does not. Last, it prints the
host's time to enqueue a step against the time a step takes, to tell a step
bound by the host's Python from one bound by the GPU.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

from megastep_envs.tools.bench import (
    CONFIGS,
    ENV_CONFIGS,
    capture,
    default_geometries,
    engine_builder,
    env_builder,
    time_step,
)

STEPS = 6
"""Steps profiled; the timeline printed is the third."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env", choices=sorted(ENV_CONFIGS) + sorted(CONFIGS), help="an env, or a config's engine step")
    parser.add_argument("envs", type=int)
    parser.add_argument("--layouts")
    parser.add_argument("--one-render", action="store_true", help="final_observations=False")
    parser.add_argument("--all", action="store_true", help="print every profiled step's timeline, not the third's")
    parser.add_argument("--warmup", type=int, default=10, help="steps run before profiling (default 10)")
    args = parser.parse_args()
    geometries = default_geometries(args.layouts)
    device = torch.device("cuda")
    if args.env in CONFIGS:
        step = capture(engine_builder(CONFIGS[args.env], geometries, args.envs, "cuda", "cuda", device, 0)(), device)
    else:
        config = CONFIGS[ENV_CONFIGS[args.env]]
        step = env_builder(args.env, config, geometries, args.envs, "cuda", "cuda", "cuda", 0, not args.one_render)()
    for _ in range(args.warmup):
        step()
    if args.env not in CONFIGS and not step.env.graphed:
        raise SystemExit(f"the {args.env} step did not capture: {step.env._graph.eager_reason}")
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(STEPS):
            step()
        torch.cuda.synchronize()
    with tempfile.NamedTemporaryFile(suffix=".json") as trace:
        prof.export_chrome_trace(trace.name)
        events = json.load(open(trace.name))["traceEvents"]
    kernels = sorted((e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")),
                     key=lambda e: e["ts"])
    if args.env in CONFIGS:  # every step launches the same kernels: step k is the k-th slice of them
        per_step = len(kernels) // STEPS
        starts = list(range(0, len(kernels) + 1, per_step))
    else:
        starts = [i for i, e in enumerate(kernels) if "clamp_actions" in e["name"]] + [len(kernels)]
    ends = [max(e["ts"] + e["dur"] for e in kernels[a:b]) for a, b in zip(starts, starts[1:])]
    spans = [end - kernels[a]["ts"] for a, end in zip(starts, ends)]
    idle = [kernels[b]["ts"] - end for b, end in zip(starts[1:-1], ends)]
    print("each step's span (us): " + ", ".join(f"{s:.1f}" for s in spans))
    print("GPU idle between steps (us): " + ", ".join(f"{s:.1f}" for s in idle))
    for k in range(STEPS) if args.all else (2,):  # by default a step in the middle of the run
        print_step(args, kernels[starts[k]:starts[k + 1]])
    host_and_gpu(step)


def print_step(args, kernels: list[dict]) -> None:
    """Prints the kernels of one step, from the trace's events."""
    t0 = kernels[0]["ts"]
    span = max(e["ts"] + e["dur"] for e in kernels) - t0
    print(f"{args.env} x {args.envs}: a step's kernels span {span:.1f} us, from the first one's start to the last "
          f"one's end (between steps, the profiler's own host time may leave the GPU waiting)")
    print(f"  {'start':>7} {'us':>6} {'gap':>6}  stream  kernel")
    finished = t0
    for e in kernels:
        print(f"  {e['ts'] - t0:7.1f} {e['dur']:6.1f} {e['ts'] - finished:6.1f}  {e['args'].get('stream', '?')!s:6}  "
              f"{e['name'][:70]}")
        finished = max(finished, e["ts"] + e["dur"])


def host_and_gpu(step, queued: int = 40) -> None:
    """Prints the host's time to enqueue a step (``queued`` steps, few enough that the launch queue never
    fills and blocks the host) against the time per step as ``megastep bench`` times it (the host waits for
    the GPU at the end only): where they are close, the step is bound by the host, not the GPU."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(queued):
        step()
    enqueued = time.perf_counter() - start
    per_step = time_step(step, torch.device("cuda"))
    print(f"host enqueues a step in {enqueued / queued * 1e6:.1f} us; a step takes {per_step * 1e6:.1f} us")

if __name__ == "__main__":
    main()
