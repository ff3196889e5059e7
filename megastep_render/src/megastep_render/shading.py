"""Shading in torch: where along its line each ray hit, and the colour it sees there.

This is the reference for the shading half of the kernel ``render``
(``cuda/render.cu``). At a hit at location ``s`` along a line of length
``length`` with ``T`` texels, the texel coordinate is
``u = s * length / texel_size - 0.5`` (texel ``k``'s centre is at
``(k + 0.5) * texel_size`` metres); colour and light are each interpolated
linearly between texels ``floor(u)`` and ``floor(u) + 1``, clamped to the
line's texels. The pixel is ``colour * light * (1 - dot**2)``, where ``dot``
is the cosine between the ray and the line, so that walls seen side-on are
dark. Walls take their light from ``scenery.baked``; agent bodies are lit
per frame (:func:`megastep_render.lighting.light_bodies`).
"""
from __future__ import annotations

import torch

from megastep_core import Render, Scenery

from .lighting import cross, light_bodies
from .raycast import Views


def texel_coordinates(s: torch.Tensor, length: torch.Tensor, counts: torch.Tensor, texel_size: float):
    """The two texels to blend at each hit, and the weight of the second.

    :param s: ``(N,)`` locations along the lines, in ``[0, 1]``.
    :param length: ``(N,)`` metres, the lines' lengths.
    :param counts: ``(N,)`` int64, the lines' texel counts.
    :returns: ``(N,)`` int64 first texel, ``(N,)`` int64 second texel, ``(N,)`` weight of the second.
    """
    u = s * length / texel_size - 0.5
    below = torch.floor(u)
    weight = u - below
    first = below.long()
    clamped = (first < 0) | (first >= counts - 1)
    first = torch.where(first < 0, 0, torch.minimum(first, counts - 1))
    weight = torch.where(clamped, 0.0, weight)
    return first, torch.minimum(first + 1, counts - 1), weight


def shade(scenery: Scenery, view: Views, indices: torch.Tensor, distances: torch.Tensor) -> Render:
    """Turns hits ``(V * R,)`` into a :class:`Render` of ``(E, A, C, R)``."""
    n_envs, n_agents, n_cameras, n_rays = view.shape
    device = indices.device
    hit = indices >= 0
    ray_view = torch.arange(len(indices), device=device) // n_rays
    env = view.env.index_select(0, ray_view)
    local = indices.clamp(min=0)
    line = scenery.lines.starts.index_select(0, env) + local
    d = view.directions.reshape(-1, 2)
    dx, dy = d[:, 0], d[:, 1]
    points = scenery.lines.vals.reshape(-1, 4).index_select(0, line)
    origin = view.origins.index_select(0, ray_view)
    ex, ey = points[:, 2] - points[:, 0], points[:, 3] - points[:, 1]
    ax, ay = points[:, 0] - origin[:, 0], points[:, 1] - origin[:, 1]
    s = (cross(ax, ay, dx, dy) / cross(dx, dy, ex, ey)).clamp(0, 1)
    length = (ex * ex + ey * ey).sqrt()
    dot = (dx * ex + dy * ey) / length

    start = scenery.textures.starts.index_select(0, line)
    counts = scenery.textures.widths.index_select(0, line)
    first, second, weight = texel_coordinates(s, length, counts, scenery.texel_size)
    first, second = start + first, start + second
    colour = scenery.textures.vals.index_select(0, first) * (1 - weight)[:, None]
    colour += scenery.textures.vals.index_select(0, second) * weight[:, None]
    light = scenery.baked.vals.index_select(0, first) * (1 - weight)
    light += scenery.baked.vals.index_select(0, second) * weight

    if scenery.n_agents > 1:
        body = hit & (local < scenery.n_body_lines)
        if body.any():
            seen = env[body] * n_agents + local[body] // scenery.body_lines
            agents, which = torch.unique(seen, return_inverse=True)
            light[body] = light_bodies(scenery, agents // n_agents, agents % n_agents)[which]

    brightness = light * (1 - dot * dot).clamp(min=0)
    screen = (colour * brightness[:, None]).masked_fill_(~hit[:, None], 0.0)
    shape = (n_envs, n_agents, n_cameras, n_rays)
    return Render(
        indices=indices.reshape(shape),
        locations=s.masked_fill_(~hit, 0.0).reshape(shape),
        dots=dot.masked_fill_(~hit, 0.0).reshape(shape),
        distances=distances.reshape(shape),
        screen=screen.reshape(*shape, 3),
    )
