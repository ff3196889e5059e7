"""Light: baked once per layout onto wall texels, and per frame onto agent bodies.

This is the reference that the CUDA kernels ``bake_texels`` and
``light_bodies`` (``cuda/render.cu``) compute too, with the same float32
operations in the same order, so that both agree bit for bit up to the order
of the sum over lights.

The light at a point is ``AMBIENT`` plus, for every light whose segment to the
point crosses no static wall, ``2 * intensity / max(distance**2, 1)``, clamped
to 1. A wall texel is lit at the middle of the part of its line it covers
(texels are ``texel_size`` long from the line's first end point; the last one
may be shorter). The texel's own line never shadows it, and agent bodies
never cast shadows.

Agent bodies move every step, so lighting every body texel each frame would
cost as much as baking a layout. Instead each agent's body is lit as a whole,
at its centre (the mean of its body lines' first end points, which
:func:`megastep_core.draw_bodies` puts at the agent's position): ``K`` shadow
tests per agent per frame, instead of ``K`` per texel. The body is small
(0.15 m a side by default) next to the distances over which light changes.
"""
from __future__ import annotations

import torch

from megastep_core import Scenery
from megastep_core.layouts import LayoutIndex, layout_index

from .chunks import expand, spans

AMBIENT = 0.1
"""Light that reaches every texel, lit or in shadow."""

GAIN = 2.0
"""A light of intensity ``I`` adds ``GAIN * I / max(distance**2, 1)``."""

SHADOW_START = 1e-5
"""Crossings closer than this fraction of the way from the lit point to the light are ignored."""

CULL_MARGIN = 1e-4
"""Metres by which bounding boxes are grown when culling shadow candidates (float error is far smaller)."""

PAIR_BUDGET = 1 << 21
"""Most elements of one intermediate tensor while baking (about 8 MB per float32 tensor)."""


def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index]`` along the first dimension; ``index_select`` is several times faster on the CPU."""
    return x.index_select(0, index)


def count_true(n: int, index: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """``(n,)`` int32: how many of ``flags`` (bool) are True at each ``index`` (an "any" that CUDA supports)."""
    return torch.zeros(n, dtype=torch.int32, device=flags.device).index_add_(0, index, flags.int())


def cross(ux: torch.Tensor, uy: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor) -> torch.Tensor:
    """``u x v = ux * vy - uy * vx``, rounded after each product, as the kernels do."""
    return ux * vy - uy * vx


def texel_points(a: torch.Tensor, e: torch.Tensor, counts: torch.Tensor, texel_size: float) -> torch.Tensor:
    """Where each texel of each line is lit.

    :param a: ``(N, 2)`` metres, each line's first end point.
    :param e: ``(N, 2)`` metres, each line's second end point minus its first.
    :param counts: ``(N,)`` int64, texels per line.
    :returns: ``(sum counts, 2)`` metres, line 0's texels first.
    """
    line, k = expand(counts)
    ex, ey = take(e[:, 0], line), take(e[:, 1], line)
    length = (ex * ex + ey * ey).sqrt()
    k = k.to(torch.float32)
    along = (k * texel_size + torch.minimum((k + 1) * texel_size, length)) * 0.5
    fraction = along / length
    return torch.stack([take(a[:, 0], line) + ex * fraction, take(a[:, 1], line) + ey * fraction], -1)


def shadowed(q: torch.Tensor, light: torch.Tensor, a: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Whether the segment from each point to its light crosses its wall.

    :param q: ``(P, 2)`` metres, lit points.
    :param light: ``(P, 2)`` metres, light positions.
    :param a: ``(P, 2)`` metres, the first end point of the wall to test.
    :param e: ``(P, 2)`` metres, the wall's second end point minus its first.
    :returns: ``(P,)`` bool.
    """
    fx, fy = light[:, 0] - q[:, 0], light[:, 1] - q[:, 1]
    wx, wy = a[:, 0] - q[:, 0], a[:, 1] - q[:, 1]
    denom = cross(fx, fy, e[:, 0], e[:, 1])
    tau = cross(wx, wy, e[:, 0], e[:, 1]) / denom
    sigma = cross(wx, wy, fx, fy) / denom
    return (tau > SHADOW_START) & (tau < 1) & (sigma >= 0) & (sigma <= 1)


