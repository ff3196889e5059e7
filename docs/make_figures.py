"""Draws the pictures of the docs from the real code, into ``docs/_static/figures/``.

    python docs/make_figures.py               # every figure
    python docs/make_figures.py physics demos # some of them (see FIGURES below)

Everything runs on the CPU with the torch backends, in a few minutes. The
tutorials' own pictures are made by running the tutorials themselves (with
``tests/tutorial_runner.py``, in a temporary folder) and copying the images
they save, so that each picture is exactly what its page's code draws. The
videos of the envs are ``megastep demo`` runs, turned into small GIFs.

Keep the outputs small (the whole folder well under 5 MB): PNGs at 70-100
dpi, GIFs at two thirds of the demo's size and every other frame.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
OUT = DOCS / "_static" / "figures"
RUNNER = REPO / "tests" / "tutorial_runner.py"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, name: str, dpi: int = 90) -> None:
    path = OUT / name
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size / 1024:.0f} KiB)")


# ---------------------------------------------------------------------------------------------------
# how physics works


def physics_contact() -> None:
    """A disc swept towards a wall: the wall's capsule at the stop radius, and where the disc stops."""
    import torch
    from matplotlib.patches import Circle, FancyArrowPatch

    from megastep_physics.backends import DEFAULT_MARGIN
    from megastep_physics.sweep import wall_stop_times

    plt = pyplot()
    radius = 0.106
    margin = 0.03  # exaggerated from the default 1 mm so that the two radii can be told apart
    a, b = np.array([0.0, 0.0]), np.array([1.2, 0.0])
    length = np.linalg.norm(b - a)
    u = (b - a) / length
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    starts = [np.array([0.3, 0.7]), np.array([1.75, 0.55])]
    moves = [np.array([0.25, -0.9]), np.array([-0.75, -0.6])]
    titles = ["onto a face", "onto an end point"]
    for ax, p, d, title in zip(axes, starts, moves, titles):
        for reach, style, label in ((radius + margin, "-", "stop radius r + margin"),
                                    (radius + margin / 2, ":", "hit radius r + margin / 2")):
            angles = np.linspace(np.pi / 2, 3 * np.pi / 2, 50)
            left = np.stack([a[0] + reach * np.cos(angles), a[1] + reach * np.sin(angles)], -1)
            right = np.stack([b[0] - reach * np.cos(angles), b[1] - reach * np.sin(angles)], -1)
            outline = np.concatenate([left, [[a[0], a[1] - reach], [b[0], b[1] - reach]], right,
                                      [[b[0], b[1] + reach], [a[0], a[1] + reach]]])
            ax.plot(outline[:, 0], outline[:, 1], style, c="tab:gray", lw=1, label=label)
        ax.plot([a[0], b[0]], [a[1], b[1]], c="black", lw=3, solid_capstyle="butt", label="wall")
        t = wall_stop_times(*(torch.tensor(v, dtype=torch.float32) for v in (p[0], p[1], d[0], d[1], a[0], a[1],
                                                                              u[0], u[1], length)),
                            radius + margin, radius + margin / 2)
        t = float(t)
        stop = p + min(t, 1.0) * d
        ax.add_patch(Circle(p, radius, fc="tab:blue", alpha=0.25, ec="tab:blue"))
        ax.add_patch(Circle(stop, radius, fc="tab:blue", alpha=0.6, ec="tab:blue"))
        ax.add_patch(Circle(p + d, radius, fc="none", ec="tab:blue", ls="--"))
        ax.add_patch(FancyArrowPatch(p, p + d, arrowstyle="->", mutation_scale=12, color="tab:blue", lw=1))
        ax.plot(*stop, "o", c="crimson", ms=3)
        ax.set_title(f"{title}: stops at t = {t:.2f} of its move", fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlim(-0.4, 2.0)
        ax.set_ylim(-0.45, 0.95)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(loc="upper right", fontsize=7, frameon=False)
    figure.suptitle(f"wall_stop_times: a disc of radius {radius} m and its stop (margin {margin} m here, "
                    f"{DEFAULT_MARGIN * 1000:g} mm by default)", fontsize=9)
    figure.tight_layout()
    save(figure, "physics_contact.png")


def physics_stop_and_slide() -> None:
    """The same agents, moving diagonally into walls, under the torch (stop) and slide physics."""
    import torch

    from megastep_core import Camera, World
    from megastep_geometry import toys
    from megastep_geometry.plot import draw_plan

    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.9))
    starts = torch.tensor([[0.8, 0.6], [2.6, 2.2], [3.5, 0.8]])
    velocity = torch.tensor([[1.2, -0.8], [-0.9, 1.0], [1.0, 0.9]])
    for ax, physics in zip(axes, ("torch", "slide")):
        world = World([toys.column(4.5, 3.2, 0.8)], n_agents=3, cameras=[Camera(8, 90)], physics=physics,
                      renderer="raycast:torch", device="cpu")
        world.agents.positions[0] = starts
        world.place()
        path = [world.agents.positions[0].clone()]
        for _ in range(25):
            # a constant push, as an agent holding an action would have
            world.agents.velocity[0] = velocity
            world.move()
            path.append(world.agents.positions[0].clone())
        path = torch.stack(path).numpy()
        draw_plan(world.geometries[0], ax, spawns=np.zeros((0, 2)), title=f"physics={physics!r}")
        for agent in range(3):
            ax.plot(path[:, agent, 0], path[:, agent, 1], ".-", ms=3, lw=1)
            ax.add_patch(pyplot().Circle(path[-1, agent], world.agent_radius, fc="none", ec="black", lw=0.8))
    figure.suptitle("three agents pushed at a constant velocity for 25 steps of 0.1 s", fontsize=9)
    figure.tight_layout()
    save(figure, "physics_stop_and_slide.png")


