"""The static walls of a scenery, arranged once for a physics: what any physics needs to find the walls near an agent.

Envs built from the same geometry share their walls (``scenery.geometry_ids``),
so walls are stored once per geometry, not once per env: 65,536 envs of 64
layouts need 64 copies, not 65,536. Each wall is kept as its first end point
``a``, its unit direction ``u`` and its length, which is what the swept-disc
test reads; the torch code and the CUDA kernels read these same numbers.

**The grid.** An agent whose move is ``|d|`` long can only touch walls within
``|d| + r + margin`` of where it starts. Each geometry gets a uniform grid of
square cells (:data:`CELL` metres); each cell lists the walls within
:data:`REACH` metres of any point in it (found as the walls within ``REACH +
CELL / sqrt(2)`` of its centre, a superset). An agent in a cell whose reach is
at most ``REACH`` tests only that list, typically a tenth of its home's walls;
an agent outside every cell is farther than ``REACH`` from every wall; an agent
that reaches farther tests all walls of its geometry. If the lists would hold
more than :data:`MAX_GRID_ENTRIES` entries (many distinct geometries), no grid
is built and every agent tests every wall.

A scenery's walls are static (only the agents' body lines move), so a table is
built at a scenery's first step and reused while its tensors stay the same
(:class:`WallCache`). :func:`walls_near` reads the grid: the walls each agent
must test this step. This lives in ``megastep-core`` so that a third party can
write a physics against it alone (see the physics tutorial); the built-in
``stop`` and ``slide`` physics and their CUDA kernels read these same tables.
"""
from __future__ import annotations

import math
import weakref

import attrs
import torch

from .layouts import layout_index
from .state import Scenery

CELL = 0.5
"""Metres, the side of a grid cell."""

REACH = 0.75
"""Metres: each cell lists the walls this close to any of its points."""

MAX_GRID_ENTRIES = 1 << 24
"""The most (cell, wall) entries a grid may hold (64 MiB); beyond it every agent tests every wall."""


@attrs.define(eq=False)
class WallTable:
    """The static walls of every geometry in a scenery, and their grid.

    ``G`` geometries with ``W_g`` walls each, ``N`` walls in all, at most ``W``
    in one geometry; ``C`` grid cells in all, ``M`` (cell, wall) entries.

    :ivar env_geometry: ``(E,)`` int64, the geometry index (0 to ``G - 1``) of each env.
    :ivar walls: ``(N, 4)`` float32 ``(ax, ay, ux, uy)``: first end point (metres) and unit
        direction of every wall, geometry 0's first.
    :ivar lengths: ``(N,)`` float32 metres.
    :ivar geometry_starts: ``(G + 1,)`` int64, where each geometry's walls start in ``walls``.
    :ivar max_walls: ``W``.
    :ivar env_order: ``(E,)`` int32, the envs sorted by geometry: kernels walk envs in this
        order so that the threads of a warp read the same walls at the same time.
    :ivar has_grid: False when the grid would have been too large (see the module docstring).
    :ivar grid_origins: ``(G, 2)`` float32 metres, the low corner of each geometry's grid.
    :ivar grid_shapes: ``(G, 2)`` int64, cells along x and along y.
    :ivar grid_starts: ``(G,)`` int64, the index of each geometry's first cell.
    :ivar cell_starts: ``(C + 1,)`` int64, where each cell's list starts in ``cell_walls``.
    :ivar cell_walls: ``(M,)`` int64, indices into ``walls``.
    :ivar max_cell_walls: the longest list.
    :ivar cell: metres, the side of a cell.
    :ivar reach: metres, the farthest reach a cell's list serves.
    """

    env_geometry: torch.Tensor
    walls: torch.Tensor
    lengths: torch.Tensor
    geometry_starts: torch.Tensor
    max_walls: int
    env_order: torch.Tensor
    has_grid: bool
    grid_origins: torch.Tensor
    grid_shapes: torch.Tensor
    grid_starts: torch.Tensor
    cell_starts: torch.Tensor
    cell_walls: torch.Tensor
    max_cell_walls: int
    cell: float = CELL
    reach: float = REACH

    @property
    def n_geometries(self) -> int:
        return len(self.geometry_starts) - 1

    @classmethod
    def build(cls, scenery: Scenery, cell: float = CELL, reach: float = REACH) -> WallTable:
        """Gathers the walls of one env per geometry and grids them. Synchronises; call once per scenery."""
        lines = scenery.lines
        device = lines.vals.device
        layouts = layout_index(scenery)
        env_geometry, n_geometries = layouts.env_layout, layouts.n_layouts
        # the first env of each geometry stands for all of them
        first_env = layouts.representatives

        n_walls = lines.widths - scenery.n_body_lines
        if bool((n_walls < 1).any()):
            bad = torch.nonzero(n_walls < 1).flatten()[:5].tolist()
            raise ValueError(
                f"scenery envs {bad} have no static walls: each env needs more than "
                f"n_body_lines={scenery.n_body_lines} lines"
            )
        per_geometry = n_walls[first_env]
        if not bool((n_walls == per_geometry[env_geometry]).all()):
            raise ValueError("scenery.geometry_ids gives equal ids to envs with different numbers of walls")

        # every wall of every geometry, packed: wall k of geometry g is line starts[first_env[g]] + A*M + k
        geometry_starts = torch.cat([per_geometry.new_zeros(1), per_geometry.cumsum(0)])
        wall_geometry = torch.repeat_interleave(torch.arange(n_geometries, device=device), per_geometry)
        local = torch.arange(len(wall_geometry), device=device) - geometry_starts[wall_geometry]
        segments = lines.vals[lines.starts[first_env][wall_geometry] + scenery.n_body_lines + local].float()
        origins, delta = segments[:, 0], segments[:, 1] - segments[:, 0]
        lengths = torch.linalg.vector_norm(delta, dim=-1)
        if bool((lengths <= 0).any()):
            raise ValueError("scenery has a wall of zero length; the physics cannot tell which side it faces")
        directions = delta / lengths[:, None]
        walls = torch.cat([origins, directions], -1).contiguous()

        grid = _build_grid(segments, wall_geometry, n_geometries, cell, reach)
        return cls(
            env_geometry=env_geometry,
            walls=walls,
            lengths=lengths.contiguous(),
            geometry_starts=geometry_starts.contiguous(),
            max_walls=int(per_geometry.max()),
            env_order=layouts.env_order.int().contiguous(),
            cell=cell,
            reach=reach,
            **grid,
        )


