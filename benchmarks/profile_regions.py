"""Which part of an env step launches which kernels: kernels and GPU time per part, per step.

A development tool, not part of the packages: run it on a GPU machine with
``python3 benchmarks/profile_regions.py --env explorer --envs 1024 65536``.
Each part of :meth:`Env._advance` (action sanitising, movement and physics,
render, reward, task update, the reset path's spawner, task, reward and
lifespans, the masked re-render, and each observation pass) is wrapped in a
profiler range; every kernel is charged to the innermost range its launch fell
in, and the rest of the step (statistics, flags) to ``(step)``. Eager steps,
so each kernel's own time counts, not the gaps between launches. The
benchmark step of the env's config (``megastep bench``'s engine step) is
profiled alongside, for comparison.
"""
from __future__ import annotations

import argparse
import collections
import json
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from megastep_envs.tools.bench import CONFIGS, ENV_CONFIGS, default_geometries, engine_builder, env_builder

STEPS = 10


def labelled(function, label: str):
    def wrapper(*args, **kwargs):
        with record_function(label):
            return function(*args, **kwargs)
    return wrapper


class Labelled:
    """``part`` with its call and its ``methods`` in profiler ranges; everything else passed through."""

    def __init__(self, part, label: str, methods: dict[str, str] | None = None):
        self._part, self._call = part, labelled(part, label)
        for method, method_label in (methods or {}).items():
            setattr(self, method, labelled(getattr(part, method), method_label))

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._part, name)


def wrap_parts(env) -> None:
    world = env.world
    world.physics.step = labelled(world.physics.step, "physics")
    world.render = labelled(world.render, "render")
    world.rerender = labelled(world.rerender, "rerender")
    world.place = labelled(world.place, "place")
    env._check.sanitize = labelled(env._check.sanitize, "sanitize")
    env.movement = Labelled(env.movement, "movement")
    env.reward = Labelled(env.reward, "reward", {"reset": "reward.reset"})
    env.spawner = Labelled(env.spawner, "spawner")
    env.update = labelled(env.update, "update")
    env.reset_task = labelled(env.reset_task, "reset_task")
    env.lifespans.reset = labelled(env.lifespans.reset, "lifespans.reset")
    for name, module in list(env.observations.items()):
        methods = {"refresh": f"refresh.{name}"} if hasattr(module, "refresh") else None
        env.observations[name] = Labelled(module, f"observe.{name}", methods)


def regions(env) -> tuple[collections.Counter, collections.Counter]:
    """Kernels per step and GPU microseconds per step, by innermost range."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for actions in [env.sample_actions() for _ in range(STEPS)]:
            with record_function("(step)"):
                env.step(actions)
        if env.device.type == "cuda":
            torch.cuda.synchronize()
    with tempfile.NamedTemporaryFile(suffix=".json") as trace:
        prof.export_chrome_trace(trace.name)
        events = json.load(open(trace.name))["traceEvents"]
    ranges = sorted((e["ts"], e["ts"] + e["dur"], e["name"]) for e in events
                    if e.get("cat") == "user_annotation" and e.get("ph") == "X")
    launches = {e["args"]["correlation"]: e["ts"] for e in events
                if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    count, micros = collections.Counter(), collections.Counter()
    names = collections.defaultdict(collections.Counter)
    for e in events:
        if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        at = launches.get(e["args"].get("correlation"))
        inside = [r for r in ranges if at is not None and r[0] <= at <= r[1]]
        label = min(inside, key=lambda r: r[1] - r[0])[2] if inside else "?"
        count[label] += 1 / STEPS
        micros[label] += e["dur"] / STEPS
        names[label][e["name"][:60]] += 1 / STEPS
    return count, micros, names


def engine_kernels(step) -> tuple[float, float]:
    """Kernels per step and GPU microseconds per step of the benchmark step ``step``."""
    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(STEPS):
            step()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return len(kernels) / STEPS, sum(e.device_time for e in kernels) / STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", nargs="+", default=["minimal", "explorer", "pointgoal", "deathmatch"])
    parser.add_argument("--envs", nargs="+", type=int)
    parser.add_argument("--layouts")
    parser.add_argument("--kernels", action="store_true", help="also list each part's kernels by name")
    parser.add_argument("--device", default="cuda", help="cpu checks that the tool runs (no kernels there)")
    args = parser.parse_args()
    geometries = default_geometries(args.layouts)
    backends = ("cuda", "cuda", "cuda") if args.device == "cuda" else ("torch", "torch", "cpu")
    for name in args.env:
        config = CONFIGS[ENV_CONFIGS[name]]
        for size in args.envs or (config.sizes[0], config.sizes[-1]):
            env = env_builder(name, config, geometries, size, *backends, 0, True, graph=False)().env
            wrap_parts(env)
            for _ in range(3):
                env.step(env.sample_actions())
            count, micros, names = regions(env)
            print(f"\n{name} x {size}: {sum(count.values()):.0f} kernels, {sum(micros.values()):.0f} us GPU per step")
            if args.device == "cuda":
                engine = engine_builder(config, geometries, size, *backends[:2], "cuda", 0)()
                print("  the benchmark step: {:.0f} kernels, {:.0f} us GPU per step".format(*engine_kernels(engine)))
                del engine
            for label, us in micros.most_common():
                print(f"  {label:22s} {count[label]:6.1f} kernels {us:9.1f} us")
                if args.kernels:
                    for kernel, n in names[label].most_common():
                        print(f"      {n:4.1f} x {kernel}")
            del env
            if args.device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