# ---------------------------------------------------------------------------------------------------
# how rendering works


def render_world():
    """One agent in a home, and what it sees."""
    import torch

    from megastep_core import Camera, World
    from megastep_geometry import homes

    world = World(homes.sample(3, seed=0)[2:], cameras=[Camera(128, 130)], physics="stop:torch",
                  renderer="raycast:torch", device="cpu")
    free = world.geometries[0]
    lo, hi = free.extent
    centre = (lo + hi) / 2
    # the free point nearest the middle of the home, facing along +x
    points = free.cell_centres(np.argwhere(free.mask))
    start = points[np.argmin(np.linalg.norm(points - centre, axis=1))]
    world.agents.positions[0, 0] = torch.as_tensor(start, dtype=torch.float32)
    world.agents.angles[0, 0] = 20.0
    world.place()
    return world, world.render()


def render_rays() -> None:
    """The rays of one camera over a plan, and the strip of pixels they make."""
    import torch
    from matplotlib.collections import LineCollection

    from megastep_geometry.plot import draw_plan

    plt = pyplot()
    world, render = render_world()
    position = world.agents.positions[0, 0].numpy()
    angles = world.agents.angles[0, 0] + world.cameras[0].ray_angles()
    distances = render.distances[0, 0, 0].clamp(max=30).numpy()
    theta = np.deg2rad(angles.numpy())
    hits = position + distances[:, None] * np.stack([np.cos(theta), np.sin(theta)], -1)
    screen = render.screen[0, 0, 0].clamp(0, 1).numpy() ** (1 / 2.2)

    figure = plt.figure(figsize=(9, 5.2))
    grid = figure.add_gridspec(3, 2, width_ratios=[1.25, 1], height_ratios=[1, 1, 1])
    ax = figure.add_subplot(grid[:, 0])
    draw_plan(world.geometries[0], ax, spawns=np.zeros((0, 2)), title="128 rays over 130 degrees")
    segments = np.stack([np.broadcast_to(position, hits.shape), hits], 1)
    ax.add_collection(LineCollection(segments[::2], colors=screen[::2], linewidths=0.8))
    ax.plot(*position, "o", c="crimson", ms=4)
    lo, hi = world.geometries[0].extent
    ax.set_xlim(lo[0] - 0.3, hi[0] + 0.3)
    ax.set_ylim(lo[1] - 0.3, hi[1] + 0.3)

    strip = figure.add_subplot(grid[0, 1])
    strip.imshow(screen[None], aspect="auto", interpolation="nearest")
    strip.set_title("render.screen: the colour of each ray (leftmost ray first)", fontsize=8)
    depth = figure.add_subplot(grid[1, 1])
    depth.plot(render.distances[0, 0, 0].numpy(), c="black", lw=1)
    depth.set_xlim(0, len(distances) - 1)
    depth.set_title("render.distances (m)", fontsize=8)
    dots = figure.add_subplot(grid[2, 1])
    dots.plot(render.dots[0, 0, 0].abs().numpy(), c="tab:purple", lw=1)
    dots.set_xlim(0, len(distances) - 1)
    dots.set_ylim(0, 1.05)
    dots.set_title("|render.dots|: 1 where the wall is seen side-on", fontsize=8)
    for axis in (strip,):
        axis.set_yticks([])
    for axis in (strip, depth, dots):
        axis.tick_params(labelsize=7)
    figure.tight_layout()
    save(figure, "render_rays.png")
    del torch