def _build_grid(segments: torch.Tensor, wall_geometry: torch.Tensor, n_geometries: int, cell: float, reach: float):
    """The grid of the module docstring, as keyword arguments of :class:`WallTable`."""
    device = segments.device
    points = segments.reshape(-1, 2)
    owner = wall_geometry.repeat_interleave(2)
    big = torch.full((n_geometries, 2), math.inf, device=device)
    low = big.scatter_reduce(0, owner[:, None].expand(-1, 2), points, "amin") - reach
    high = (-big).scatter_reduce(0, owner[:, None].expand(-1, 2), points, "amax") + reach
    shapes = torch.ceil((high - low) / cell).long().clamp(min=1)  # (G, 2)
    cells_per_geometry = shapes[:, 0] * shapes[:, 1]
    grid_starts = torch.cat([cells_per_geometry.new_zeros(1), cells_per_geometry.cumsum(0)])
    n_cells = int(grid_starts[-1])

    # each wall's candidate cells: its bounding box grown by the covering radius
    cover = reach + cell * math.sqrt(0.5)
    g_low = low[wall_geometry]
    box_low = ((segments.amin(1) - cover - g_low) / cell).floor().long()
    box_high = ((segments.amax(1) + cover - g_low) / cell).floor().long()
    box_low = box_low.clamp(min=0).minimum(shapes[wall_geometry] - 1)
    box_high = box_high.clamp(min=0).minimum(shapes[wall_geometry] - 1)
    span = box_high - box_low + 1  # (N, 2)
    counts = span[:, 0] * span[:, 1]
    empty = dict(
        has_grid=False, grid_origins=low.contiguous(), grid_shapes=shapes.contiguous(),
        grid_starts=grid_starts[:-1].contiguous(), cell_starts=torch.zeros(1, dtype=torch.long, device=device),
        cell_walls=torch.zeros(1, dtype=torch.long, device=device), max_cell_walls=0,
    )
    if int(counts.sum()) > 4 * MAX_GRID_ENTRIES or n_cells > MAX_GRID_ENTRIES:
        return empty
    wall = torch.repeat_interleave(torch.arange(len(segments), device=device), counts)
    k = torch.arange(len(wall), device=device) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    ix = box_low[wall, 0] + k % span[wall, 0]
    iy = box_low[wall, 1] + k // span[wall, 0]
    geometry = wall_geometry[wall]
    centre = low[geometry] + (torch.stack([ix, iy], -1).to(low.dtype) + 0.5) * cell
    a, b = segments[wall, 0], segments[wall, 1]
    e = b - a
    along = (((centre - a) * e).sum(-1) / (e * e).sum(-1)).clamp(0, 1)
    distance = torch.linalg.vector_norm(centre - (a + along[:, None] * e), dim=-1)
    keep = distance <= cover
    if int(keep.sum()) > MAX_GRID_ENTRIES:
        return empty
    wall, cell_index = wall[keep], (grid_starts[geometry] + iy * shapes[geometry, 0] + ix)[keep]
    order = torch.argsort(cell_index * len(segments) + wall)
    wall, cell_index = wall[order], cell_index[order]
    per_cell = torch.bincount(cell_index, minlength=n_cells)
    cell_starts = torch.cat([per_cell.new_zeros(1), per_cell.cumsum(0)])
    return dict(
        has_grid=True, grid_origins=low.contiguous(), grid_shapes=shapes.contiguous(),
        grid_starts=grid_starts[:-1].contiguous(), cell_starts=cell_starts.contiguous(),
        cell_walls=wall.contiguous(), max_cell_walls=int(per_cell.max()) if n_cells else 0,
    )


