"""A micro-benchmark of rendering alone: ``python -m megastep_render.bench --layouts FILE.npz``.

For each configuration (the benchmark's explorer-, deathmatch- and
minimal-like cameras) and number of envs it builds the scenery from the
layouts (env ``i`` gets layout ``i % N``), spawns agents at the layouts'
spawn points, bakes, and times ``render`` with CUDA events: eager calls, and
(for the ``raycast:cuda`` renderer) replays of a captured graph. Agents turn a little
before every frame, so no two frames are alike. Prints one line per case and
writes them all as JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from megastep_core import Agents, Geometry, build_scenery, draw_bodies, make_backend
from megastep_core.benchmark import CONFIGS as BENCHMARK_CONFIGS
from megastep_core.layouts import read_layouts as read_layout_file

CONFIGS = {name.removesuffix("-like"): (config.agents, config.camera) for name, config in BENCHMARK_CONFIGS.items()}
"""``(agents, camera)`` of each configuration of :data:`megastep_core.benchmark.CONFIGS`, by short name."""


def read_layouts(path: str) -> list[Geometry]:
    """The layouts of a layouts file, as geometries: :func:`megastep_core.layouts.read_layouts`."""
    return read_layout_file(path).geometries()


def place(layouts: list[Geometry], n_envs: int, n_agents: int, device, seed: int = 0):
    """A scenery of ``n_envs`` envs cycling through ``layouts``, and agents at distinct spawn points."""
    geometries = [layouts[i % len(layouts)] for i in range(n_envs)]
    scenery = build_scenery(geometries, n_agents, device=device)
    generator = torch.Generator().manual_seed(seed)
    spawns = torch.from_numpy(np.stack([g.spawns for g in layouts]))  # (N, S, 2)
    picks = torch.stack([torch.randperm(spawns.shape[1], generator=generator)[:n_agents] for _ in range(n_envs)])
    agents = Agents.zeros(n_envs, n_agents, device=device)
    agents.positions.copy_(spawns[torch.arange(n_envs)[:, None] % len(layouts), picks])
    agents.angles.copy_(torch.rand(n_envs, n_agents, generator=generator) * 360 - 180)
    draw_bodies(scenery, agents)
    return scenery, agents


def time_frames(frame, agents, warmup: int, repeats: int) -> float:
    """Median milliseconds of ``frame()``, agents turning by a degree before each."""
    for _ in range(warmup):
        agents.angles.add_(1.0)
        frame()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        agents.angles.add_(1.0)
        start.record()
        frame()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def measure(renderer, scenery, agents, camera, args) -> tuple[float, float | None]:
    """Median milliseconds of an eager render and, where the renderer can capture one, of a graph replay."""
    eager = time_frames(lambda: renderer.render(scenery, agents, [camera]), agents, args.warmup, args.repeats)
    if not hasattr(renderer, "capture"):
        return eager, None
    replay = renderer.capture(scenery, agents, [camera])
    return eager, time_frames(replay, agents, args.warmup, args.repeats)


def host_milliseconds(renderer, scenery, agents, camera, calls: int = 20) -> float:
    """Mean milliseconds of host time per eager ``render`` call (launching, not waiting)."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        renderer.render(scenery, agents, [camera])
    elapsed = time.perf_counter() - start
    torch.cuda.synchronize()
    return elapsed / calls * 1e3


def run(args) -> list[dict]:
    device = torch.device(args.device)
    layouts = read_layouts(args.layouts)
    records = []
    for config in args.configs:
        n_agents, camera = CONFIGS[config]
        for n_envs in args.envs:
            torch.cuda.empty_cache()
            built = time.perf_counter()
            scenery, agents = place(layouts, n_envs, n_agents, device)
            built = time.perf_counter() - built
            scenery_bytes = sum(t.numel() * t.element_size() for t in (
                scenery.lines.vals, scenery.textures.vals, scenery.baked.vals, scenery.lights.vals))
            variants = [("raycast:torch", None, None)] if "torch" in args.renderers else []
            if "cuda" in args.renderers:
                variants += [("raycast:cuda", m, c) for m in args.methods for c in args.cell_sizes]
            for name, method, cell_size in variants:
                options = {"device": device} | ({"method": method} if method else {})
                options |= {"cell_size": cell_size} if cell_size else {}
                renderer = make_backend("renderer", name, **options)
                torch.cuda.synchronize()
                baked = time.perf_counter()
                renderer.bake(scenery)
                torch.cuda.synchronize()
                baked = time.perf_counter() - baked
                torch.cuda.reset_peak_memory_stats()
                eager, graphed = measure(renderer, scenery, agents, camera, args)
                host = host_milliseconds(renderer, scenery, agents, camera) if name == "raycast:cuda" else float("nan")
                best = min(t for t in (eager, graphed) if t is not None)
                record = dict(
                    config=config, envs=n_envs, agents=n_agents, pixels=camera.pixels, renderer=name,
                    method=method, cell_size=cell_size, eager_ms=eager, graph_ms=graphed, host_ms=host,
                    agent_renders_per_s=n_envs * n_agents / best * 1e3,
                    rays_per_s=n_envs * n_agents * camera.pixels / best * 1e3,
                    peak_memory_bytes=torch.cuda.max_memory_allocated(), scenery_bytes=scenery_bytes,
                    bake_s=baked, build_s=built, device=torch.cuda.get_device_name(device),
                )
                records.append(record)
                print(f"{config:10s} {n_envs:6d} envs {name:13s} {method or '-':4s} cell {cell_size or '-':>4} "
                      f"eager {eager:8.3f} ms  graph {graphed or float('nan'):8.3f} ms  host {host:6.3f} ms  "
                      f"{record['agent_renders_per_s'] / 1e6:8.2f} M agent-renders/s  "
                      f"{record['rays_per_s'] / 1e9:6.2f} G rays/s  peak {record['peak_memory_bytes'] / 2**30:5.2f}"
                      f" GiB  bake {baked:5.2f} s", flush=True)
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", required=True, help="a layouts .npz file")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--envs", nargs="+", type=int, default=[1024, 16384, 65536])
    parser.add_argument("--renderers", nargs="+", default=["cuda"], choices=["torch", "cuda"],
                        help="implementations of the raycast renderer: raycast:torch, raycast:cuda")
    parser.add_argument("--methods", nargs="+", default=["grid"], choices=["grid"])
    parser.add_argument("--cell-sizes", nargs="+", type=float, default=[1.0], help="for the grid method")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", help="write the records here")
    args = parser.parse_args(argv)
    if torch.device(args.device).type != "cuda":
        parser.error("the micro-benchmark times with CUDA events: --device must be a CUDA device")
    records = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
