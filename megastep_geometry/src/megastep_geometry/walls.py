"""Turning wall centre lines into the line segments a world is made of.

megastep draws a wall of some thickness as the outline of a thin rectangle:
four line segments. Builders describe walls by their centre lines, which are
easy to reason about (where does this wall run, where is its door), and call
:func:`outline` at the end.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

WALL_THICKNESS = 0.1
"""Metres: how thick every wall the builders in this package draw is."""


def outline(centres: np.ndarray, thickness: float = WALL_THICKNESS) -> np.ndarray:
    """The outlines of walls of the given thickness around their centre lines.

    Each wall is extended by half its thickness past both ends, so that walls
    meeting at a corner or a T overlap and leave no crack to see through.

    :param centres: ``(N, 2, 2)`` metres, each wall's centre line.
    :param thickness: metres.
    :returns: ``(4 N, 2, 2)`` float32 metres: for each wall, the four sides of
        its rectangle, counter-clockwise.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2, 2)
    if not thickness > 0:
        raise ValueError(f"thickness must be positive metres, got {thickness}")
    start, end = centres[:, 0], centres[:, 1]
    length = np.linalg.norm(end - start, axis=-1, keepdims=True)
    if (length < 1e-9).any():
        raise ValueError(f"centres holds {(length < 1e-9).sum()} walls of zero length")
    along = (end - start) / length * thickness / 2
    across = np.stack([-along[:, 1], along[:, 0]], -1)
    corners = np.stack(
        [start - along - across, end + along - across, end + along + across, start - along + across], axis=1
    )  # (N, 4, 2), counter-clockwise
    sides = np.stack([corners, np.roll(corners, -1, axis=1)], axis=2)  # (N, 4, 2, 2)
    return sides.reshape(-1, 2, 2).astype(np.float32)


def merge_axis_aligned(centres: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """Merges axis-aligned centre lines that touch or overlap on one line into single walls.

    Fewer, longer walls mean fewer lines for the renderer and physics.

    :param centres: ``(N, 2, 2)`` metres, each horizontal or vertical.
    :returns: ``(M, 2, 2)`` float64 metres, ``M <= N``, sorted by line.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2, 2)
    by_line: dict[tuple[int, float], list[tuple[float, float]]] = defaultdict(list)
    for (x0, y0), (x1, y1) in centres:
        if abs(y0 - y1) <= tolerance:
            by_line[(0, round(y0, 6))].append((min(x0, x1), max(x0, x1)))
        elif abs(x0 - x1) <= tolerance:
            by_line[(1, round(x0, 6))].append((min(y0, y1), max(y0, y1)))
        else:
            raise ValueError(f"wall from {(x0, y0)} to {(x1, y1)} is neither horizontal nor vertical")
    merged = []
    for (axis, fixed), spans in sorted(by_line.items()):
        spans.sort()
        low, high = spans[0]
        for a, b in spans[1:] + [(np.inf, np.inf)]:
            if a <= high + tolerance:
                high = max(high, b)
                continue
            merged.append([[low, fixed], [high, fixed]] if axis == 0 else [[fixed, low], [fixed, high]])
            low, high = a, b
    return np.asarray(merged, dtype=np.float64).reshape(-1, 2, 2)
