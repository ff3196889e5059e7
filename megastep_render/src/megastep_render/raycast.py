"""Casting rays in torch: the first line each ray hits beyond the near plane.

This is the reference that the kernel ``render`` (``cuda/render.cu``)
computes too. A ray from the agent's centre ``p`` in direction ``d`` hits the
line from ``a`` to ``a + e`` at distance ``t`` and location ``s``, where::

    t = cross(a - p, e) / cross(d, e)      s = cross(a - p, d) / cross(d, e)

if ``0 <= s <= 1`` and ``t > near`` (the agent radius). The nearest hit wins;
equal distances go to the lower line index. An agent never sees its own body.

Testing every ray against every line costs ``R * L`` tests per camera. Here
each line is first turned into the range of rays that can see it: its end
points are taken into the camera's frame, clipped to the half plane in
front of the camera (every ray of a camera narrower than 180 degrees points
into it, and nothing it hits beyond the near plane lies behind), and their
angles give a contiguous range of pixels, widened by :data:`ANGLE_MARGIN` for
rounding. Only those (ray, line) pairs are tested, exactly as above, so the
result is the same as testing all pairs. A ray typically crosses 10 to 30
lines of a home in front of it, against ~200 lines in all.

The pairs are enumerated in chunks of at most ``budget`` elements, so memory
stays bounded however many envs there are.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import torch

from megastep_core import Agents, Camera, Scenery

from .chunks import expand, spans
from .lighting import cross

DEGREE = math.pi / 180
"""Radians per degree."""

ANGLE_MARGIN = 1e-3
"""Radians by which each line's range of rays is widened, far above the rounding of float32 angles."""

CAST_BUDGET = 1 << 20
"""Most (ray, line) pairs tested at once; each costs about 100 bytes of temporaries."""

MISS = (0x7F800000 << 32) | 0xFFFFFFFF
"""The key of a ray that hit nothing: the bits of float32 ``inf`` above all-ones."""


@attrs.define(eq=False)
class Views:
    """Every (env, agent, camera) triple of a render, flattened: ``V = E * A * C`` views of ``R`` rays.

    :ivar env: ``(V,)`` int64.
    :ivar agent: ``(V,)`` int64.
    :ivar camera: ``(V,)`` int64.
    :ivar origins: ``(V, 2)`` metres, the agent's centre.
    :ivar directions: ``(V, R, 2)`` unit vectors of every ray.
    """

    env: torch.Tensor
    agent: torch.Tensor
    camera: torch.Tensor
    origins: torch.Tensor
    directions: torch.Tensor
    shape: tuple[int, int, int, int]


def ray_angles(cameras: Sequence[Camera], device) -> torch.Tensor:
    """``(C, R)`` degrees, each ray's angle relative to the agent's heading."""
    return torch.stack([camera.ray_angles(device) for camera in cameras])


def views(agents: Agents, cameras: Sequence[Camera]) -> Views:
    """The views of ``agents`` through ``cameras``, with every ray's direction."""
    device = agents.positions.device
    n_envs, n_agents = agents.angles.shape
    n_cameras, n_rays = len(cameras), cameras[0].pixels
    degrees = agents.angles[:, :, None, None] + ray_angles(cameras, device)  # (E, A, C, R)
    radians = degrees * DEGREE
    directions = torch.stack([radians.cos(), radians.sin()], -1).reshape(-1, n_rays, 2)
    index = torch.arange(n_envs * n_agents * n_cameras, device=device)
    env, agent, camera = index // (n_agents * n_cameras), index // n_cameras % n_agents, index % n_cameras
    return Views(env, agent, camera, agents.positions[env, agent], directions, (n_envs, n_agents, n_cameras, n_rays))