def render_shading() -> None:
    """The factors of each pixel: texture colour, baked light, side-on darkening, and their product."""
    import torch

    from megastep_render.shading import texel_coordinates

    plt = pyplot()
    world, render = render_world()
    scenery = world.scenery
    index = render.indices[0, 0, 0]
    hit = index >= 0
    line = scenery.lines.starts[0] + index.clamp(min=0)
    ends = scenery.lines.vals[line]
    length = (ends[:, 1] - ends[:, 0]).norm(dim=-1)
    first, second, weight = texel_coordinates(render.locations[0, 0, 0], length, scenery.textures.widths[line],
                                              scenery.texel_size)
    start = scenery.textures.starts[line]
    colour = (scenery.textures.vals[start + first] * (1 - weight)[:, None]
              + scenery.textures.vals[start + second] * weight[:, None])
    light = scenery.baked.vals[start + first] * (1 - weight) + scenery.baked.vals[start + second] * weight
    side_on = 1 - render.dots[0, 0, 0] ** 2
    rows = [
        ("texture colour", colour),
        ("baked light", light[:, None].expand(-1, 3)),
        ("1 - dot\u00b2", side_on[:, None].expand(-1, 3)),
        ("screen = colour x light x (1 - dot\u00b2)", render.screen[0, 0, 0]),
    ]
    figure, axes = plt.subplots(len(rows), 1, figsize=(8, 2.6))
    for ax, (label, values) in zip(axes, rows):
        values = torch.where(hit[:, None], values, 0.0).clamp(0, 1).numpy() ** (1 / 2.2)
        ax.imshow(values[None], aspect="auto", interpolation="nearest")
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    figure.tight_layout()
    save(figure, "render_shading.png")


def render_baked_light() -> None:
    """The light baked onto every wall texel of a home: shadows from each light, once per layout."""
    from matplotlib.collections import LineCollection

    plt = pyplot()
    world, _ = render_world()
    scenery = world.scenery
    first, stop = int(scenery.lines.starts[0]) + scenery.n_body_lines, int(scenery.lines.ends[0])
    texels = []
    light = []
    for line in range(first, stop):
        a, b = scenery.lines.vals[line].numpy()
        start, count = int(scenery.textures.starts[line]), int(scenery.textures.widths[line])
        along = np.linspace(0, 1, count + 1)
        points = a + along[:, None] * (b - a)
        texels.append(np.stack([points[:-1], points[1:]], 1))
        light.append(scenery.baked.vals[start:start + count].numpy())
    texels, light = np.concatenate(texels), np.concatenate(light)
    figure, ax = plt.subplots(figsize=(6, 5))
    collection = LineCollection(texels, array=light, cmap="inferno", linewidths=2.5)
    collection.set_clim(0, 1)
    ax.add_collection(collection)
    lights = scenery.lights[0].numpy()
    ax.scatter(lights[:, 0], lights[:, 1], s=60 * lights[:, 2], marker="*", c="gold", edgecolors="black",
               linewidths=0.5, zorder=3)
    lo, hi = world.geometries[0].extent
    ax.set_xlim(lo[0] - 0.3, hi[0] + 0.3)
    ax.set_ylim(lo[1] - 0.3, hi[1] + 0.3)
    ax.set_aspect("equal")
    ax.set_facecolor("0.85")
    figure.colorbar(collection, ax=ax, shrink=0.8, label="baked light")
    ax.set_title("scenery.baked: each 5 cm texel's light, lights as stars", fontsize=9)
    figure.tight_layout()
    save(figure, "render_baked_light.png")


# ---------------------------------------------------------------------------------------------------
# the tutorials' own pictures


TUTORIAL_PICTURES = {
    "tutorials/plugin.rst": {"bounces.png": "plugin_bounces.png"},
    "tutorials/setup.rst": {"first_world.png": "setup_first_world.png"},
    "tutorials/minimal.rst": {"minimal.png": "minimal_state.png"},
    "tutorials/pointgoal.rst": {"pointgoal.png": "pointgoal_state.png"},
    "tutorials/explorer.rst": {"explorer.png": "explorer_state.png"},
    "tutorials/deathmatch.rst": {"deathmatch.png": "deathmatch_state.png"},
}
"""For each page, the images its code saves and the names they get under ``_static/figures``."""


