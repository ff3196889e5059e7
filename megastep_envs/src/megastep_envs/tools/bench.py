"""``megastep bench``: how many agent-steps per second the engine and the envs run.

The benchmark step is: random actions, momentum movement,
physics, rendering, and the RGB and depth observations averaged over 4 rays
per pixel. It runs for three configurations:

=================  ======  ======  ===  ==============================
config             agents  pixels  fov  envs (default on CUDA)
=================  ======  ======  ===  ==============================
explorer-like      1       256     130  1,024  4,096  16,384  65,536
deathmatch-like    4       512     70   256    1,024  4,096   16,384
minimal-like       1       64      130  1,024  4,096  16,384  65,536
=================  ======  ======  ===  ==============================

``--env NAME`` adds the full env step (reward, task, lifespans, resets and
statistics) of that env, built with its config's agents, pixels and fov, on
the same layouts; its rows are named after the env (``explorer``), and
``explorer:one-render`` is the same env with ``final_observations=False``
(see :mod:`megastep_envs.step.env`). On CUDA both kinds of step are replayed from
a CUDA graph unless ``--no-graph`` is given: the engine step by :func:`capture`,
the env step by the env itself (``cuda_graph=True``). Each figure is envs x agents x steps over
seconds, after warm-up steps, with the GPU synchronised before the clock
starts and after it stops; peak GPU memory counts everything allocated from
building the world to the end of the timing.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from megastep_core import Geometry, MegastepError, World, get_plugin_manager
from megastep_core.benchmark import CONFIGS, Config
from megastep_core.cli import device_argument, plain_text
from megastep_core.world import resolve_device

from ..modules.movement import ACTIONS, MomentumMovement
from ..modules.observations import RGB, Depth
from ..registry import ENVS, env_class
from ..step.env import cycle_geometries
from .timing import capture, time_step

SUBSAMPLE = 4
"""Rays averaged into one observed pixel."""

KEYS = ("config", "envs", "agents", "pixels", "physics", "renderer", "device", "agent_steps_per_s", "ms_per_step",
        "peak_memory_bytes", "cuda_graph", "of_engine")
"""The keys of every record ``--json`` writes, in order; ``cuda_graph`` says whether the step was replayed from one,
and ``of_engine``, for an env's full step, its agent-steps/s as a fraction of its config's benchmark step of the same
size and backends in the same run (None where that was not run, or for a benchmark step itself)."""


ENV_CONFIGS = {"minimal": "minimal-like", "explorer": "explorer-like", "pointgoal": "explorer-like",
               "deathmatch": "deathmatch-like"}
"""The config whose agents, pixels and fov each env is benchmarked with."""

CPU_ENVS = 64
"""Envs per run on the CPU when ``--envs`` is not given."""


def spawn(world: World, seed: int = 0) -> None:
    """Places every agent at a random free point with the ``random`` spawner."""
    spawner = get_plugin_manager().make("spawner", "random", {"device": world.device, "seed": seed})
    spawner(world, torch.ones(world.n_envs, dtype=torch.bool, device=world.device))


ACTION_POOL = 64
"""Steps of random actions drawn up front and cycled through."""


class EngineStep:
    """The benchmark step on a world: random actions, momentum movement, physics, render, RGB and depth.

    Actions are drawn once, ``ACTION_POOL`` steps of them, and cycled through
    with a step counter that lives on the device: drawing them afresh each
    step would need a random generator inside a CUDA graph, and cycling 64
    steps of random actions moves the agents just as randomly.
    """

    def __init__(self, world: World, seed: int = 0):
        self.world = world
        self.movement = MomentumMovement(world)
        self.rgb = RGB(world, SUBSAMPLE)
        self.depth = Depth(world, SUBSAMPLE)
        generator = torch.Generator(device=world.device).manual_seed(seed)
        shape = (ACTION_POOL, world.n_envs, world.n_agents)
        self.actions = torch.randint(len(ACTIONS), shape, device=world.device, generator=generator)
        self.counter = torch.zeros(1, dtype=torch.int64, device=world.device)

    def __call__(self):
        actions = self.actions.index_select(0, self.counter).squeeze(0)
        self.counter.add_(1).remainder_(ACTION_POOL)
        self.movement(actions)
        self.world.move()
        render = self.world.render()
        return self.rgb(render), self.depth(render)


class EnvStep:
    """The full step of an env, with actions cycled from a pool drawn up front, as in :class:`EngineStep`."""

    def __init__(self, env):
        self.env = env
        self.actions = torch.stack([env.sample_actions() for _ in range(ACTION_POOL)])
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.env.step(self.actions[self.calls % ACTION_POOL])

    @property
    def graphed(self) -> bool:
        return self.env.graphed


def default_geometries(layouts: str | None, seed: int = 0) -> list[Geometry]:
    """The layouts of ``layouts`` (a layouts ``.npz``), or 64 procedural training homes."""
    if layouts is not None:
        from megastep_geometry.layouts import load_layouts

        return load_layouts(layouts)
    from megastep_geometry import homes

    return homes.sample(64, split="training", seed=seed)


def backend_pairs(physics: Sequence[str] | None, renderers: Sequence[str] | None,
                  device: torch.device) -> list[tuple[str, str]]:
    """The ``(physics, renderer)`` pairs to run.

    With neither list given: ``stop:torch`` with ``raycast:torch``, and ``stop:cuda`` with ``raycast:cuda``
    where the world is on CUDA and both ``cuda`` backends can run. Otherwise every pairing of the given
    names, a missing list standing for those defaults.
    """
    manager = get_plugin_manager()
    usable = lambda kind, name: any(i.name == name and i.unavailable is None for _, i in manager.backends(kind))
    physics_defaults, renderer_defaults = ["stop:torch"], ["raycast:torch"]
    if device.type == "cuda" and usable("physics", "stop:cuda") and usable("renderer", "raycast:cuda"):
        physics_defaults.append("stop:cuda")
        renderer_defaults.append("raycast:cuda")
    if physics is None and renderers is None:
        return list(zip(physics_defaults, renderer_defaults))
    return list(itertools.product(physics or physics_defaults, renderers or renderer_defaults))


def check_backends(kind: str, names: Sequence[str] | None) -> None:
    """Raises one error up front for a ``--physics`` or ``--renderer`` name that no plugin provides or that
    cannot run here, rather than a failed row for every config."""
    known = {info.name: info for _, info in get_plugin_manager().backends(kind)}
    for name in names or ():
        if name not in known:
            raise ValueError(f"--{kind} {name}: no installed plugin provides it; known: {', '.join(sorted(known))}")
        if known[name].unavailable is not None:
            raise ValueError(f"--{kind} {name} cannot run here: {known[name].unavailable}")


def _record(config: str, envs: int, agents: int, pixels: int, physics: str, renderer: str, device: torch.device,
            seconds: float | None, peak: int | None, graphed: bool = False) -> dict:
    return {
        "config": config, "envs": envs, "agents": agents, "pixels": pixels, "physics": physics,
        "renderer": renderer, "device": str(device),
        "agent_steps_per_s": None if seconds is None else envs * agents / seconds,
        "ms_per_step": None if seconds is None else 1000 * seconds,
        "peak_memory_bytes": peak,
        "cuda_graph": graphed,
        "of_engine": None,
    }


def measure(build: Callable[[], Callable[[], object]], device: torch.device,
            seconds: float, graph: bool = True) -> tuple[float, int | None, bool]:
    """Builds a step function and times it, replayed from a CUDA graph where it captures.

    :returns: seconds per step, peak GPU memory (None on the CPU), and whether a graph was used.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step = build()
    # an env captures its own step (cuda_graph=True), after its first eager one
    own = isinstance(step, EnvStep)
    replay = capture(step, device) if graph and device.type == "cuda" and not own else None
    per_step = time_step(replay or step, device, seconds=seconds)
    peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    graphed = step.graphed if own else replay is not None
    del step, replay
    return per_step, peak, graphed