def _ray_ranges(
    x1: torch.Tensor, y1: torch.Tensor, x2: torch.Tensor, y2: torch.Tensor,
    half_fov: torch.Tensor, step: torch.Tensor, front: torch.Tensor, n_rays: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ray and the number of rays that can see each line, from its end points in the camera frame."""
    behind = (x1 < front) & (x2 < front)
    # clip the line to x >= front, so both end points have angles in (-90, 90) degrees
    dx = torch.where(behind, 1.0, x2 - x1)
    # the point of the line at x = front, for whichever end point lies behind it
    y_front = y1 + ((front - x1) / dx).clamp(0, 1) * (y2 - y1)
    cx1, cy1 = torch.where(x1 < front, front, x1), torch.where(x1 < front, y_front, y1)
    cx2, cy2 = torch.where(x2 < front, front, x2), torch.where(x2 < front, y_front, y2)
    angle1, angle2 = torch.atan2(cy1, cx1), torch.atan2(cy2, cx2)
    low, high = torch.minimum(angle1, angle2), torch.maximum(angle1, angle2)
    # ray r looks at half_fov - (r + 0.5) * step from the heading
    first = torch.ceil((half_fov - high - ANGLE_MARGIN) / step - 0.5).clamp(0, n_rays - 1)
    last = torch.floor((half_fov - low + ANGLE_MARGIN) / step - 0.5).clamp(-1, n_rays - 1)
    count = (last - first + 1).clamp(min=0)
    return first.long(), torch.where(behind, 0, count.long())


def default_budget(device) -> int:
    """Pairs per chunk: small on the CPU, where tensors of more than ~32K elements
    cost page faults and thread hand-offs, large on a GPU, which needs work to fill it."""
    return CAST_BUDGET if torch.device(device).type == "cuda" else 1 << 15


def cast(
    scenery: Scenery, agents: Agents, cameras: Sequence[Camera], budget: int | None = None
) -> tuple[Views, torch.Tensor, torch.Tensor]:
    """Finds the first line every ray hits.

    :param budget: the most (ray, line) pairs tested at once (default: :func:`default_budget`).
    :returns: the :class:`Views`, ``(V * R,)`` int64 env-local line indices
        (-1 for a miss) and ``(V * R,)`` float32 distances in metres (``inf``
        for a miss).
    """
    view = views(agents, cameras)
    device = view.origins.device
    budget = budget or default_budget(device)
    n_rays = view.shape[3]
    near = scenery.agent_radius
    fovs = torch.tensor([c.fov * DEGREE for c in cameras], device=device)
    offsets = torch.tensor([c.offset for c in cameras], device=device)
    heading = (agents.angles[view.env, view.agent] + offsets[view.camera]) * DEGREE
    cos_heading, sin_heading = heading.cos(), heading.sin()
    half_fov, step = fovs[view.camera] / 2, fovs[view.camera] / n_rays
    # every hit beyond the near plane has x >= near * cos(fov / 2) in the camera frame
    front = near * torch.cos(half_fov) * 0.5
    directions = view.directions.reshape(-1, 2)
    dx, dy = directions[:, 0].contiguous(), directions[:, 1].contiguous()
    keys = torch.full((len(directions),), MISS, dtype=torch.int64, device=device)
    m = scenery.body_lines
    # with one agent per env every body line is the viewer's own: skip them all
    skipped = scenery.n_body_lines if scenery.n_agents == 1 else 0
    line_starts = scenery.lines.starts + skipped
    lines_per_view = scenery.lines.widths.index_select(0, view.env) - skipped
    endpoints = scenery.lines.vals.reshape(-1, 4)

    for v_first, v_stop, _ in spans(lines_per_view, budget):
        pair_view, local = expand(lines_per_view[v_first:v_stop])
        pair_view += v_first
        pair_env = view.env.index_select(0, pair_view)
        local += skipped
        points = endpoints.index_select(0, line_starts.index_select(0, pair_env) + local - skipped)
        origin = view.origins.index_select(0, pair_view)
        ax, ay = points[:, 0] - origin[:, 0], points[:, 1] - origin[:, 1]
        bx, by = points[:, 2] - origin[:, 0], points[:, 3] - origin[:, 1]
        ex, ey = points[:, 2] - points[:, 0], points[:, 3] - points[:, 1]
        c, s = cos_heading.index_select(0, pair_view), sin_heading.index_select(0, pair_view)
        first, count = _ray_ranges(
            ax * c + ay * s, ay * c - ax * s, bx * c + by * s, by * c - bx * s,
            half_fov.index_select(0, pair_view), step.index_select(0, pair_view),
            front.index_select(0, pair_view), n_rays,
        )
        if skipped == 0:
            agent = view.agent.index_select(0, pair_view)
            own = (local >= agent * m) & (local < (agent + 1) * m)
            count = count.masked_fill(own, 0)
        numerator = cross(ax, ay, ex, ey)
        # ray of the first pair's first triple, minus the triples before it: the
        # ray of triple i of chunk is then i + ray_offset[pair of i]
        pair_ray = pair_view * n_rays + first
        for p_first, p_stop, total in spans(count, budget):
            if total == 0:
                continue
            counts = count[p_first:p_stop]
            pair = torch.repeat_interleave(
                torch.arange(p_first, p_stop, device=device), counts, output_size=total
            )
            offset = pair_ray[p_first:p_stop] - (counts.cumsum(0) - counts)
            ray = torch.arange(total, device=device) + offset.index_select(0, pair - p_first)
            rx, ry = dx.index_select(0, ray), dy.index_select(0, ray)
            px, py = ax.index_select(0, pair), ay.index_select(0, pair)
            qx, qy = ex.index_select(0, pair), ey.index_select(0, pair)
            denom = cross(rx, ry, qx, qy)
            t = numerator.index_select(0, pair) / denom
            along = cross(px, py, rx, ry) / denom
            t = t.masked_fill((along < 0) | (along > 1) | (t <= near), torch.inf)
            key = (t.view(torch.int32).long() << 32) | local.index_select(0, pair)
            keys.scatter_reduce_(0, ray, key, reduce="amin")

    distances = (keys >> 32).to(torch.int32).view(torch.float32)
    missed = distances == torch.inf
    indices = (keys & 0xFFFFFFFF).masked_fill(missed, -1)
    return view, indices, distances