def _fingerprint(scenery: Scenery) -> tuple:
    lines = scenery.lines
    return (
        lines.vals.data_ptr(), tuple(lines.vals.shape), lines.widths.data_ptr(), scenery.geometry_ids.data_ptr(),
        scenery.n_body_lines, lines.vals.device,
    )


class WallCache:
    """Keeps one :class:`WallTable` per live scenery, rebuilt if the scenery's tensors are replaced."""

    def __init__(self, cell: float = CELL, reach: float = REACH):
        self.cell, self.reach = cell, reach
        self._tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, scenery: Scenery) -> WallTable:
        key = _fingerprint(scenery)
        found = self._tables.get(scenery)
        if found is not None and found[0] == key:
            return found[1]
        table = WallTable.build(scenery, self.cell, self.reach)
        self._tables[scenery] = (key, table)
        return table


CHUNK_ELEMENTS = 1 << 22
"""Agent-wall pairs examined at once; bounds the memory of the wall test at large batches."""

REACH_SLACK = 1e-4
"""Metres kept back from a cell list's reach, for rounding in locating an agent's cell."""


@attrs.define(eq=False)
class WallGroup:
    """Some agents and, for each, the walls it may touch.

    :ivar agents: ``(n,)`` int64 flat agent indices, or None for all ``N`` agents in order.
    :ivar index: ``(n, K)`` int64 indices into ``WallTable.walls``; -1 pads.
    :ivar ax, ay, ux, uy, length: ``(n, K)`` float32, those walls' numbers (see ``WallTable``).
    """

    agents: torch.Tensor | None
    index: torch.Tensor
    ax: torch.Tensor
    ay: torch.Tensor
    ux: torch.Tensor
    uy: torch.Tensor
    length: torch.Tensor

    @classmethod
    def gather(cls, walls: WallTable, agents: torch.Tensor | None, index: torch.Tensor) -> WallGroup:
        safe = index.clamp(min=0)
        data = walls.walls[safe]  # (n, K, 4)
        return cls(agents, index, data[..., 0], data[..., 1], data[..., 2], data[..., 3], walls.lengths[safe])


def walls_near(
    walls: WallTable, positions: torch.Tensor, geometry: torch.Tensor, reach: torch.Tensor
) -> list[WallGroup]:
    """The walls every agent must test: its grid cell's list, or all walls of its geometry.

    Agents are handled flat here: ``N = E * A`` agents, each with its env's geometry
    (``walls.env_geometry.repeat_interleave(A)``). Synchronises the device once (to size the lists).

    :param positions: ``(N, 2)`` metres, where each agent starts.
    :param geometry: ``(N,)`` int64, each agent's geometry index.
    :param reach: ``(N,)`` metres, how far from its start each agent may touch a wall.
    :returns: a list of :class:`WallGroup`, each agent in exactly one.
    """
    n = len(positions)
    device = positions.device
    if walls.has_grid:
        origin = walls.grid_origins[geometry]
        shape = walls.grid_shapes[geometry]
        ij = torch.floor((positions - origin) / walls.cell).long()
        inside = ((ij >= 0) & (ij < shape)).all(-1)
        near = reach <= walls.reach - REACH_SLACK
        cell = walls.grid_starts[geometry] + ij[:, 1].clamp(min=0) * shape[:, 0] + ij[:, 0].clamp(min=0)
        cell = cell.masked_fill_(~inside, 0)
        start = walls.cell_starts[cell]
        # outside the grid an agent is farther than the grid's reach from every wall: no candidates
        count = (walls.cell_starts[cell + 1] - start).masked_fill_(~(inside & near), 0)
        longest, n_far = torch.stack([count.max(), (~near).sum()]).tolist()
    else:
        near = torch.zeros(n, dtype=torch.bool, device=device)
        longest, n_far = 0, n

    groups = []
    if n_far < n:
        slot = torch.arange(max(longest, 1), device=device)
        entries = (start[:, None] + slot).clamp(max=len(walls.cell_walls) - 1)
        index = walls.cell_walls[entries].masked_fill_(slot >= count[:, None], -1)
        agents = None if n_far == 0 else torch.nonzero(near).flatten()
        groups += _chunks(walls, agents, index if agents is None else index[agents])
    if n_far > 0:
        agents = None if n_far == n else torch.nonzero(~near).flatten()
        own = geometry if agents is None else geometry[agents]
        slot = torch.arange(walls.max_walls, device=device)
        first, last = walls.geometry_starts[own], walls.geometry_starts[own + 1]
        index = first[:, None] + slot
        index = index.masked_fill_(index >= last[:, None], -1)
        groups += _chunks(walls, agents, index)
    return groups


def _chunks(walls: WallTable, agents: torch.Tensor | None, index: torch.Tensor) -> list[WallGroup]:
    size = max(1, CHUNK_ELEMENTS // index.shape[1])
    if len(index) <= size:
        return [WallGroup.gather(walls, agents, index)]
    if agents is None:
        agents = torch.arange(len(index), device=index.device)
    return [WallGroup.gather(walls, agents[i : i + size], index[i : i + size]) for i in range(0, len(index), size)]
