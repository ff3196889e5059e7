"""Small hand-made geometries for tests, demos and first experiments.

Each builder returns a validated :class:`~megastep_core.Geometry` whose free
space starts at ``(0, 0)``: its walls are 10 cm thick, drawn as outlines, and
lie just outside the free area, so ``box(4, 3)`` has exactly 4 x 3 m of floor.
"""
from __future__ import annotations

import math

import numpy as np
import shapely

from megastep_core import Geometry
from megastep_core.checks import positive

from .masks import DEFAULT_RESOLUTION, free_mask
from .walls import WALL_THICKNESS, merge_axis_aligned, outline

LIGHT_SPACING = 4.0
"""Metres between neighbouring lights of a toy's grid of lights."""


def _frame(width: float, height: float) -> np.ndarray:
    """``(4, 2, 2)`` centre lines of the four walls around the floor ``[0, width] x [0, height]``."""
    h = WALL_THICKNESS / 2
    corners = np.array([[-h, -h], [width + h, -h], [width + h, height + h], [-h, height + h]])
    return np.stack([corners, np.roll(corners, -1, axis=0)], axis=1)


def _light_grid(width: float, height: float, intensity: float = 1.0) -> np.ndarray:
    """``(K, 3)`` lights at the centres of a grid of cells about :data:`LIGHT_SPACING` wide."""
    nx, ny = max(1, math.ceil(width / LIGHT_SPACING)), max(1, math.ceil(height / LIGHT_SPACING))
    xs = (np.arange(nx) + 0.5) * width / nx
    ys = (np.arange(ny) + 0.5) * height / ny
    x, y = np.meshgrid(xs, ys)
    return np.stack([x.ravel(), y.ravel(), np.full(x.size, intensity)], -1)


def _geometry(walls: np.ndarray, lights: np.ndarray, name: str, resolution: float, solids=None) -> Geometry:
    mask, origin = free_mask(walls, resolution, solids=solids)
    return Geometry(walls=walls, lights=lights, mask=mask, resolution=resolution, origin=origin, name=name).validate()


def box(width: float = 5.0, height: float = 5.0, resolution: float = DEFAULT_RESOLUTION) -> Geometry:
    """An empty room with ``width x height`` metres of floor, lit by a grid of lights."""
    width, height = positive("width", width), positive("height", height)
    walls, lights = outline(_frame(width, height)), _light_grid(width, height)
    return _geometry(walls, lights, f"box({width:g}x{height:g})", resolution)


def column(
    width: float = 5.0, height: float = 5.0, side: float = 1.0, resolution: float = DEFAULT_RESOLUTION
) -> Geometry:
    """A room of ``width x height`` metres with a square column ``side`` metres wide at its centre.

    Four lights, one in each quarter of the room, so the column casts shadows.
    """
    width, height, side = positive("width", width), positive("height", height), positive("side", side)
    if side > min(width, height) - 4 * WALL_THICKNESS:
        raise ValueError(f"side must leave room around the column: {side} m in a {width} x {height} m room")
    cx, cy, h = width / 2, height / 2, side / 2
    square = np.array([[cx - h, cy - h], [cx + h, cy - h], [cx + h, cy + h], [cx - h, cy + h]])
    pillar = np.stack([square, np.roll(square, -1, axis=0)], axis=1)
    walls = np.concatenate([outline(_frame(width, height)), pillar.astype(np.float32)])
    lights = np.array([[width * fx, height * fy, 1.0] for fx in (0.2, 0.8) for fy in (0.2, 0.8)])
    solid = shapely.box(cx - h, cy - h, cx + h, cy + h)
    return _geometry(walls, lights, f"column({width:g}x{height:g}, side={side:g})", resolution, solids=solid)


def corridor(length: float = 10.0, width: float = 1.2, resolution: float = DEFAULT_RESOLUTION) -> Geometry:
    """A straight corridor along x, ``length`` metres long and ``width`` wide, lit every few metres."""
    length, width = positive("length", length), positive("width", width)
    count = max(1, math.ceil(length / (LIGHT_SPACING / 2)))
    xs = (np.arange(count) + 0.5) * length / count
    lights = np.stack([xs, np.full(count, width / 2), np.full(count, 0.6)], -1)
    return _geometry(outline(_frame(length, width)), lights, f"corridor({length:g}x{width:g})", resolution)


def maze(
    rows: int = 8, cols: int = 8, cell: float = 1.0, seed: int = 0, resolution: float = DEFAULT_RESOLUTION
) -> Geometry:
    """A perfect maze of ``rows x cols`` square cells, each ``cell`` metres wide.

    The passages are carved by a randomised depth-first search, so exactly one
    path joins any two cells; walls run along cell boundaries, so passages are
    ``cell`` minus one wall thickness wide. One light every three cells or so.

    :param seed: the same seed always gives the same maze.
    """
    if int(rows) != rows or int(cols) != cols or rows < 1 or cols < 1 or rows * cols < 2:
        raise ValueError(f"rows and cols must be positive integers with at least two cells, got {rows} x {cols}")
    rows, cols, cell = int(rows), int(cols), positive("cell", cell)
    if cell < 2 * WALL_THICKNESS + 0.3:
        raise ValueError(f"cell must be at least {2 * WALL_THICKNESS + 0.3:.1f} m so passages fit an agent, got {cell}")
    rng = np.random.default_rng(seed)
    # open_east[i, j]: no wall between (i, j) and (i, j + 1); open_north likewise with (i + 1, j)
    open_east = np.zeros((rows, cols), bool)
    open_north = np.zeros((rows, cols), bool)
    visited = np.zeros((rows, cols), bool)
    stack = [(int(rng.integers(rows)), int(rng.integers(cols)))]
    visited[stack[0]] = True
    while stack:
        i, j = stack[-1]
        steps = [(a, b) for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1))
                 if 0 <= a < rows and 0 <= b < cols and not visited[a, b]]
        if not steps:
            stack.pop()
            continue
        a, b = steps[int(rng.integers(len(steps)))]
        if a != i:
            open_north[min(a, i), j] = True
        else:
            open_east[i, min(b, j)] = True
        visited[a, b] = True
        stack.append((a, b))

    centres = []
    for i in range(rows):
        for j in range(cols):
            x, y = (j + 1) * cell, (i + 1) * cell
            if j + 1 < cols and not open_east[i, j]:
                centres.append([[x, i * cell], [x, y]])
            if i + 1 < rows and not open_north[i, j]:
                centres.append([[j * cell, y], [x, y]])
    inner = merge_axis_aligned(np.asarray(centres).reshape(-1, 2, 2)) if centres else np.zeros((0, 2, 2))
    frame = _frame(cols * cell, rows * cell)
    walls = outline(np.concatenate([frame, inner]))
    step = 3
    li, lj = np.meshgrid(np.arange(step // 2, rows, step), np.arange(step // 2, cols, step), indexing="ij")
    lights = np.stack([(lj.ravel() + 0.5) * cell, (li.ravel() + 0.5) * cell, np.full(li.size, 0.8)], -1)
    return _geometry(walls, lights, f"maze({rows}x{cols}, cell={cell:g}, seed={seed})", resolution)
