"""Times the physics step alone: ``python -m megastep_physics.bench [--layouts FILE.npz] [--json FILE]``.

Each case builds ``E`` envs on the benchmark layouts (env ``i`` gets layout
``i % 64``), puts ``A`` agents on spread-out spawn points and drives them with
random forward-biased momentum actions (outside the timed region). It reports,
per backend, the median device time of one step (CUDA events around the step
alone), the host's wall time per step in a loop of steps without
synchronisation (what a training loop pays, launch overhead included), for the
kernel backends the time of a step replayed from a CUDA graph, and the peak
GPU memory. Agent-steps per second are ``E * A`` over the median device time.

The whole benchmark step of the project (movement, physics, rendering,
observations) is ``megastep bench``; this isolates the physics' share of it.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from megastep_core import Agents, Geometry, build_scenery, make_backend
from megastep_core.benchmark import CONFIGS
from megastep_core.layouts import read_layouts

CASES = [(name, CONFIGS[name].agents, list(CONFIGS[name].sizes)) for name in ("explorer-like", "deathmatch-like")]
"""``(label, agents per env, env counts)``: the benchmark configurations whose agents differ (the physics has no
cameras), from :data:`megastep_core.benchmark.CONFIGS`."""
BACKENDS = ["stop:cuda", "slide:cuda", "stop:torch", "slide:torch"]


def load_layouts(path: Path) -> list[Geometry]:
    """The benchmark homes as geometries: :func:`megastep_core.layouts.read_layouts`."""
    return read_layouts(path).geometries()


def spread_spawns(homes: list[Geometry], n_agents: int, apart: float, rng: np.random.Generator) -> torch.Tensor:
    """``(layouts, A, 2)`` spawn points of each home at least ``apart`` metres from each other."""
    out = []
    for home in homes:
        points = []
        for index in rng.permutation(len(home.spawns)):
            if all(np.linalg.norm(home.spawns[index] - q) > apart for q in points):
                points.append(home.spawns[index])
            if len(points) == n_agents:
                break
        out.append(np.stack(points))
    return torch.from_numpy(np.stack(out)).float()


def drive(agents: Agents, generator: torch.Generator, dt: float) -> None:
    """Random forward-biased momentum actions: speeds of a few metres per second."""
    shape, device = agents.angles.shape, agents.positions.device
    forward = torch.randint(-1, 4, shape, device=device, generator=generator).float()
    turn = torch.randint(-1, 2, shape, device=device, generator=generator).float()
    angle = torch.deg2rad(agents.angles)
    push = 4.0 * dt * forward[..., None] * torch.stack([angle.cos(), angle.sin()], -1)
    agents.velocity.mul_(0.9).add_(push)
    agents.angvelocity.mul_(0.9).add_(turn * 180.0)


def time_backend(name: str, homes, n_envs: int, n_agents: int, steps: int, dt: float = 0.1) -> dict:
    device = torch.device("cuda")
    geometries = [homes[i % len(homes)] for i in range(n_envs)]
    scenery = build_scenery(geometries, n_agents, device=device)
    agents = Agents.zeros(n_envs, n_agents, device)
    spawns = spread_spawns(homes, n_agents, 2 * scenery.agent_radius + 0.01, np.random.default_rng(0))
    agents.positions.copy_(spawns[torch.arange(n_envs) % len(homes)].to(device))
    physics = make_backend("physics", name, device=device)
    generator = torch.Generator(device).manual_seed(0)
    for _ in range(10):  # warm up: compile, build the wall table, fill caches
        drive(agents, generator, dt)
        physics.step(scenery, agents, dt)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()

    times = []
    for _ in range(steps):
        drive(agents, generator, dt)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        physics.step(scenery, agents, dt)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    device_seconds = statistics.median(times)

    torch.cuda.synchronize()
    begin = time.perf_counter()
    for _ in range(steps):
        physics.step(scenery, agents, dt)
    torch.cuda.synchronize()
    host_seconds = (time.perf_counter() - begin) / steps

    graph_seconds = None
    if name.endswith(":cuda"):
        try:
            graph = torch.cuda.CUDAGraph()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                physics.step(scenery, agents, dt)
                with torch.cuda.graph(graph, stream=stream):
                    physics.step(scenery, agents, dt)
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(steps):
                graph.replay()
            end.record()
            end.synchronize()
            graph_seconds = start.elapsed_time(end) / 1e3 / steps
        except Exception as error:  # a backend that cannot be captured is reported, not fatal
            print(f"  {name}: graph capture failed: {type(error).__name__}: {error}")
    agents_total = n_envs * n_agents
    return {
        "backend": name, "envs": n_envs, "agents": n_agents, "device_ms": device_seconds * 1e3,
        "host_ms": host_seconds * 1e3, "graph_ms": None if graph_seconds is None else graph_seconds * 1e3,
        "agent_steps_per_s": agents_total / device_seconds,
        "peak_memory_bytes": torch.cuda.max_memory_allocated(),
    }


def default_layouts() -> Path:
    here = Path.cwd()
    for candidate in (here / ".bench" / "layouts.npz", here.parent / "shared" / "bench" / "layouts.npz"):
        if candidate.exists():
            return candidate
    return here / ".bench" / "layouts.npz"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", type=Path, default=None, help="the benchmark layouts .npz")
    parser.add_argument("--backends", nargs="+", default=BACKENDS)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--max-torch-agents", type=int, default=65536,
                        help="skip the torch backends above this many agents")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("the physics benchmark times CUDA; no GPU is visible")
    homes = load_layouts(args.layouts or default_layouts())
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    records = []
    for label, n_agents, env_counts in CASES:
        for n_envs in env_counts:
            for name in args.backends:
                if not name.endswith(":cuda") and n_envs * n_agents > args.max_torch_agents:
                    continue
                record = time_backend(name, homes, n_envs, n_agents, args.steps)
                records.append(record)
                graph = "-" if record["graph_ms"] is None else f"{record['graph_ms']:.4f}"
                print(
                    f"{label:15s} {n_envs:6d} envs {name:11s} device {record['device_ms']:8.4f} ms  "
                    f"host {record['host_ms']:8.4f} ms  graph {graph:>8s} ms  "
                    f"{record['agent_steps_per_s'] / 1e6:9.1f} M agent-steps/s  "
                    f"peak {record['peak_memory_bytes'] / 2**20:7.1f} MiB",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0 if all(math.isfinite(r["device_ms"]) for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
