"""Procedural floor plans of homes, one per ``(seed, index)``.

A plan is drawn on a grid of decimetres, so that every wall, door and room
edge lies on an integer and nothing depends on floating-point ties:

1. the footprint, 8-18 m a side, is cut into rooms by recursive splits (a
   binary space partition), rooms of 5-25 m²; often a corridor 1.0-1.4 m wide
   is cut first through the bedroom half of the home, which the living half
   then meets end on;
2. a corner room may be taken away, which leaves an L- or U-shaped home;
3. some neighbouring rooms are joined into L-shaped rooms, and some are
   opened into each other through a wide arch (open-plan living areas);
4. doors 0.8-1.0 m wide join the rooms along a random spanning tree of their
   neighbour graph (so every room can be reached), plus a few extra doors;
5. walls are the borders between different rooms and between a room and the
   outside, 10 cm thick and drawn as outlines; each room gets a light at the
   centre of each of its parts.

A plan whose wall lines fall outside :data:`WALL_LINES` or whose rooms cannot
all be joined is thrown away and drawn again from the same random stream, so
the result is still a function of ``(seed, index)`` alone.
"""
from __future__ import annotations

import attrs
import numpy as np
import shapely

from megastep_core import Geometry

from .masks import DEFAULT_RESOLUTION, grid, rasterize_boxes
from .walls import WALL_THICKNESS, outline

DM = 0.1
"""Metres per plan grid step."""

FOOTPRINT = (80, 180)
"""Decimetres: the range of the home's width and depth."""

MIN_SIDE = 24
"""Decimetres: no room is narrower than this (corridors excepted)."""

CORRIDOR = (10, 14)
"""Decimetres: the range of corridor widths."""

DOOR = (9, 11)
"""Decimetres: the range of door gaps between wall centre lines (the clear
opening is one wall thickness less: 0.8-1.0 m)."""

DOOR_MARGIN = 3
"""Decimetres of wall kept on each side of a door."""

WALL_LINES = (88, 368)
"""The range of wall lines a home may have, as in the benchmark layouts."""

MAX_TRIES = 50

OFFSET = 0.025
"""Metres the plan is shifted by in x and y, so that no wall outline runs exactly
through the centres of a row of 10 cm mask cells: the mask then does not depend
on how float32 rounding breaks ties."""


@attrs.define(eq=False)
class Home:
    """One procedural home and what it was made of.

    :ivar geometry: the validated :class:`~megastep_core.Geometry`.
    :ivar rooms: one shapely polygon per room, the area between its walls' centre lines, in metres.
    :ivar doors: ``(D, 2, 2)`` metres, the centre line of each door gap and arch.
    """

    geometry: Geometry
    rooms: list
    doors: np.ndarray


def _split(rng, rect, target: float, rooms: list, across: int | None = None) -> None:
    """Cuts ``rect`` (x0, y0, x1, y1 decimetres) into rooms of about ``target`` m² or less."""
    x0, y0, x1, y1 = rect
    width, depth = x1 - x0, y1 - y0
    if width * depth / 100 <= rng.uniform(0.6, 1.4) * target or max(width, depth) < 2 * MIN_SIDE:
        rooms.append(rect)
        return
    can = [width >= 2 * MIN_SIDE, depth >= 2 * MIN_SIDE]
    if across is not None and can[across] and rng.random() < 0.8:
        axis = across  # cut across a strip, so that its rooms all reach its long side
    elif all(can):
        longer = 0 if width >= depth else 1
        axis = longer if rng.random() < 0.8 else 1 - longer
    else:
        axis = 0 if can[0] else 1
    low, high = (x0, x1) if axis == 0 else (y0, y1)
    cut = int(rng.integers(low + MIN_SIDE, high - MIN_SIDE + 1))
    first, second = ((x0, y0, cut, y1), (cut, y0, x1, y1)) if axis == 0 else ((x0, y0, x1, cut), (x0, cut, x1, y1))
    _split(rng, first, target, rooms, across)
    _split(rng, second, target, rooms, across)