def tutorials() -> None:
    """Runs each tutorial in a temporary folder and keeps the pictures it drew."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.setdefault("MEGASTEP_CACHE", str(Path(tempfile.gettempdir()) / "megastep-docs-cache"))
    for page, pictures in TUTORIAL_PICTURES.items():
        if not (DOCS / page).exists():
            print(f"skipped {page}: no such page")
            continue
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run([sys.executable, str(RUNNER), str(DOCS / page)], cwd=folder, env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{page} failed:\n{done.stdout}\n{done.stderr}")
            for made, name in pictures.items():
                shutil.copy(Path(folder) / made, OUT / name)
                print(f"wrote {(OUT / name).relative_to(REPO)} from {page}")


# ---------------------------------------------------------------------------------------------------
# videos of the envs


DEMOS = {"minimal": 80, "explorer": 120, "pointgoal": 100, "deathmatch": 100}
"""Steps recorded of each env."""


def demos() -> None:
    """``megastep demo ENV`` for every env, each video turned into a small GIF."""
    import imageio.v2 as imageio
    from PIL import Image

    for env, steps in DEMOS.items():
        with tempfile.TemporaryDirectory() as folder:
            policy = ["--policy", "greedy"] if env == "pointgoal" else []
            command = [sys.executable, "-m", "megastep_core.cli", "demo", env, "--envs", "4", "--steps", str(steps),
                       "--device", "cpu", "--seed", "1", "--out", folder, *policy]
            started = time.perf_counter()
            subprocess.run(command, check=True, env={**os.environ, "MPLBACKEND": "Agg"})
            frames = imageio.mimread(Path(folder) / f"{env}.mp4", memtest=False)[::2]
            # two thirds of the demo's size, resampled smoothly so that thin walls and text survive, in one
            # palette of 64 colours without dithering, so that what does not move stays the same from frame
            # to frame and compresses to almost nothing
            height, width = frames[0].shape[:2]
            size = (width * 2 // 3, height * 2 // 3)
            images = [Image.fromarray(frame).resize(size, Image.LANCZOS) for frame in frames]
            palette = images[len(images) // 2].quantize(64, method=Image.Quantize.MEDIANCUT)
            images = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
            path = OUT / f"demo_{env}.gif"
            images[0].save(path, save_all=True, append_images=images[1:], duration=200, loop=0, optimize=True)
            print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size / 1024:.0f} KiB, "
                  f"{time.perf_counter() - started:.0f} s)")


# ---------------------------------------------------------------------------------------------------
# a training curve


def training() -> None:
    """Trains Minimal with its default hyperparameters (a few minutes on a CPU) and plots the curve."""
    import json

    import torch

    import megastep_envs

    plt = pyplot()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        # one thread per process: on a small, shared CPU more threads only contend
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "megastep_core.cli", "train", "minimal", "--out", folder,
                        "--device", "cpu", "--no-progress"], check=True, env=env)
        updates = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]
        print(f"trained minimal in {time.perf_counter() - started:.0f} s")
    curve = [(u["env_steps"], u["charts/episodic_return"]) for u in updates if "charts/episodic_return" in u]

    # what random actions earn, for comparison: whole episodes of 64 envs
    random_env = megastep_envs.make("minimal", 64, device="cpu", seed=1)
    random_env.reset()
    returns = []
    while len(returns) < 64:
        info = random_env.step(random_env.sample_actions()).info
        returns += info["episode"]["r"][info["_episode"]].tolist()
    baseline = float(torch.tensor(returns).mean())

    figure, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(*zip(*curve), label="PPO, Minimal's defaults")
    ax.axhline(baseline, ls="--", c="gray", label="random actions")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episodic return")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("megastep train minimal, on a CPU", fontsize=9)
    figure.tight_layout()
    save(figure, "training_minimal_curve.png")
    print(f"random actions: mean episodic return {baseline:.1f}; trained: {curve[-1][1]:.1f}")


FIGURES = {
    "physics": [physics_contact, physics_stop_and_slide],
    "render": [render_rays, render_shading, render_baked_light],
    "tutorials": [tutorials],
    "demos": [demos],
    "training": [training],
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"which figures, of {', '.join(FIGURES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.groups) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure groups {unknown}; there are {', '.join(FIGURES)}")
    OUT.mkdir(parents=True, exist_ok=True)
    for group in args.groups or FIGURES:
        for make in FIGURES[group]:
            make()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"_static/figures holds {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
