"""Occupancy masks: free space, walls and rooms rasterised on a grid of square cells.

A mask is an ``(H, W)`` array over cells of side ``resolution`` metres whose
cell ``[0, 0]`` has its lowest corner at ``origin``; cell ``[i, j]`` covers
``x`` from ``origin[0] + j * resolution`` and ``y`` from ``origin[1] + i * resolution``
(rows are y, columns are x, as in :class:`megastep_core.Geometry`). A cell
belongs to a shape when its centre does. Everything here is shapely and numpy.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import shapely

DEFAULT_RESOLUTION = 0.1
"""Metres per mask cell."""

MIN_FREE_WIDTH = 0.2
"""Metres: a region enclosed by walls but narrower than this everywhere is taken
for the inside of a thick wall (the space between a wall's two outline sides),
not for free space."""


def grid(lo, hi, resolution: float = DEFAULT_RESOLUTION, pad: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """A grid that covers the box from ``lo`` to ``hi`` with ``pad`` spare cells on each side.

    :param lo: ``(2,)`` metres, the lowest ``(x, y)`` corner to cover.
    :param hi: ``(2,)`` metres, the highest corner.
    :returns: ``origin`` ``(2,)`` float32 metres (a multiple of ``resolution``)
        and ``shape`` ``(H, W)``.
    """
    if not resolution > 0:
        raise ValueError(f"resolution must be positive metres, got {resolution}")
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    first = np.floor(lo / resolution + 1e-6) - pad
    last = np.ceil(hi / resolution - 1e-6) + pad
    shape = (int(last[1] - first[1]), int(last[0] - first[0]))
    return (first * resolution).astype(np.float32), shape


def cell_centres(shape: tuple[int, int], origin, resolution: float) -> np.ndarray:
    """``(H, W, 2)`` float64: the ``(x, y)`` metres of every cell's centre."""
    rows, cols = shape
    origin = np.asarray(origin, np.float64)
    xs = origin[0] + (np.arange(cols) + 0.5) * resolution
    ys = origin[1] + (np.arange(rows) + 0.5) * resolution
    return np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1)


def cells_to_metres(cells, origin, resolution: float) -> np.ndarray:
    """``(..., 2)`` integer ``(i, j)`` cells to the ``(..., 2)`` ``(x, y)`` metres of their centres."""
    cells = np.asarray(cells)
    return (cells[..., ::-1] + 0.5) * resolution + np.asarray(origin, np.float64)


def metres_to_cells(points, origin, resolution: float) -> np.ndarray:
    """``(..., 2)`` ``(x, y)`` metres to the ``(..., 2)`` integer ``(i, j)`` cells that hold them."""
    points = np.asarray(points, np.float64)
    return np.floor((points - np.asarray(origin, np.float64)) / resolution).astype(np.int64)[..., ::-1]


def rasterize(shape_geometry, shape: tuple[int, int], origin, resolution: float) -> np.ndarray:
    """``(H, W)`` bool: the cells whose centres lie inside a shapely (multi)polygon."""
    centres = cell_centres(shape, origin, resolution)
    shapely.prepare(shape_geometry)
    return shapely.contains_xy(shape_geometry, centres[..., 0], centres[..., 1])


def rasterize_boxes(boxes, shape: tuple[int, int], origin, resolution: float) -> np.ndarray:
    """``(H, W)`` bool: the cells whose centres lie inside any of some axis-aligned boxes.

    The same cells :func:`rasterize` gives for the union of the boxes, without
    building that union: for axis-aligned plans this is exact and much faster.

    :param boxes: ``(N, 4)`` metres, each ``(x_min, y_min, x_max, y_max)``.
    """
    mask = np.zeros(shape, dtype=bool)
    origin = np.asarray(origin, np.float64)
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        # centre c_j = origin + (j + 0.5) r lies strictly inside (x0, x1)
        j0 = max(int(np.floor((x0 - origin[0]) / resolution - 0.5)) + 1, 0)
        j1 = int(np.ceil((x1 - origin[0]) / resolution - 0.5))
        i0 = max(int(np.floor((y0 - origin[1]) / resolution - 0.5)) + 1, 0)
        i1 = int(np.ceil((y1 - origin[1]) / resolution - 0.5))
        if j1 > j0 and i1 > i0:
            mask[i0:i1, j0:j1] = True
    return mask