def engine_builder(config: Config, geometries, envs: int, physics: str, renderer: str, device, seed: int):
    def build():
        cameras = [config.camera]
        world = World(cycle_geometries(geometries, envs), config.agents, cameras, physics, renderer, device, seed=seed)
        spawn(world, seed)
        return EngineStep(world, seed)

    return build


def env_builder(name: str, config: Config, geometries, envs: int, physics: str, renderer: str, device, seed: int,
                final_observations: bool, graph: bool = True):
    def build():
        options = {"n_agents": config.agents} if ENVS[name].multi_agent else {}
        env = env_class(name)(envs, geometries=geometries, pixels=config.pixels, fov=config.fov, device=device,
                              physics=physics, renderer=renderer, seed=seed,
                              final_observations=final_observations,
                              cuda_graph=graph and torch.device(device).type == "cuda", **options)
        env.reset()
        return EnvStep(env)

    return build


def run_bench(configs: Sequence[str], envs: Sequence[int] | None, pairs: Sequence[tuple[str, str]], device,
              geometries: Sequence[Geometry], env_names: Sequence[str] = (), seconds: float = 1.0, seed: int = 0,
              report: Callable[[dict], None] | None = None, graph: bool = True) -> list[dict]:
    """Runs every config (engine step) and every env (full step) at every size with every backend pair.

    :param envs: sizes; None for each config's own sizes on CUDA, :data:`CPU_ENVS` on the CPU.
    :param report: called with each record as soon as it is measured.
    :param graph: on CUDA, replay each step from a CUDA graph where it captures.
    :returns: one record per run, with the keys :data:`KEYS`; a run that failed has None figures.
    """
    device = resolve_device(device)
    jobs = []
    for name in configs:
        jobs.append((name, CONFIGS[name], None, True))
    for name in env_names:
        config = CONFIGS[ENV_CONFIGS[name]]
        jobs += [(name, config, name, True), (f"{name}:one-render", config, name, False)]
    records = []
    engine_rates = {}  # (config, size, physics, renderer): agent-steps/s of the benchmark step
    for label, config, env_name, final in jobs:
        sizes = envs or (config.sizes if device.type == "cuda" else (CPU_ENVS,))
        for size, (physics, renderer) in itertools.product(sizes, pairs):
            if env_name is None:
                build = engine_builder(config, geometries, size, physics, renderer, device, seed)
            else:
                build = env_builder(env_name, config, geometries, size, physics, renderer, device, seed, final,
                                    graph)
            try:
                per_step, peak, graphed = measure(build, device, seconds, graph)
                record = _record(label, size, config.agents, config.pixels, physics, renderer, device, per_step, peak,
                                 graphed)
            except (MegastepError, RuntimeError, ValueError) as error:  # out of memory, backend missing, ...
                print(f"megastep bench: {label} x {size} with {physics}/{renderer} failed: "
                      f"{type(error).__name__}: {error}", file=sys.stderr)
                record = _record(label, size, config.agents, config.pixels, physics, renderer, device, None, None)
            rate = record["agent_steps_per_s"]
            if env_name is None:
                engine_rates[label, size, physics, renderer] = rate
            else:
                engine = engine_rates.get((ENV_CONFIGS[env_name], size, physics, renderer))
                if rate is not None and engine:
                    record["of_engine"] = rate / engine
            records.append(record)
            if report is not None:
                report(record)
    return records


