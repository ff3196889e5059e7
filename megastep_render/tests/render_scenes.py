"""Scenes for the renderer tests: toy rooms built by hand, and the benchmark homes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from megastep_core import Agents, Geometry, build_scenery, draw_bodies

REPO = Path(__file__).resolve().parents[2]
LAYOUT_FILES = [
    Path(os.environ["MEGASTEP_LAYOUTS"]) if "MEGASTEP_LAYOUTS" in os.environ else None,
    REPO.parent / "shared" / "bench" / "layouts.npz",
    REPO / ".bench" / "layouts.npz",
    REPO / "testdata" / "layouts.npz",  # the same file, kept in the repo for clones without ../shared
]


def room(walls, lights, name="room") -> Geometry:
    """A geometry of the given walls ``[(x1, y1, x2, y2), ...]`` and lights ``[(x, y, intensity), ...]``."""
    walls = np.asarray(walls, np.float32).reshape(-1, 2, 2)
    return Geometry(walls, np.asarray(lights, np.float32), np.ones((1, 1), bool), 1.0, name=name)


def box(width=4.0, height=3.0, lights=((2.0, 1.5, 1.0),), extra=()) -> Geometry:
    """A ``width`` x ``height`` metre room with its corner at the origin, walls counter-clockwise from (0, 0)."""
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    walls = [(*corners[i], *corners[(i + 1) % 4]) for i in range(4)]
    return room(walls + list(extra), lights, name="box")


def layout_file() -> Path:
    for path in LAYOUT_FILES:
        if path is not None and path.exists():
            return path
    pytest.skip("the benchmark layouts (../shared/bench/layouts.npz) are not here")


def bench_homes(count: int | None = None) -> list[Geometry]:
    """The benchmark homes, read straight from the layouts file (no megastep_geometry needed)."""
    data = np.load(layout_file(), allow_pickle=False)
    walls, lights = data["walls"], data["lights"]
    wall_ends, light_ends = np.cumsum(data["wall_counts"]), np.cumsum(data["light_counts"])
    homes = []
    for i in range(len(wall_ends) if count is None else count):
        w0 = wall_ends[i - 1] if i else 0
        k0 = light_ends[i - 1] if i else 0
        home = Geometry(
            walls[w0 : wall_ends[i]], lights[k0 : light_ends[i]], np.ones((1, 1), bool), 1.0,
            spawns=data["spawns"][i], name=f"home {i}",
        )
        homes.append(home)
    return homes


def scene(geometries, n_agents=1, device="cpu", seed=0, positions=None, angles=None):
    """A scenery and agents at the given places (default: the geometries' spawn points, random angles)."""
    scenery = build_scenery(geometries, n_agents, device=device)
    agents = Agents.zeros(len(geometries), n_agents, device=device)
    generator = np.random.default_rng(seed)
    if positions is None:
        picks = []
        for g in geometries:
            if g.spawns is not None:
                picks.append(g.spawns[generator.choice(len(g.spawns), n_agents, replace=False)])
            else:  # anywhere inside the walls' extent
                low, high = g.extent
                picks.append(generator.uniform(low + 0.3, high - 0.3, (n_agents, 2)))
        positions = np.stack(picks)
    if angles is None:
        angles = generator.uniform(-180, 180, (len(geometries), n_agents))
    agents.positions[:] = torch.as_tensor(np.asarray(positions, np.float32), device=device)
    agents.angles[:] = torch.as_tensor(np.asarray(angles, np.float32), device=device)
    draw_bodies(scenery, agents)
    return scenery, agents


def assert_renders_match(test, reference, max_mismatch=0.005):
    """Checks a renderer's output against the torch reference's.

    Line indices must be equal except at near-ties: rays that the two pick
    different lines for must hit them at the same distance (a corner where two
    lines meet), or at the very end of one of the lines (a ray grazing an end
    point), and such rays must be rare. Where the indices agree, distances,
    locations, dots and colours must agree to float32 rounding.
    """
    for field in ("indices", "locations", "dots", "distances", "screen"):
        a, b = getattr(test, field), getattr(reference, field)
        assert a.shape == b.shape and a.dtype == b.dtype, (field, a.shape, b.shape, a.dtype, b.dtype)
        assert not torch.isnan(a).any(), f"{field} has NaN: an element was never written"
    same = test.indices == reference.indices
    ends = lambda r: (r.locations < 1e-3) | (r.locations > 1 - 1e-3)  # noqa: E731
    tie = torch.isclose(test.distances, reference.distances, rtol=1e-4, atol=1e-5)
    explained = same | tie | ends(test) | ends(reference)
    assert explained.all(), (
        f"{int((~explained).sum())} rays hit different lines at different distances: "
        f"{test.indices[~explained][:5].tolist()} at {test.distances[~explained][:5].tolist()} m against "
        f"{reference.indices[~explained][:5].tolist()} at {reference.distances[~explained][:5].tolist()} m"
    )
    assert (~same).float().mean() <= max_mismatch, f"{int((~same).sum())} of {same.numel()} rays differ"
    hit = same & (reference.indices >= 0)
    assert torch.equal(torch.isinf(test.distances[same]), torch.isinf(reference.distances[same]))
    assert torch.allclose(test.distances[hit], reference.distances[hit], rtol=1e-5, atol=1e-6)
    # at grazing angles a direction's last-bit rounding moves the hit far along the line
    square = hit & (reference.dots.abs() < 0.995)
    assert torch.allclose(test.locations[square], reference.locations[square], atol=2e-4)
    assert torch.allclose(test.dots[hit], reference.dots[hit], atol=1e-5)
    assert torch.allclose(test.screen[same], reference.screen[same], atol=2e-4)