def free_space(walls, min_width: float = MIN_FREE_WIDTH, solids=None):
    """The free space that walls enclose, as a shapely (multi)polygon.

    The walls are cut into the faces of their arrangement; the faces at least
    ``min_width`` wide somewhere are free space; the thinner ones are the
    insides of thick walls drawn as outlines. Space outside the outermost
    walls is not free: it is not enclosed. Lines alone cannot tell a room from
    a solid block drawn as a closed outline (a pillar, say): pass such blocks
    as ``solids``.

    :param walls: ``(W, 2, 2)`` metres.
    :param solids: an optional shapely geometry to take out of the free space.
    """
    walls = np.asarray(walls, np.float64).reshape(-1, 2, 2)
    noded = shapely.node(shapely.multilinestrings(shapely.linestrings(walls)))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return shapely.Polygon()
    eroded = shapely.buffer(faces, -min_width / 2, quad_segs=1, join_style="mitre")
    free = shapely.union_all(faces[~shapely.is_empty(eroded)])
    return free if solids is None else shapely.difference(free, solids)


def free_mask(walls, resolution: float = DEFAULT_RESOLUTION, solids=None) -> tuple[np.ndarray, np.ndarray]:
    """Rasterises :func:`free_space` on a grid that covers the walls.

    :param walls: ``(W, 2, 2)`` metres.
    :param solids: an optional shapely geometry that is not free space.
    :returns: ``mask`` ``(H, W)`` bool and its ``origin`` ``(2,)`` metres.
    """
    walls = np.asarray(walls, np.float64).reshape(-1, 2, 2)
    points = walls.reshape(-1, 2)
    origin, shape = grid(points.min(0), points.max(0), resolution)
    return rasterize(free_space(walls, solids=solids), shape, origin, resolution), origin


def wall_mask(walls, shape: tuple[int, int], origin, resolution: float) -> np.ndarray:
    """``(H, W)`` bool: the cells that any wall line crosses or touches, or whose centre is inside a thick wall."""
    walls = np.asarray(walls, np.float64).reshape(-1, 2, 2)
    rows, cols = shape
    origin = np.asarray(origin, np.float64)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x0, y0 = origin[0] + j.ravel() * resolution, origin[1] + i.ravel() * resolution
    cells = shapely.box(x0, y0, x0 + resolution, y0 + resolution)
    tree = shapely.STRtree(cells)
    lines = shapely.linestrings(walls)
    touched = np.zeros(rows * cols, dtype=bool)
    touched[np.unique(tree.query(lines, predicate="intersects")[1])] = True
    # the inside of a wall drawn as an outline: enclosed, but not free space
    noded = shapely.node(shapely.multilinestrings(lines))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces):
        thin = faces[shapely.is_empty(shapely.buffer(faces, -MIN_FREE_WIDTH / 2, quad_segs=1, join_style="mitre"))]
        inside = rasterize(shapely.union_all(thin), shape, origin, resolution) if len(thin) else None
        if inside is not None:
            touched |= inside.ravel()
    return touched.reshape(shape)


def room_labels(rooms: Sequence, shape: tuple[int, int], origin, resolution: float) -> np.ndarray:
    """``(H, W)`` int32: the index of the room whose polygon holds each cell's centre, or -1.

    :param rooms: shapely polygons, one per room; where rooms overlap the later one wins.
    """
    labels = np.full(shape, -1, dtype=np.int32)
    for index, room in enumerate(rooms):
        labels[rasterize(room, shape, origin, resolution)] = index
    return labels