def _layout(rng) -> tuple[list[tuple[int, int, int, int]], int | None, tuple[int, int]]:
    """Room rectangles in decimetres, the index of the corridor (or ``None``) and the footprint size."""
    width, depth = (int(v) for v in rng.integers(FOOTPRINT[0], FOOTPRINT[1] + 1, size=2))
    if max(width, depth) > 1.7 * min(width, depth):
        depth = int(min(FOOTPRINT[1], max(FOOTPRINT[0], round(width * rng.uniform(0.7, 1.3)))))
    rooms: list[tuple[int, int, int, int]] = []
    corridor = None
    long_axis = 0 if width >= depth else 1
    length = (width, depth)[long_axis]
    if rng.random() < 0.7:
        # a living zone across one end of the home, and bedrooms off a corridor in the rest
        zone = int(rng.integers(int(0.3 * length), int(0.5 * length) + 1))
        living_first = rng.random() < 0.5
        bounds = (0, zone, length) if living_first else (0, length - zone, length)
        living_span = (bounds[0], bounds[1]) if living_first else (bounds[1], bounds[2])
        night_span = (bounds[1], bounds[2]) if living_first else (bounds[0], bounds[1])
        cross = (depth, width)[long_axis]

        def rect(along: tuple[int, int], side: tuple[int, int]):
            return (along[0], side[0], along[1], side[1]) if long_axis == 0 else (side[0], along[0], side[1], along[1])

        _split(rng, rect(living_span, (0, cross)), rng.uniform(20, 40), rooms)
        corridor_width = int(rng.integers(CORRIDOR[0], CORRIDOR[1] + 1))
        if cross >= 2 * MIN_SIDE + corridor_width:
            at = int(rng.integers(MIN_SIDE, cross - MIN_SIDE - corridor_width + 1))
            corridor = len(rooms)
            rooms.append(rect(night_span, (at, at + corridor_width)))
            across = long_axis  # bedroom strips are cut across the corridor
            _split(rng, rect(night_span, (0, at)), rng.uniform(11, 22), rooms, across)
            _split(rng, rect(night_span, (at + corridor_width, cross)), rng.uniform(11, 22), rooms, across)
        else:
            _split(rng, rect(night_span, (0, cross)), rng.uniform(11, 22), rooms)
    else:
        _split(rng, (0, 0, width, depth), rng.uniform(14, 28), rooms)
    return rooms, corridor, (width, depth)


def _paint(rects, width: int, depth: int) -> np.ndarray:
    ids = np.full((depth, width), -1, dtype=np.int32)
    for index, (x0, y0, x1, y1) in enumerate(rects):
        ids[y0:y1, x0:x1] = index
    return ids