HEADER = ("config", "envs", "agents", "pixels", "physics", "renderer", "device", "agent-steps/s", "ms/step",
          "peak GPU MiB", "graph", "of engine")
WIDTHS = (20, 7, 6, 6, 11, 13, 7, 14, 9, 12, 5, 9)


def format_row(cells) -> str:
    return "  ".join(str(c).rjust(w) if i >= 7 else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, WIDTHS)))


def format_record(record: dict) -> str:
    rate, ms, peak = record["agent_steps_per_s"], record["ms_per_step"], record["peak_memory_bytes"]
    share = record.get("of_engine")
    return format_row([
        record["config"], record["envs"], record["agents"], record["pixels"], record["physics"], record["renderer"],
        record["device"], "failed" if rate is None else f"{rate:,.0f}", "-" if ms is None else f"{ms:.2f}",
        "-" if peak is None else f"{peak / 2**20:,.0f}", "yes" if record.get("cuda_graph") else "no",
        "-" if share is None else f"{100 * share:.1f}%",
    ])


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="agent-steps/s of the benchmark step (and of full env steps) for each backend",
        description=plain_text(__doc__.split("\n\n")[0]), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--physics", nargs="+", help="physics backends (default: torch, and cuda where it can run)")
    parser.add_argument("--renderer", nargs="+", help="renderers (default: torch, and cuda where it can run)")
    parser.add_argument("--layouts", help="a layouts .npz to run on (default: 64 procedural homes)")
    parser.add_argument("--config", nargs="+", choices=list(CONFIGS),
                        help="configs to run (default: all three, or with --env only the env's own)")
    parser.add_argument("--envs", nargs="+", type=int, help="env counts (default: the table's on CUDA, 64 on the CPU)")
    parser.add_argument("--device", default="auto", type=device_argument,
                        help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--json", help="write the figures to this file as a list of records")
    parser.add_argument("--env", nargs="+", choices=list(ENVS), help="also time the full step of these envs")
    parser.add_argument("--no-graph", dest="graph", action="store_false",
                        help="on CUDA, run steps eagerly instead of replaying them from a CUDA graph")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.envs is not None and min(args.envs) < 1:
            raise ValueError(f"--envs must all be at least 1, got {args.envs}")
        device = resolve_device(args.device)
        env_names = list(dict.fromkeys(args.env or ()))
        configs = args.config or ([ENV_CONFIGS[n] for n in env_names] if env_names else list(CONFIGS))
        configs = list(dict.fromkeys(configs))
        check_backends("physics", args.physics)
        check_backends("renderer", args.renderer)
        pairs = backend_pairs(args.physics, args.renderer, device)
        geometries = default_geometries(args.layouts)
    except (MegastepError, ValueError, OSError) as error:
        print(f"megastep bench: error: {error}", file=sys.stderr)
        return 2
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}")
    print(format_row(HEADER))
    print(format_row(["-" * w for w in WIDTHS]))
    records = run_bench(configs, args.envs, pairs, device, geometries, env_names,
                        seconds=2.0 if device.type == "cuda" else 1.0,
                        report=lambda record: print(format_record(record), flush=True), graph=args.graph)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")
    return 0 if all(r["agent_steps_per_s"] is not None for r in records) else 1