def wall_distances(points, walls, chunk: int = 4096) -> np.ndarray:
    """``(N,)`` float64 metres from each of ``(N, 2)`` points to the nearest of ``(W, 2, 2)`` walls."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    walls = np.asarray(walls, np.float64).reshape(-1, 2, 2)
    start, direction = walls[:, 0], walls[:, 1] - walls[:, 0]
    squared = np.maximum((direction**2).sum(-1), 1e-18)
    out = np.empty(len(points))
    for first in range(0, len(points), chunk):
        offsets = points[first : first + chunk, None, :] - start  # (n, W, 2)
        along = np.clip((offsets * direction).sum(-1) / squared, 0.0, 1.0)
        gaps = offsets - along[..., None] * direction
        out[first : first + chunk] = np.sqrt((gaps**2).sum(-1).min(-1))
    return out


def clear_points(points, walls, clearance: float) -> np.ndarray:
    """``(N,)`` bool: which of ``(N, 2)`` points (metres) are more than ``clearance`` metres from every wall."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    tree = shapely.STRtree(shapely.linestrings(np.asarray(walls, np.float64).reshape(-1, 2, 2)))
    near = tree.query(shapely.points(points), predicate="dwithin", distance=clearance)[0]
    keep = np.ones(len(points), dtype=bool)
    keep[near] = False
    return keep


def clear_mask(mask: np.ndarray, origin, resolution: float, walls, clearance: float) -> np.ndarray:
    """``(H, W)`` bool: the True cells of ``mask`` whose centres are more than ``clearance`` metres from every wall.

    The same answer as :func:`clear_points` on the cell centres, without
    measuring every cell against every wall: only the cells in a wall's
    bounding box grown by ``clearance`` can be too close to it, so each wall is
    measured against that window of cells alone, all windows at once.
    """
    out = np.array(mask, dtype=bool, copy=True)
    rows, cols = out.shape
    origin = np.asarray(origin, np.float64)
    walls = np.asarray(walls, np.float64).reshape(-1, 2, 2)
    low, high = walls.min(1) - clearance, walls.max(1) + clearance
    c0 = np.clip(np.floor((low[:, 0] - origin[0]) / resolution - 0.5).astype(np.int64), 0, cols)
    c1 = np.clip(np.ceil((high[:, 0] - origin[0]) / resolution - 0.5).astype(np.int64) + 1, 0, cols)
    r0 = np.clip(np.floor((low[:, 1] - origin[1]) / resolution - 0.5).astype(np.int64), 0, rows)
    r1 = np.clip(np.ceil((high[:, 1] - origin[1]) / resolution - 0.5).astype(np.int64) + 1, 0, rows)
    widths = np.maximum(c1 - c0, 0)
    sizes = widths * np.maximum(r1 - r0, 0)
    # one (wall, cell) pair per cell of each wall's window
    wall = np.repeat(np.arange(len(walls)), sizes)
    offset = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    row = r0[wall] + offset // np.maximum(widths[wall], 1)
    col = c0[wall] + offset % np.maximum(widths[wall], 1)
    x = origin[0] + (col + 0.5) * resolution - walls[wall, 0, 0]
    y = origin[1] + (row + 0.5) * resolution - walls[wall, 0, 1]
    dx, dy = walls[wall, 1, 0] - walls[wall, 0, 0], walls[wall, 1, 1] - walls[wall, 0, 1]
    t = np.clip((x * dx + y * dy) / np.maximum(dx * dx + dy * dy, 1e-18), 0.0, 1.0)
    near = (x - t * dx) ** 2 + (y - t * dy) ** 2 <= clearance * clearance
    out[row[near], col[near]] = False
    return out


def free_cell_centres(mask: np.ndarray, origin, resolution: float) -> np.ndarray:
    """``(N, 2)`` float64 metres: the centres of the True cells of a mask, row by row."""
    cells = np.argwhere(mask)
    return cells_to_metres(cells, origin, resolution)


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels the 4-connected components of a bool mask.

    :returns: ``(H, W)`` int32 labels (-1 off the mask, 0 .. n-1 on it) and ``n``.
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    labels = np.full(mask.shape, -1, dtype=np.int32)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start] >= 0:
            continue
        labels[start] = count
        queue = deque([start])
        while queue:
            i, j = queue.popleft()
            for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 <= a < rows and 0 <= b < cols and mask[a, b] and labels[a, b] < 0:
                    labels[a, b] = count
                    queue.append((a, b))
        count += 1
    return labels, count