def _borders(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The room ids on both sides of every grid edge.

    :returns: ``left, right`` ``(H, W + 1)``: the ids either side of the vertical
        edge on line ``x = k`` beside row ``y``; ``below, above`` ``(H + 1, W)`` likewise
        for horizontal edges. -1 is outside.
    """
    padded = np.pad(ids, 1, constant_values=-1)
    return padded[1:-1, :-1], padded[1:-1, 1:], padded[:-1, 1:-1], padded[1:, 1:-1]


def _runs(wall: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:
    """Maximal runs of True along each line of ``wall`` ``(lines, steps)``, broken where ``key`` changes.

    :returns: ``(N, 3)`` int64 ``(line, start, end)``, ``end`` exclusive.
    """
    same = np.ones(wall[:, 1:].shape, dtype=bool) if key is None else key[:, 1:] == key[:, :-1]
    starts = wall.copy()
    starts[:, 1:] &= ~(wall[:, :-1] & same)
    ends = wall.copy()
    ends[:, :-1] &= ~(wall[:, 1:] & same)
    lines, first = np.nonzero(starts)
    _, last = np.nonzero(ends)
    return np.stack([lines, first, last + 1], -1)


def _contacts(rects) -> list[tuple[int, int, int, int, int, int]]:
    """Every stretch of side that two rectangles share: ``(a, b, axis, line, start, end)`` with ``a < b``.

    ``axis`` 0 is a vertical stretch on ``x = line`` from ``y = start`` to ``end``; 1 a horizontal one.
    Rectangles meet only along their sides, so this is exact and needs no raster.
    """
    boxes = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    found = []
    for axis in (0, 1):
        first_side, second_side = boxes[:, axis], boxes[:, axis + 2]
        span_low, span_high = boxes[:, 1 - axis], boxes[:, 3 - axis]
        a, b = np.nonzero(second_side[:, None] == first_side[None, :])  # a's far side on b's near side
        start, end = np.maximum(span_low[a], span_low[b]), np.minimum(span_high[a], span_high[b])
        for i, j, lo, hi in zip(a, b, start, end):
            if hi > lo:
                found.append((int(min(i, j)), int(max(i, j)), axis, int(second_side[i]), int(lo), int(hi)))
    return found


def _root(parent: list[int], a: int) -> int:
    """The root of ``a``'s set in the union-find forest ``parent``, halving the path on the way."""
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def _connected(n: int, edges) -> bool:
    parent = list(range(n))

    for a, b in edges:
        parent[_root(parent, a)] = _root(parent, b)
    return len({_root(parent, a) for a in range(n)}) == 1


def _remove_corner(rng, rects, corridor, width, depth):
    """Takes away one room at a corner of the footprint, if the others stay joined."""
    total = width * depth
    # rooms off the corridor stay, or the corridor would stick out of the home like a pier
    borders = _contacts(rects)
    beside_corridor = {a + b - corridor for a, b, *_ in borders if corridor in (a, b)}
    for index in rng.permutation(len(rects)):
        x0, y0, x1, y1 = rects[index]
        corner = (x0 == 0 or x1 == width) and (y0 == 0 or y1 == depth)
        corner &= not (x0 == 0 and x1 == width) and not (y0 == 0 and y1 == depth)  # a corner, not a whole side
        if index == corridor or index in beside_corridor or not corner or (x1 - x0) * (y1 - y0) > 0.25 * total:
            continue
        rest = [r for i, r in enumerate(rects) if i != index]
        corners = np.array(rest)
        if (corners[:, :2].min(0) != 0).any() or corners[:, 2].max() != width or corners[:, 3].max() != depth:
            continue  # taking it would shrink the home, not notch it
        pairs = {(a, b) for a, b, *_, s, e in _contacts(rest) if e - s >= DOOR[1] + 2 * DOOR_MARGIN}
        if _connected(len(rest), pairs):
            return rest, (None if corridor is None else corridor - (index < corridor))
    return rects, corridor


def generate(seed: int, index: int, resolution: float = DEFAULT_RESOLUTION) -> Home:
    """The home numbered ``index`` of the pool of ``seed``: always the same for the same arguments."""
    rng = np.random.default_rng([int(seed), int(index), 0x6D657361])
    for _ in range(MAX_TRIES):
        home = _attempt(rng, f"home(seed={seed}, index={index})", resolution)
        if home is not None:
            return home
    raise RuntimeError(f"no valid home after {MAX_TRIES} tries for seed {seed}, index {index}")


def _attempt(rng, name: str, resolution: float) -> Home | None:
    """One try at a home (the steps of the module's docstring), or ``None`` when it must be drawn again."""
    rects, corridor, (width, depth) = _layout(rng)
    if rng.random() < 0.5 and len(rects) > 5:
        rects, corridor = _remove_corner(rng, rects, corridor, width, depth)
        if rng.random() < 0.3 and len(rects) > 6:
            rects, corridor = _remove_corner(rng, rects, corridor, width, depth)
    room_of = np.arange(len(rects))  # which room each rectangle belongs to
    contacts = _contacts(rects)

    # L-shaped rooms: join rectangles that share only part of a side
    for a, b, axis, _, start, end in rng.permutation(np.array(contacts, dtype=np.int64).reshape(-1, 6)):
        if rng.random() > 0.12 or corridor in (a, b) or room_of[a] == room_of[b]:
            continue
        ra, rb = rects[a], rects[b]
        span_a = (ra[1], ra[3]) if axis == 0 else (ra[0], ra[2])
        span_b = (rb[1], rb[3]) if axis == 0 else (rb[0], rb[2])
        area = sum((r[2] - r[0]) * (r[3] - r[1]) for i, r in enumerate(rects) if room_of[i] in (room_of[a], room_of[b]))
        if span_a != span_b and end - start >= 15 and area <= 4000:
            room_of[room_of == room_of[b]] = room_of[a]
    rooms = np.unique(room_of)
    relabel = np.zeros(len(rects), dtype=np.int64)
    relabel[rooms] = np.arange(len(rooms))
    room_of = relabel[room_of]  # rooms numbered 0 .. n_rooms - 1
    painted = _paint(rects, width, depth)
    ids = np.where(painted >= 0, room_of[painted], -1)
    corridor_room = None if corridor is None else int(room_of[corridor])
    n_rooms = len(rooms)

    # doors along a random spanning tree of the rooms' neighbours, corridor doors first
    borders = [
        (min(room_of[a], room_of[b]), max(room_of[a], room_of[b]), axis, line, start, end)
        for a, b, axis, line, start, end in contacts
        if room_of[a] != room_of[b] and end - start >= DOOR[0] + 2 * DOOR_MARGIN
    ]
    if not _connected(n_rooms, [(a, b) for a, b, *_ in borders]):
        return None
    weights = rng.random(len(borders)) + np.array([0.0 if corridor_room in (a, b) else 0.7 for a, b, *_ in borders])
    parent = list(range(n_rooms))

    openings = []
    arch_allowed = rng.random() < 0.5
    for order in np.argsort(weights):
        a, b, axis, line, start, end = borders[order]
        tree = _root(parent, a) != _root(parent, b)
        if not tree and ((a, b) in {(o[0], o[1]) for o in openings} or rng.random() > 0.08):
            continue
        parent[_root(parent, a)] = _root(parent, b)
        length = end - start
        if arch_allowed and tree and corridor_room not in (a, b) and length >= 30 and rng.random() < 0.3:
            arch_allowed = False
            gap = int(rng.integers(int(0.4 * length), int(0.75 * length) + 1))  # a wide arch: open plan
        else:
            gap = int(rng.integers(DOOR[0], min(DOOR[1], length - 2 * DOOR_MARGIN) + 1))
        gap_start = int(rng.integers(start + DOOR_MARGIN, end - DOOR_MARGIN - gap + 1))
        openings.append((a, b, axis, line, gap_start, gap_start + gap))

    # walls: every border between different rooms or a room and the outside, less the openings
    left, right, below, above = _borders(ids)
    vertical = (left != right).T.copy()  # (W + 1, H): line x = k, step y
    horizontal = below != above  # (H + 1, W): line y = k, step x
    for _, _, axis, line, first, last in openings:
        (vertical if axis == 0 else horizontal)[line, first:last] = False
    # one wall per stretch of border between the same two rooms, as a builder would put them up
    pair_keys = (
        np.minimum(left, right).T.astype(np.int64) * (n_rooms + 2) + np.maximum(left, right).T,
        np.minimum(below, above).astype(np.int64) * (n_rooms + 2) + np.maximum(below, above),
    )
    centres = []
    for axis, (wall, key) in enumerate(zip((vertical, horizontal), pair_keys)):
        for line, start, end in _runs(wall, key):
            centres.append([[line, start], [line, end]] if axis == 0 else [[start, line], [end, line]])
    centres = np.asarray(centres, dtype=np.float64) * DM + OFFSET
    walls = outline(centres)
    if not WALL_LINES[0] <= len(walls) <= WALL_LINES[1]:
        return None

    # lights: one at the centre of each part of a room (two for long parts), intensity by size
    lights = []
    for x0, y0, x1, y1 in rects:
        w, d = (x1 - x0) * DM, (y1 - y0) * DM
        parts = 2 if max(w, d) > 2.5 * min(w, d) and max(w, d) > 5 else 1
        for part in range(parts):
            t = (part + 0.5) / parts
            cx = x0 * DM + OFFSET + (w * t if w >= d else w / 2) + rng.uniform(-0.1, 0.1) * w / parts
            cy = y0 * DM + OFFSET + (d * t if d > w else d / 2) + rng.uniform(-0.1, 0.1) * d / parts
            lights.append([cx, cy, rng.uniform(0.6, 1.0) + 0.06 * np.sqrt(w * d / parts)])
    lights = np.asarray(lights)

    # free space: inside the rooms and not inside (or on) a wall
    half = WALL_THICKNESS / 2 + 1e-6
    lo, hi = walls.reshape(-1, 2).min(0), walls.reshape(-1, 2).max(0)
    origin, shape = grid(lo, hi, resolution)
    floor = rasterize_boxes(np.asarray(rects, np.float64) * DM + OFFSET, shape, origin, resolution)
    low, high = centres.min(1), centres.max(1)
    solid = rasterize_boxes(np.concatenate([low - half, high + half], -1), shape, origin, resolution)
    mask = floor & ~solid
    geometry = Geometry(walls=walls, lights=lights, mask=mask, resolution=resolution, origin=origin, name=name)
    boxes = shapely.box(*(np.asarray(rects, np.float64) * DM + OFFSET).T)
    room_shapes = [shapely.union_all(boxes[room_of == room]) for room in range(n_rooms)]
    doors = np.array(
        [[[line, s], [line, e]] if axis == 0 else [[s, line], [e, line]] for _, _, axis, line, s, e in openings],
        dtype=np.float64,
    ).reshape(-1, 2, 2) * DM + OFFSET
    return Home(geometry=geometry.validate(), rooms=room_shapes, doors=doors)
