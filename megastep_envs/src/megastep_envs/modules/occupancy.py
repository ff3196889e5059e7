"""Free space on the device: whether points lie in it, and how far apart points are through it.

Every distinct geometry's occupancy mask is padded to the largest and stacked
once into a ``(G, H, W)`` tensor, so that a lookup for every agent of every env
is one gather, with no host sync.

Geodesic distance
-----------------

How far an agent must walk from one point to another, around walls, is a
shortest path through the free cells of its env's mask. The cells form a graph:
each free cell is joined to its four side neighbours by steps of one cell
(``resolution`` metres) and to its four corner neighbours by steps of
``sqrt(2)`` cells where the 2 x 2 block the step crosses is all free (a step
never cuts the corner of an occupied cell). :func:`wavefront` finds the
shortest distance from a source to every cell of many such grids at once, by
relaxing every cell until nothing changes, in passes of whole-tensor
operations over ``(B, H, W)``, so that thousands of grids run together on a
GPU. A pass relaxes each cell against the cells 1, 2, 4, ... steps away along
each of the eight directions, where every step between is allowed; so a pass
follows a straight run of any length, and the passes needed are about the
turns of the longest shortest path, not its length in cells (a path of 300
cells needed 300 passes of single steps).

Between cells a point is joined to the cells around it by straight lines
(:meth:`OccupancyGrid.geodesic_distance`), so that two points in one open
stretch of a row, column or diagonal are exactly their straight-line distance
apart. Paths in other directions are the grid's eight-direction ones: up to
``1 / cos(22.5 degrees) - 1 = 8.2%`` longer than the straight line, the usual
error of an eight-connected grid (PointNav's geodesic distances, computed on
navigation meshes, are shorter by as much on open floors).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from megastep_core import Geometry

DIAGONAL = math.sqrt(2.0)
"""Cells a corner step covers."""

FIELD_CHUNK_CELLS = {"cpu": 2**20, "cuda": 2**24}
"""Most cells (fields times cells per field) relaxed together by :meth:`OccupancyGrid.geodesic_fields`, by
device type. On a GPU, a bound on memory: each of the four lines of steps keeps a cost per cell for each doubling
of its longest run (4 bytes each, up to about 150 bytes a cell for grids of 300 cells a side: 2.4 GiB). On a
CPU, about what its caches hold: chunks of a few fields relax faster than one chunk of every field."""

# the 3 x 3 block of cells around a point's own, as (row, column) offsets, its own cell first
_OFFSETS = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]

_AXES = [((0, 1), 1.0), ((1, 0), 1.0), ((1, 1), DIAGONAL), ((1, -1), DIAGONAL)]
"""The four lines of steps through a cell, as a (row, column) step and its length in cells; each is walked both
ways."""


def _shifted(s: int, step: tuple[int, int], height: int, width: int) -> tuple[tuple, tuple]:
    """Index tuples of ``(B, H, W)`` tensors: the cells ``p`` and the cells ``p - s * step``, where both lie in
    the grid."""
    def axis(offset: int, n: int) -> tuple[slice, slice]:
        kept = max(n - abs(offset), 0)  # none where the shift is the grid's extent or more
        return (slice(n - kept, n), slice(0, kept)) if offset >= 0 else (slice(0, kept), slice(n - kept, n))

    (rows, from_rows), (columns, from_columns) = axis(s * step[0], height), axis(s * step[1], width)
    return (slice(None), rows, columns), (slice(None), from_rows, from_columns)


def _runs(free: torch.Tensor, step: tuple[int, int]) -> list[torch.Tensor]:
    """``(B, H, W)`` bool masks, one per run length ``s = 1, 2, 4, ...`` up to the grid's extent: True at ``p``
    where the ``s`` steps from ``p - s * step`` to ``p`` are all allowed (a step joins two free cells and, on a
    diagonal, crosses a free 2 x 2 block)."""
    height, width = free.shape[1:]
    here, back = _shifted(1, step, height, width)
    # the step's block: its two ends, and for a diagonal the other two cells of the 2 x 2 block it crosses
    _, back_row = _shifted(1, (step[0], 0), height, width)
    _, back_column = _shifted(1, (0, step[1]), height, width)
    one = torch.zeros_like(free)
    rows, columns = here[1], here[2]
    one[here] = free[here] & free[back] & free[:, back_row[1], columns] & free[:, rows, back_column[2]]
    runs, s = [one], 1
    while 2 * s < max(height, width):
        longer = torch.zeros_like(free)
        target, source = _shifted(s, step, height, width)
        longer[target] = runs[-1][target] & runs[-1][source]
        runs.append(longer)
        s *= 2
    return runs


def wavefront(free: torch.Tensor, distances: torch.Tensor, max_passes: int | None = None) -> torch.Tensor:
    """Shortest distances through the free cells of ``B`` grids, in cells, from given starting distances.

    :param free: ``(B, H, W)`` bool, True where a cell is free. Cells on the border must be occupied (as
        :class:`OccupancyGrid`'s masks are), since neighbours are found by shifting.
    :param distances: ``(B, H, W)`` float, each cell's distance from the source where it is known (0 at a
        source cell, a fraction of a cell near a source point), ``inf`` elsewhere. Not modified.
    :param max_passes: stop after this many passes, converged or not; ``None`` runs until nothing
        changes (checked after every pass, which waits for the device).
    :returns: ``(B, H, W)`` float32: the distance of every cell along the shortest path of side steps (1)
        and corner steps (``sqrt(2)``, where the 2 x 2 block crossed is free), ``inf`` where no path reaches
        and on occupied cells.
    """
    if free.dim() != 3 or distances.shape != free.shape:
        raise ValueError(f"free and distances must both be (B, H, W), got {tuple(free.shape)} and "
                         f"{tuple(distances.shape)}")
    inf = torch.tensor(float("inf"), device=free.device)
    d = torch.where(free, distances.float(), inf)
    height, width = free.shape[1:]
    # each run of s = 2**level steps: the cells it ends at, the cells it starts from, and its length in cells where
    # all its steps are allowed (inf elsewhere); no longer runs than the longest straight stretch of free cells in
    # any grid. Laid out once: a pass walks every run both ways
    lines = []
    for step, length in _AXES:
        runs = []
        for level, allowed in enumerate(_runs(free, step)):
            if allowed.any():
                there, behind = _shifted(2**level, step, height, width)
                runs.append((there, behind, torch.where(allowed, 2**level * length, inf)[there]))
        lines.append(runs)
    longest = height * width  # no shortest path turns more often than it has cells
    limit = longest if max_passes is None else int(max_passes)
    previous = d.clone() if max_passes is None else None
    for _ in range(limit):
        for runs in lines:
            # doubling: after the runs of 1, 2, ..., s steps, a cell holds the best of the 2 s cells behind it
            for there, behind, cost in runs:  # from p - s step to p: the run ending at p
                torch.minimum(d[there], d[behind] + cost, out=d[there])
            for there, behind, cost in runs:  # from p to p - s step: the same run, walked back
                torch.minimum(d[behind], d[there] + cost, out=d[behind])
        if previous is not None:
            if torch.equal(previous, d):
                break
            previous.copy_(d)
    return d


class OccupancyGrid:
    """The free-space masks of a batch of geometries.

    :param geometries: one per env (repeats share one stored mask).
    :param device: where the tables live.
    :param clearance: metres: where positive, a cell is free only where its centre is this far from every wall
        (:func:`megastep_geometry.masks.clear_mask`): the cells an agent's centre can use with its body off the
        walls, for geodesic distances an agent of that radius can walk (a navigation mesh eroded by the agent's
        radius, as Habitat's). A point on an occupied cell is then joined to the free cells around it, since an
        agent touching a wall stands just outside the eroded free space; the erosion keeps the free cells on
        the two sides of a wall more than ``2 * clearance`` apart, so no join crosses a wall where
        ``2 * clearance`` exceeds the 3 x 3 block's reach (``1.5 * sqrt(2)`` cells).
    :ivar masks: ``(G, H + 2, W + 2)`` bool, True where a cell is free: each mask with a border of
        occupied cells around it, padded with occupied cells to the largest.
    :ivar env_geometry: ``(E,)`` int64, which mask each env uses.
    :ivar env_origins: ``(E, 2)`` metres, the corner of each env's mask cell ``[0, 0]``.
    :ivar env_resolutions: ``(E,)`` metres per cell of each env's mask.
    """

    def __init__(self, geometries: Sequence[Geometry], device="cpu", clearance: float = 0.0):
        if not (math.isfinite(clearance) and clearance >= 0):
            raise ValueError(f"clearance must be non-negative metres, got {clearance!r}")
        self.clearance = float(clearance)
        index: dict[int, int] = {}
        unique: list[Geometry] = []
        for geometry in geometries:
            if id(geometry) not in index:
                index[id(geometry)] = len(unique)
                unique.append(geometry)
        height = max(g.mask.shape[0] for g in unique)
        width = max(g.mask.shape[1] for g in unique)
        # a point off a mask clamps onto the border, which is occupied: no bounds to check per lookup
        masks = np.zeros((len(unique), height + 2, width + 2), dtype=bool)
        for g, geometry in enumerate(unique):
            mask = geometry.mask
            if self.clearance > 0:
                from megastep_geometry.masks import clear_mask

                mask = clear_mask(mask, geometry.origin, geometry.resolution, geometry.walls, self.clearance)
            masks[g, 1 : mask.shape[0] + 1, 1 : mask.shape[1] + 1] = mask
        self.geometries = unique
        self.masks = torch.as_tensor(masks, device=device)
        self.env_geometry = torch.as_tensor([index[id(g)] for g in geometries], dtype=torch.int64, device=device)
        self.env_origins = torch.as_tensor(np.stack([g.origin for g in geometries]), dtype=torch.float32,
                                           device=device)
        self.env_resolutions = torch.as_tensor([g.resolution for g in geometries], dtype=torch.float32,
                                               device=device)
        # the corner of each env's border cell [0, 0] of ``masks``, one cell before its mask's own
        self._env_corners = self.env_origins - self.env_resolutions[:, None]
        # (column, row) of the first and the far border cells: a point off its mask clamps onto the border
        self._cell_bounds = torch.tensor([[0.0, 0.0], [width + 1, height + 1]], device=device)
        offsets = torch.tensor(_OFFSETS, dtype=torch.int64, device=device)
        self._offsets = offsets  # (9, 2) rows and columns
        self._offset_is_corner = (offsets != 0).all(-1)  # (9,)

    @property
    def n_envs(self) -> int:
        return len(self.env_geometry)

    def _cells(self, points: torch.Tensor, envs: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E, ..., 2)`` metres to the ``(E, ...)`` int64 row and column of their cells in ``masks``."""
        cells = ((points - self._env_corners.view(*envs, 2)) / self.env_resolutions.view(*envs, 1)).floor_()
        column, row = cells.clamp_(*self._cell_bounds).long().unbind(-1)  # clamped as floats: no overflow
        return row, column

    def free(self, points: torch.Tensor) -> torch.Tensor:
        """``(E, ..., 2)`` metres to ``(E, ...)`` bool: True where a point lies in a free cell of its env's mask."""
        envs = (-1, *[1] * (points.dim() - 2))
        row, column = self._cells(points, envs)
        return self.masks[self.env_geometry.view(envs).expand(row.shape), row, column]

    # geodesic distances --------------------------------------------------------------------------

    def _around(self, points: torch.Tensor, geometry: torch.Tensor, envs: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The 3 x 3 cells around each point that a straight line from it may join.

        :param points: ``(N, 2)`` metres, in the grids of ``envs``.
        :param geometry: ``(N,)`` int64, the mask of each point.
        :param envs: ``(N,)`` int64, the env whose origin and resolution each point is measured in.
        :returns: the ``(N, 9)`` rows and columns of the cells, ``(N, 9)`` bool whether each is joined (it and
            the point's own cell free, and for a corner cell the 2 x 2 block between them free too), and the
            ``(N, 9)`` metres from the point to each cell's centre.
        """
        corners, resolution = self._env_corners[envs], self.env_resolutions[envs]
        cells = ((points - corners) / resolution[:, None]).floor_().clamp_(*self._cell_bounds).long()
        column, row = cells.unbind(-1)
        rows = (row[:, None] + self._offsets[:, 0]).clamp_(0, self.masks.shape[1] - 1)
        columns = (column[:, None] + self._offsets[:, 1]).clamp_(0, self.masks.shape[2] - 1)
        g = geometry[:, None]
        free = self.masks[g, rows, columns]  # the point's own cell first
        # a corner cell is joined only past its two side cells, which share the block with the point's cell;
        # without clearance a point on an occupied cell is joined to nothing (it would join the rooms on both
        # sides of a thin wall)
        side_row = self.masks[g, rows, column[:, None].expand_as(rows)]
        side_column = self.masks[g, row[:, None].expand_as(rows), columns]
        joined = free & (~self._offset_is_corner | (side_row & side_column))
        if self.clearance == 0:
            joined &= free[:, :1]
        centres = corners[:, None] + (torch.stack([columns, rows], -1).float() + 0.5) * resolution[:, None, None]
        return rows, columns, joined, (centres - points[:, None]).norm(dim=-1)

    def geodesic_fields(self, sources: torch.Tensor, envs: torch.Tensor | None = None) -> torch.Tensor:
        """Distance fields: how far every cell of a mask is from a source point, through free space.

        Waits for the device (to tell when the wavefront has converged): call it when an env is built or
        between steps, not inside one.

        :param sources: ``(N, 2)`` metres, one point per field.
        :param envs: ``(N,)`` int64, the env whose mask (and origin and resolution) each source is in;
            default ``0, 1, ..., E - 1``.
        :returns: ``(N, H + 2, W + 2)`` float32 metres from each cell's centre to its source, ``inf`` where no
            path reaches and on occupied cells. A cell beside the source holds the straight-line distance.
        """
        envs = torch.arange(self.n_envs, device=sources.device) if envs is None else envs.long()
        if sources.dim() != 2 or sources.shape[-1] != 2 or envs.shape != sources.shape[:1]:
            raise ValueError(f"sources must be (N, 2) metres with envs (N,), got {tuple(sources.shape)} and "
                             f"{tuple(envs.shape)}")
        height, width = self.masks.shape[1:]
        fields = torch.empty(len(sources), height, width, device=self.masks.device)
        budget = FIELD_CHUNK_CELLS.get(fields.device.type, FIELD_CHUNK_CELLS["cuda"])
        chunk = max(1, budget // (height * width))
        for first in range(0, len(sources), chunk):
            part = slice(first, first + chunk)
            geometry = self.env_geometry[envs[part]]
            rows, columns, joined, metres = self._around(sources[part].float(), geometry, envs[part])
            resolution = self.env_resolutions[envs[part]]
            start = torch.full((len(geometry), height, width), float("inf"), device=fields.device)
            # the cells a straight line joins to the source start at that line's length, in cells
            fill = torch.where(joined, metres / resolution[:, None], float("inf"))
            index = torch.arange(len(geometry), device=fields.device)[:, None].expand_as(rows)
            start.index_put_((index, rows, columns), fill)
            # the point's own cell is listed once, first; no other offset lands on it, so no write races
            cells = wavefront(self.masks[geometry], start)
            fields[part] = cells * resolution[:, None, None]
        return fields

    def geodesic_lookup(self, fields: torch.Tensor, field_ids: torch.Tensor, points: torch.Tensor,
                        sources: torch.Tensor) -> torch.Tensor:
        """How far points are from their fields' sources, through free space, without waiting for the device.

        A point is joined by a straight line to the cells around it (:meth:`_around`), and to the source
        itself where the source's cell is one of those: its distance is the shortest of those lines plus the
        field at their end.

        :param fields: ``(F, H + 2, W + 2)`` metres, from :meth:`geodesic_fields` (of these envs' masks).
        :param field_ids: ``(E,)`` int64, which field each env's points are measured in.
        :param points: ``(E, ..., 2)`` metres.
        :param sources: ``(E, 2)`` metres, the source of each env's field.
        :returns: ``(E, ...)`` float32 metres, ``inf`` where no path joins a point to its source.
        """
        n_envs = points.shape[0]
        shape = points.shape[:-1]
        flat = points.reshape(n_envs, -1, 2)
        per_env = flat.shape[1]
        envs = torch.arange(n_envs, device=points.device).repeat_interleave(per_env)
        geometry = self.env_geometry.repeat_interleave(per_env)
        rows, columns, joined, metres = self._around(flat.reshape(-1, 2).float(), geometry, envs)
        field = field_ids.long().repeat_interleave(per_env)[:, None].expand_as(rows)
        through = torch.where(joined, fields[field, rows, columns] + metres, float("inf")).amin(-1)
        # the source is in sight where its cell is one of the joined ones
        source_rows, source_columns = self._cells(sources.float(), (-1,))
        sees = joined & (rows == source_rows.repeat_interleave(per_env)[:, None]) & (
            columns == source_columns.repeat_interleave(per_env)[:, None])
        straight = (flat - sources[:, None].float()).norm(dim=-1).reshape(-1)
        direct = torch.where(sees.any(-1), straight, float("inf"))
        return torch.minimum(through, direct).reshape(shape)

    def geodesic_distance(self, points: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """How far points of each env are from that env's goal through its free space, in metres.

        Builds one field per env (:meth:`geodesic_fields`, which waits for the device): for many lookups
        against the same goals, keep the fields and use :meth:`geodesic_lookup`.

        :param points: ``(E, ..., 2)`` metres.
        :param goals: ``(E, 2)`` metres.
        :returns: ``(E, ...)`` float32 metres, ``inf`` where a point cannot reach its goal.
        """
        if goals.shape != (self.n_envs, 2) or points.shape[0] != self.n_envs or points.shape[-1] != 2:
            raise ValueError(f"points must be ({self.n_envs}, ..., 2) and goals ({self.n_envs}, 2) metres, got "
                             f"{tuple(points.shape)} and {tuple(goals.shape)}")
        fields = self.geodesic_fields(goals)
        return self.geodesic_lookup(fields, torch.arange(self.n_envs, device=goals.device), points, goals)
