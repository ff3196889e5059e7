"""The static data the CUDA kernels read, built once per scenery and layout.

Envs of one layout share their walls, lights, textures and baked light, so
the kernels read them from one table per layout instead of from every env:
at 65,536 envs of 64 homes the tables are a few megabytes, which stay in the
GPU's L2 cache, instead of the scenery's gigabytes. Only the moving agent
bodies are read from each env.

Each layout also gets a uniform grid over its walls: every wall is listed in
every cell it passes through (grown by :data:`CELL_MARGIN`, far above float
error), so a ray that walks the cells it crosses, in order, meets every wall
it can hit, and can stop at the first cell that holds a hit. Cells are
:data:`CELL_SIZE` metres a side by default: homes' walls are about a metre
long and rooms three, so a ray crosses a few cells of a few walls each
before it hits one, instead of testing all ~200 walls. The grid serves both the
shadow tests and the ray casting.
"""
from __future__ import annotations

import math

import attrs
import numpy as np
import torch

from megastep_core import Scenery
from megastep_core.layouts import LayoutIndex, layout_index

from ..chunks import expand
from ..lighting import body_texel_counts

CELL_SIZE = 1.0
"""Metres, the default side of a grid cell: about a wall's length in a home (the sizes tried are in the performance
docs)."""

CELL_MARGIN = 1e-3
"""Metres by which each cell is grown when listing the walls that pass through it."""


@attrs.define(eq=False)
class LayoutTables:
    """Per-layout walls, grids, texels and lights, and per-env offsets, all on the GPU.

    ``G`` layouts, ``W`` walls and ``T`` wall texels over all layouts, ``N`` grid entries.

    :ivar grids: ``(G, 4)`` float32: the grid's lowest corner ``(x, y)`` in metres, the cell size, its inverse.
    :ivar grid_shapes: ``(G, 4)`` int32: cells along x and y, the layout's first cell in ``cell_starts``, 0.
    :ivar cell_starts: ``(cells + 1,)`` int32: cell ``c`` lists entries ``cell_starts[c]:cell_starts[c + 1]``.
    :ivar entry_lines: ``(N, 4)`` float32: each entry's wall, ``(ax, ay, ex, ey)``: first end point and
        second minus first, in metres.
    :ivar entry_ids: ``(N,)`` int32: each entry's wall as an env-local line index.
    :ivar walls: ``(W, 4)`` float32 ``(ax, ay, ex, ey)``, layout by layout.
    :ivar wall_texels: ``(W, 2)`` int32: each wall's first texel in ``texels``, and its texel count.
    :ivar wall_bases: ``(G + 1,)`` int32: each layout's first wall in ``walls``, then the number of walls.
    :ivar texels: ``(T, 4)`` float32: each wall texel's ``(r, g, b, light)``.
    :ivar texel_walls: ``(T,)`` int32: the row in ``walls`` of each texel.
    :ivar texel_bases: ``(G + 1,)`` int32: each layout's first texel in ``texels``.
    :ivar lights: ``(K, 4)`` float32 ``(x, y, intensity, 0)``, layout by layout.
    :ivar light_ranges: ``(G, 2)`` int32: each layout's first light and light count.
    :ivar env_layout: ``(E,)`` int32, each env's layout.
    :ivar line_starts: ``(E,)`` int64, each env's first line in ``scenery.lines.vals``.
    :ivar env_texel_starts: ``(E,)`` int64, each env's first texel in ``scenery.textures.vals``.
    :ivar body_texels: ``(A * M + 1,)`` int32: the first texel of each body line within its env's texels,
        and the number of body texels last (equal in every env).
    """

    grids: torch.Tensor
    grid_shapes: torch.Tensor
    cell_starts: torch.Tensor
    entry_lines: torch.Tensor
    entry_ids: torch.Tensor
    walls: torch.Tensor
    wall_texels: torch.Tensor
    wall_bases: torch.Tensor
    texels: torch.Tensor
    texel_walls: torch.Tensor
    texel_bases: torch.Tensor
    lights: torch.Tensor
    light_ranges: torch.Tensor
    env_layout: torch.Tensor
    line_starts: torch.Tensor
    env_texel_starts: torch.Tensor
    body_texels: torch.Tensor
    layouts: LayoutIndex

    max_walls: int = 0
    """The most walls of any layout."""
    _pointers: dict = attrs.field(factory=dict, init=False, repr=False)

    def pointers(self, *names: str) -> tuple:
        """The device addresses of the named tables, as kernel arguments: converted once, not every frame."""
        if names not in self._pointers:
            self._pointers[names] = tuple(np.uint64(getattr(self, name).data_ptr()) for name in names)
        return self._pointers[names]

    @property
    def n_layouts(self) -> int:
        return len(self.wall_bases) - 1

    @property
    def nbytes(self) -> int:
        """Bytes of GPU memory the tables hold."""
        tensors = [getattr(self, f.name) for f in attrs.fields(type(self)) if isinstance(getattr(self, f.name),
                                                                                  torch.Tensor)]
        return sum(t.numel() * t.element_size() for t in tensors)