def contribution(q: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """``(P,)``: what a light ``(P, 3)`` (x, y, intensity) adds at points ``(P, 2)`` when not shadowed."""
    fx, fy = light[:, 0] - q[:, 0], light[:, 1] - q[:, 1]
    return GAIN * light[:, 2] / torch.clamp(fx * fx + fy * fy, min=1.0)


def segment_meets_triangle(
    p: torch.Tensor, q: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, margin: float
) -> torch.Tensor:
    """Whether segments ``p-q`` come within about ``margin`` of triangles ``a, b, c``; all ``(N, 2)`` metres.

    A separating-axis test: the two are apart if their projections onto one of
    the triangle's edge normals or the segment's normal do not overlap. Each
    normal is left unnormalised and the margin scaled by its L1 norm (at least
    its length), so the test never says apart for shapes closer than ``margin``.

    :returns: ``(N,)`` bool; False only where they are certainly apart.
    """
    meets = torch.ones(len(p), dtype=torch.bool, device=p.device)
    for u, v in ((a, b), (b, c), (c, a), (p, q)):
        nx, ny = v[:, 1] - u[:, 1], u[:, 0] - v[:, 0]
        pa, pb, pc, pp, pq = (point[:, 0] * nx + point[:, 1] * ny for point in (a, b, c, p, q))
        low = torch.minimum(torch.minimum(pa, pb), pc)
        high = torch.maximum(torch.maximum(pa, pb), pc)
        slack = margin * (nx.abs() + ny.abs())
        meets &= (torch.maximum(pp, pq) >= low - slack) & (torch.minimum(pp, pq) <= high + slack)
    return meets


FULL_MARGIN = 1e-3
"""A wall that crosses both long edges of a (wall, light) triangle at least this fraction inside
their ends shadows every texel of the wall from that light, by far more than float error."""


def crosses_inside(u1: torch.Tensor, u2: torch.Tensor, p: torch.Tensor, q: torch.Tensor, margin: float):
    """Whether segments ``u1-u2`` and ``p-q`` (``(N, 2)``) cross ``margin`` of their lengths or more from their ends.

    Computed in float64: for nearly parallel segments the crossing's place along each is a ratio of two small
    cross products, and float32's rounding moved it by more than any margin (two segments meeting only at a
    shared end were found to cross inside). A false "crosses" would shadow a whole wall; this runs once per
    bake."""
    u1, u2, p, q = u1.double(), u2.double(), p.double(), q.double()
    rx, ry = u2[:, 0] - u1[:, 0], u2[:, 1] - u1[:, 1]
    sx, sy = q[:, 0] - p[:, 0], q[:, 1] - p[:, 1]
    wx, wy = p[:, 0] - u1[:, 0], p[:, 1] - u1[:, 1]
    denom = cross(rx, ry, sx, sy)
    alpha = cross(wx, wy, sx, sy) / denom
    beta = cross(wx, wy, rx, ry) / denom
    return (alpha >= margin) & (alpha <= 1 - margin) & (beta >= margin) & (beta <= 1 - margin)


def light_points(
    scenery: Scenery, points: torch.Tensor, point_env: torch.Tensor, point_line: torch.Tensor | None = None
) -> torch.Tensor:
    """The light at points in the envs' static walls' shadows, by brute force over every wall.

    :param points: ``(N, 2)`` metres.
    :param point_env: ``(N,)`` int64, the env of each point.
    :param point_line: ``(N,)`` int64 global line index that must not shadow its point, or ``None``.
    :returns: ``(N,)`` light in ``[AMBIENT, 1]``.
    """
    device = points.device
    total = torch.zeros(len(points), device=device)
    if len(points) == 0:
        return total + AMBIENT
    light_counts = scenery.lights.widths[point_env]
    walls = scenery.lines.widths[point_env] - scenery.n_body_lines
    # every (point, light) pair, point-major so that a point's lights add in order
    for first, stop, _ in spans(light_counts * walls.clamp(min=1), PAIR_BUDGET):
        pair_point, k = expand(light_counts[first:stop])
        pair_point = pair_point + first
        light = scenery.lights.vals[scenery.lights.starts[point_env[pair_point]] + k]
        q = points[pair_point]
        triple_pair, j = expand(walls[pair_point])
        triple_point = pair_point[triple_pair]
        line = scenery.lines.starts[point_env[triple_point]] + scenery.n_body_lines + j
        a = scenery.lines.vals[line, 0]
        e = scenery.lines.vals[line, 1] - a
        blocked = shadowed(q[triple_pair], light[triple_pair, :2], a, e)
        if point_line is not None:
            blocked &= line != point_line[triple_point]
        dark = count_true(len(pair_point), triple_pair, blocked) > 0
        total.index_add_(0, pair_point, torch.where(dark, 0.0, contribution(q, light)))
    return torch.clamp(AMBIENT + total, max=1.0)


def body_centres(scenery: Scenery, envs: torch.Tensor, agents: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` metres: the centre of agent ``agents[i]``'s body in env ``envs[i]``.

    The mean of its ``M`` body lines' first end points, summed in line order.
    """
    m = scenery.body_lines
    first = scenery.lines.starts[envs] + agents * m
    total = scenery.lines.vals[first, 0]
    for i in range(1, m):
        total = total + scenery.lines.vals[first + i, 0]
    return total / m


def light_bodies(scenery: Scenery, envs: torch.Tensor, agents: torch.Tensor) -> torch.Tensor:
    """``(N,)``: the light on the body of agent ``agents[i]`` of env ``envs[i]``, lit at its centre."""
    return light_points(scenery, body_centres(scenery, envs, agents), envs)


def bake_layouts(scenery: Scenery, envs: torch.Tensor) -> torch.Tensor:
    """The baked light of every wall texel of ``envs`` (one representative env per layout).

    :param envs: ``(N,)`` int64 env indices.
    :returns: ``(T,)`` light of the wall texels of ``envs``, env by env, in
        the order of ``scenery.textures``.
    """
    parts = []
    for env in envs.tolist():
        first = int(scenery.lines.starts[env]) + scenery.n_body_lines
        stop = int(scenery.lines.starts[env] + scenery.lines.widths[env])
        lights = scenery.lights[env]
        ends = scenery.lines.vals[first:stop]
        counts = scenery.textures.widths[first:stop]
        parts.append(bake_walls(ends[:, 0], ends[:, 1], counts, lights, scenery.texel_size))
    return torch.cat(parts)


def bake_walls(
    a: torch.Tensor, b: torch.Tensor, counts: torch.Tensor, lights: torch.Tensor, texel_size: float
) -> torch.Tensor:
    """The static light on every texel of one layout's walls.

    Shadow tests are culled per (wall, light) pair: only walls that meet the
    triangle spanned by the wall's texel points and the light can shadow a texel of the wall
    (found by bounding boxes, then :func:`segment_meets_triangle`), and a wall
    that crosses the whole triangle shadows all of them at once
    (:func:`crosses_inside`); only the rest are tested texel by texel.

    :param a: ``(W, 2)`` metres, the walls' first end points.
    :param b: ``(W, 2)`` metres, their second end points.
    :param counts: ``(W,)`` int64 texels per wall.
    :param lights: ``(K, 3)`` x, y in metres and intensity.
    :returns: ``(sum counts,)`` light of each texel, wall 0's first.
    """
    device = a.device
    n_walls, n_lights = len(a), len(lights)
    e = b - a
    points = texel_points(a, e, counts, texel_size)
    texel_first = counts.cumsum(0) - counts
    light_xy = lights[:, :2].contiguous()
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    # every texel of a wall is lit on the segment from its first texel's point
    # to its last's: the triangles of that segment and a light hold every
    # shadow test, and walls that merely touch the wall's end points miss them
    first_point, last_point = take(points, texel_first), take(points, texel_first + counts - 1)
    span_lo, span_hi = torch.minimum(first_point, last_point), torch.maximum(first_point, last_point)
    # (wall, light) pairs, wall-major; pair p is wall p // K and light p % K
    pair_lo = (torch.minimum(span_lo[:, None], light_xy[None]) - CULL_MARGIN).reshape(-1, 2)
    pair_hi = (torch.maximum(span_hi[:, None], light_xy[None]) + CULL_MARGIN).reshape(-1, 2)
    pair_texels = counts.repeat_interleave(n_lights)
    pair_texel_first = pair_texels.cumsum(0) - pair_texels
    dark = torch.zeros(int(pair_texels.sum()), dtype=torch.int32, device=device)  # shadowing walls

    chunk = max(1, PAIR_BUDGET // max(n_walls, 1))
    for first in range(0, n_walls * n_lights, chunk):
        stop = min(first + chunk, n_walls * n_lights)
        # bounding boxes of the triangles of these pairs against every wall's
        meets = (lo[None] <= pair_hi[first:stop, None]).all(-1) & (hi[None] >= pair_lo[first:stop, None]).all(-1)
        pair, other = torch.nonzero(meets, as_tuple=True)
        pair += first
        this = pair // n_lights
        keep = other != this
        pair, other, this = pair[keep], other[keep], this[keep]
        to_light = take(light_xy, pair % n_lights)
        near_end, far_end = take(a, other), take(b, other)
        # then exactly: does the other wall meet the triangle of the wall and the light?
        from_first, from_last = take(first_point, this), take(last_point, this)
        meets = segment_meets_triangle(near_end, far_end, from_first, from_last, to_light, CULL_MARGIN)
        pair, other, this = pair[meets], other[meets], this[meets]
        to_light, near_end, far_end = to_light[meets], near_end[meets], far_end[meets]
        from_first, from_last = from_first[meets], from_last[meets]
        # a wall across the whole triangle shadows every texel: no need to test them one by one
        full = crosses_inside(from_first, to_light, near_end, far_end, FULL_MARGIN)
        full &= crosses_inside(from_last, to_light, near_end, far_end, FULL_MARGIN)
        covered = count_true(stop - first, pair - first, full) > 0
        covered_pairs = torch.nonzero(covered).squeeze(1) + first
        owner, k = expand(take(pair_texels, covered_pairs))
        dark[take(pair_texel_first, covered_pairs).index_select(0, owner) + k] = 1
        partial = ~take(covered, pair - first)
        pair, other, this = pair[partial], other[partial], this[partial]
        # each remaining (wall, light, other wall) triple, tested at every texel of the wall
        texels = take(pair_texels, pair)
        for t_first, t_stop, _ in spans(texels, PAIR_BUDGET):
            triple, k = expand(texels[t_first:t_stop])
            triple += t_first
            p, o = take(pair, triple), take(other, triple)
            texel = take(texel_first, take(this, triple)) + k
            blocked = shadowed(take(points, texel), take(light_xy, p % n_lights), take(a, o), take(e, o))
            dark.index_add_(0, take(pair_texel_first, p) + k, blocked.int())

    # add the lights up texel by texel: entries are (wall, light, texel)-major, so
    # index_add_ meets each texel's lights in light order, as the kernel adds them
    entry_pair, k = expand(pair_texels)
    texel = take(texel_first, entry_pair // n_lights) + k
    lit = contribution(take(points, texel), take(lights, entry_pair % n_lights)).masked_fill_(dark > 0, 0.0)
    total = torch.zeros(len(points), device=device).index_add_(0, texel, lit)
    return torch.clamp(AMBIENT + total, max=1.0)


def bake(scenery: Scenery, layouts: LayoutIndex | None = None) -> None:
    """Fills ``scenery.baked`` in place: wall texels with their static light, body texels with ``AMBIENT``.

    Each layout is baked once, at its representative env, and copied to the
    other envs of the layout.
    """
    layouts = layouts or layout_index(scenery)
    per_layout = bake_layouts(scenery, layouts.representatives)
    broadcast_layouts(scenery, layouts, per_layout)


def broadcast_layouts(scenery: Scenery, layouts: LayoutIndex, per_layout: torch.Tensor) -> None:
    """Writes the baked wall texels of each layout ``(T,)`` (as :func:`bake_layouts` returns them) to every env.

    Body texels get ``AMBIENT``: their light is computed each frame.
    """
    body = body_texel_counts(scenery)
    wall = env_texel_counts(scenery, layouts) - body
    rep_wall = wall[layouts.representatives]
    rep_firsts = rep_wall.cumsum(0) - rep_wall
    baked = scenery.baked.vals
    for first, stop, _ in spans(wall + body, PAIR_BUDGET * 4):
        env, k = expand(wall[first:stop])
        env += first
        start = layouts.env_texel_starts[env] + body[env]
        baked[start + k] = per_layout[rep_firsts[layouts.env_layout[env]] + k]
        env, k = expand(body[first:stop])
        env += first
        baked[layouts.env_texel_starts[env] + k] = AMBIENT


def env_texel_counts(scenery: Scenery, layouts: LayoutIndex) -> torch.Tensor:
    """``(E,)`` int64: texels of each env, bodies and walls."""
    ends = torch.cat([layouts.env_texel_starts[1:], layouts.env_texel_starts.new_tensor([len(scenery.textures.vals)])])
    return ends - layouts.env_texel_starts


def body_texel_counts(scenery: Scenery) -> torch.Tensor:
    """``(E,)`` int64: texels of each env's agent bodies (its first ``A * M`` lines)."""
    lines = scenery.lines.starts[:, None] + torch.arange(scenery.n_body_lines, device=scenery.device)
    return scenery.textures.widths[lines].sum(1)