def grid_cells(a: torch.Tensor, b: torch.Tensor, cell_size: float) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Lists every wall in the cells of a uniform grid it passes through.

    :param a: ``(W, 2)`` metres, the walls' first end points.
    :param b: ``(W, 2)`` metres, their second end points.
    :param cell_size: metres.
    :returns: ``(4,)`` float32 grid (corner x, y, cell size, its inverse),
        ``(N, 2)`` int64 (cell, wall) pairs sorted by cell, and ``[nx, ny]``.
    """
    points = torch.cat([a, b]).double()
    low = points.min(0).values - 4 * CELL_MARGIN
    high = points.max(0).values + 4 * CELL_MARGIN
    shape = [max(1, math.ceil(float(x))) for x in (high - low) / cell_size]
    a, b = a.double(), b.double()
    lo = (torch.minimum(a, b) - CELL_MARGIN - low) / cell_size
    hi = (torch.maximum(a, b) + CELL_MARGIN - low) / cell_size
    first = lo.floor().long().clamp(min=0)
    last = torch.minimum(hi.floor().long(), torch.tensor(shape) - 1)
    spans = last - first + 1
    # every cell of each wall's bounding box...
    wall, rank = expand(spans[:, 0] * spans[:, 1])
    ix = first[wall, 0] + rank % spans[wall, 0]
    iy = first[wall, 1] + rank // spans[wall, 0]
    # ...that the wall's line passes within CELL_MARGIN of: the cell's corners
    # are not all on one side of it (the bounding boxes already overlap)
    corner_x = low[0] + (ix[:, None] + torch.tensor([0, 1, 0, 1])) * cell_size
    corner_y = low[1] + (iy[:, None] + torch.tensor([0, 0, 1, 1])) * cell_size
    d = b[wall] - a[wall]
    length = d.norm(dim=1, keepdim=True)
    side = (d[:, 0:1] * (corner_y - a[wall, 1:2]) - d[:, 1:2] * (corner_x - a[wall, 0:1])) / length
    near = (side.min(1).values <= CELL_MARGIN) & (side.max(1).values >= -CELL_MARGIN)
    cells = (iy * shape[0] + ix)[near]
    wall = wall[near]
    order = torch.argsort(cells * len(a) + wall)
    grid = torch.tensor([low[0], low[1], cell_size, 1.0 / cell_size], dtype=torch.float32)
    return grid, torch.stack([cells[order], wall[order]], 1), shape


def build_tables(scenery: Scenery, cell_size: float = CELL_SIZE, layouts: LayoutIndex | None = None) -> LayoutTables:
    """The tables of ``scenery``, from its representative envs' walls, textures, baked light and lights.

    Runs once per scenery, on the CPU, and copies the result to the scenery's device.
    """
    if not cell_size > 0:
        raise ValueError(f"cell_size must be a positive number of metres, got {cell_size}")
    device = scenery.device
    layouts = layouts or layout_index(scenery)
    body = body_texel_counts(scenery)
    if not bool((body == body[0]).all()):
        raise ValueError("every env must have the same body textures (as megastep_core.build_scenery makes them)")
    n_body_lines = scenery.n_body_lines
    first_env_lines = scenery.lines.starts[0] + torch.arange(n_body_lines, device=device)
    body_widths = scenery.textures.widths[first_env_lines].cpu()
    body_texels = torch.cat([body_widths.cumsum(0) - body_widths, body_widths.sum().reshape(1)])

    grids, shapes, cell_starts, entry_lines, entry_ids = [], [], [torch.zeros(1, dtype=torch.int64)], [], []
    walls, wall_texels, wall_bases, texels, texel_walls, texel_bases = [], [], [], [], [], [0]
    lights, light_ranges = [], []
    n_cells = n_walls = n_entries = n_texels = n_lights = 0
    for env in layouts.representatives.tolist():
        first = int(scenery.lines.starts[env])
        stop = first + int(scenery.lines.widths[env])
        ends = scenery.lines.vals[first + n_body_lines : stop].cpu()
        a, b = ends[:, 0], ends[:, 1]
        e = b - a  # the same float32 subtraction as the torch renderer's
        grid, pairs, shape = grid_cells(a, b, cell_size)
        counts = torch.bincount(pairs[:, 0], minlength=shape[0] * shape[1])
        grids.append(grid)
        shapes.append(torch.tensor([shape[0], shape[1], n_cells, 0]))
        cell_starts.append(n_entries + counts.cumsum(0))
        entry_lines.append(torch.cat([a, e], 1)[pairs[:, 1]])
        entry_ids.append(pairs[:, 1] + n_body_lines)
        n_cells += shape[0] * shape[1]
        n_entries += len(pairs)

        widths = scenery.textures.widths[first + n_body_lines : stop].cpu()
        texel_first = int(scenery.textures.starts[first + n_body_lines])
        count = int(widths.sum())
        colours = scenery.textures.vals[texel_first : texel_first + count].cpu()
        baked = scenery.baked.vals[texel_first : texel_first + count].cpu()
        walls.append(torch.cat([a, e], 1))
        wall_texels.append(torch.stack([n_texels + widths.cumsum(0) - widths, widths], 1))
        wall_bases.append(n_walls)
        texels.append(torch.cat([colours, baked[:, None]], 1))
        texel_walls.append(n_walls + torch.repeat_interleave(torch.arange(len(widths)), widths))
        n_walls += len(ends)
        n_texels += count
        texel_bases.append(n_texels)

        layout_lights = scenery.lights[env].cpu()
        lights.append(torch.cat([layout_lights, torch.zeros(len(layout_lights), 1)], 1))
        light_ranges.append(torch.tensor([n_lights, len(layout_lights)]))
        n_lights += len(layout_lights)

    if max(n_entries, n_texels, n_cells) >= 2**31:
        raise ValueError("the layouts' tables need more than 2**31 rows; use larger cells or fewer distinct layouts")

    def to(tensors, dtype):
        joined = torch.cat(tensors) if tensors[0].ndim else torch.stack(tensors)
        return joined.to(device=device, dtype=dtype).contiguous()

    return LayoutTables(
        grids=to([g[None] for g in grids], torch.float32),
        grid_shapes=to([s[None] for s in shapes], torch.int32),
        cell_starts=to(cell_starts, torch.int32),
        entry_lines=to(entry_lines, torch.float32),
        entry_ids=to(entry_ids, torch.int32),
        walls=to(walls, torch.float32),
        wall_texels=to(wall_texels, torch.int32),
        wall_bases=torch.tensor([*wall_bases, n_walls], dtype=torch.int32, device=device),
        texels=to(texels, torch.float32),
        texel_walls=to(texel_walls, torch.int32),
        texel_bases=torch.tensor(texel_bases, dtype=torch.int32, device=device),
        lights=to(lights, torch.float32),
        light_ranges=to([r[None] for r in light_ranges], torch.int32),
        env_layout=layouts.env_layout.to(device=device, dtype=torch.int32).contiguous(),
        line_starts=layouts.line_starts.contiguous(),
        env_texel_starts=layouts.env_texel_starts.contiguous(),
        body_texels=body_texels.to(device=device, dtype=torch.int32).contiguous(),
        layouts=layouts,
        max_walls=int(max(b - a for a, b in zip(wall_bases, [*wall_bases[1:], n_walls]))),
    )
