"""Building a batched :class:`~megastep_core.state.Scenery` from geometries.

Each env gets its agents' body lines first, then the geometry's walls. Every
line carries a texture: one texel per 5 cm. Walls are painted a muted colour of
their own with stripes 25 cm wide along their length; the stripes shrink with
distance in an agent's 1D image, which is what makes depth easy to perceive
from a single row of pixels. Agent bodies are a bright colour per agent, with
a pale front face so that others can tell which way an agent is looking.

The bodies are redrawn wherever the agents moved, at least once every env
step. With CUDA kernels that is one launch of ``cuda/bodies.cu`` rather than
the seven small kernels of the torch code (:func:`body_lines` and its
scatter), because a launch costs more than the work at small batches (see the
performance page). The torch code stays the reference and the CPU path; both
draw the same lines to float32 rounding. Which one runs follows the world's
physics (:attr:`World.kernels <megastep_core.world.World.kernels>`).
"""
from __future__ import annotations

import functools
import math
import sys
import weakref
from collections.abc import Sequence

import numpy as np
import torch

from .geometry import Geometry
from .kernels import Kernels, load_kernels
from .ragged import Ragged
from .state import Agents, Scenery

TEXEL_SIZE = 0.05
"""Metres of line per texel."""

BODY_LINES = 4
"""Lines per agent body: a square inscribed in the agent's disc, front face first."""

STRIPE_WIDTH = 0.25
"""Metres; walls alternate between a light and a dark stripe of this width."""

_AGENT_COLOURS = np.array(
    [[0.9, 0.15, 0.1], [0.1, 0.45, 0.95], [0.1, 0.8, 0.2], [0.95, 0.75, 0.05],
     [0.7, 0.2, 0.85], [0.05, 0.8, 0.8], [0.95, 0.45, 0.05], [0.5, 0.5, 0.5]],
    dtype=np.float32,
)


def texel_counts(lengths: np.ndarray, texel_size: float = TEXEL_SIZE) -> np.ndarray:
    """``(L,)`` metres to ``(L,)`` int64: texels per line, at least one."""
    return np.maximum(1, np.ceil(lengths / texel_size - 1e-6)).astype(np.int64)


def _wall_textures(walls: np.ndarray, rng: np.random.Generator, texel_size: float) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.linalg.norm(walls[:, 1] - walls[:, 0], axis=-1)
    counts = texel_counts(lengths, texel_size)
    # a muted base colour per wall: a random hue at low saturation
    hue = rng.uniform(0, 1, len(walls))
    phase = 2 * np.pi * (hue[:, None] + np.array([0, 1 / 3, 2 / 3]))
    base = 0.55 + 0.25 * np.cos(phase)
    line = np.repeat(np.arange(len(walls)), counts)
    along = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 0.5) * texel_size
    stripe = (np.floor(along / STRIPE_WIDTH) % 2 == 0)
    shade = np.where(stripe, 1.0, 0.6) * rng.uniform(0.92, 1.0, len(along))
    colours = base[line] * shade[:, None]
    return colours.astype(np.float32), counts


def _body_textures(n_agents: int, agent_radius: float, texel_size: float) -> tuple[np.ndarray, np.ndarray]:
    side = agent_radius * math.sqrt(2)
    per_line = int(texel_counts(np.array([side]), texel_size)[0])
    colours = []
    for a in range(n_agents):
        colour = _AGENT_COLOURS[a % len(_AGENT_COLOURS)]
        front = 0.5 + 0.5 * colour
        for m in range(BODY_LINES):
            colours.append(np.tile(front if m == 0 else colour, (per_line, 1)))
    counts = np.full(n_agents * BODY_LINES, per_line, dtype=np.int64)
    return np.concatenate(colours).astype(np.float32), counts


def build_scenery(
    geometries: Sequence[Geometry],
    n_agents: int,
    agent_radius: float = 0.106,
    seed: int = 0,
    device="cpu",
    texel_size: float = TEXEL_SIZE,
) -> Scenery:
    """One env per geometry, each with ``n_agents`` agents.

    Agents start at the origin; a spawner places them. ``baked`` starts at zero
    light; the renderer's ``bake`` fills it. The same arguments always give
    the same scenery.

    :param geometries: one :class:`Geometry` per env (the same object may repeat).
    :param n_agents: ``A``, agents per env.
    :param agent_radius: metres.
    :param seed: seeds the wall colours.
    :param device: where the tensors live.
    """
    if len(geometries) == 0:
        raise ValueError("build_scenery needs at least one geometry (one per env)")
    if n_agents < 1:
        raise ValueError(f"n_agents must be at least 1, got {n_agents}")
    if not agent_radius > 0:
        raise ValueError(f"agent_radius must be positive metres, got {agent_radius}")

    body_colours, body_counts = _body_textures(n_agents, agent_radius, texel_size)
    body_lines = np.zeros((n_agents * BODY_LINES, 2, 2), np.float32)

    # envs that share a geometry object share its textures too: painting is
    # the slow part of building 65,536 envs from a few dozen layouts.
    painted: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
    ids = []
    lines, line_widths, lights, light_widths, texels, texel_widths = [], [], [], [], [], []
    for geometry in geometries:
        key = id(geometry)
        if key not in painted:
            geometry.validate()
            rng = np.random.default_rng([seed, len(painted)])
            painted[key] = (*_wall_textures(geometry.walls, rng, texel_size), len(painted))
        wall_colours, wall_counts, geometry_id = painted[key]
        ids.append(geometry_id)
        lines += [body_lines, geometry.walls]
        line_widths.append(len(body_lines) + len(geometry.walls))
        lights.append(geometry.lights)
        light_widths.append(len(geometry.lights))
        texels += [body_colours, wall_colours]
        texel_widths += [body_counts, wall_counts]

    def ragged(parts, widths) -> Ragged:
        vals = torch.from_numpy(np.concatenate(parts)).to(device=device, dtype=torch.float32)
        return Ragged(vals, torch.as_tensor(np.asarray(widths, dtype=np.int64), device=device))

    textures = ragged(texels, np.concatenate(texel_widths))
    return Scenery(
        lines=ragged(lines, line_widths),
        lights=ragged(lights, light_widths),
        textures=textures,
        baked=textures.with_vals(torch.zeros(textures.vals.shape[0], device=device)),
        geometry_ids=torch.as_tensor(ids, dtype=torch.int64, device=device),
        n_agents=n_agents,
        body_lines=BODY_LINES,
        agent_radius=float(agent_radius),
        texel_size=texel_size,
    )


@functools.cache
def _corners(agent_radius: float, device: torch.device) -> torch.Tensor:
    """``(M + 1,)`` complex64 metres: the body's corners around an agent at the origin facing 0 degrees,
    at -45, 45, 135 and 225 degrees, the first repeated last so that the square closes exactly."""
    radians = np.deg2rad(90.0 * np.arange(BODY_LINES) - 45.0)
    corners = agent_radius * np.exp(1j * radians)
    # kept on the device: a tensor made from host data each step is a host-to-device copy
    # that a CUDA graph cannot hold
    return torch.as_tensor(np.append(corners, corners[:1]), dtype=torch.complex64, device=device)


def body_lines(agents: Agents, agent_radius: float) -> torch.Tensor:
    """``(E, A * M, 2, 2)`` metres: each agent's body, a square inscribed in its disc.

    Line 0 of each agent is its front face; the corners run counter-clockwise.
    The reference for ``cuda/bodies.cu``.
    """
    # points as complex numbers: turning the corners to the agent's heading is one product, so a step
    # redraws every body in a handful of kernels
    heading = torch.exp(torch.deg2rad(agents.angles.float()) * 1j)
    centres = torch.view_as_complex(agents.positions.float().contiguous())
    corners = centres[..., None] + heading[..., None] * _corners(float(agent_radius), agents.angles.device)
    lines = torch.stack([corners[..., :-1], corners[..., 1:]], -1)  # (E, A, M, 2) complex
    return torch.view_as_real(lines).flatten(1, 2)


_body_index: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


BODY_KERNELS = ("draw_bodies",)
"""The kernels of ``cuda/bodies.cu``, each named after its torch reference in this module."""


@functools.cache
def body_kernels(implementation: str, device: torch.device) -> Kernels:
    """The kernels that draw bodies on ``device`` as ``implementation`` (``"auto"``, ``"torch"`` or ``"cuda"``),
    chosen by :func:`~megastep_core.kernels.load_kernels`; cached, as bodies are drawn every step."""
    return load_kernels("megastep_core.cuda", "bodies.cu", BODY_KERNELS, device=device, implementation=implementation,
                        references=sys.modules[__name__], what="draw_bodies backend")


def draw_bodies(scenery: Scenery, agents: Agents, backend: str | Kernels = "auto") -> None:
    """Moves the agents' body lines in ``scenery.lines`` to where ``agents`` are, in place.

    The torch path is this function's own code; its kernel of the same name is ``cuda/bodies.cu``.

    :param backend: the kernels to draw with (:attr:`World.kernels`), or how to choose them: ``"auto"`` (the
        kernel where the scenery is on CUDA and CuPy can run, else the torch code), ``"torch"`` or ``"cuda"``.
        A World passes the kernels its physics chose.
    """
    if scenery.body_lines != BODY_LINES:
        raise ValueError(f"bodies are squares of {BODY_LINES} lines, but the scenery has {scenery.body_lines}")
    kernels = backend if isinstance(backend, Kernels) else body_kernels(backend, scenery.device)
    if not kernels.cuda:
        index = _body_index.get(scenery)
        if index is None:  # the lines of each env's bodies never move in the ragged table
            index = scenery.lines.starts[:, None] + torch.arange(scenery.n_body_lines, device=scenery.device)
            _body_index[scenery] = index
        scenery.lines.vals[index] = body_lines(agents, scenery.agent_radius)
        return
    # captured in CUDA graphs: no allocation (the agents' tensors are float32 and contiguous already) and
    # nothing that waits for the device
    n_envs, n_agents = scenery.n_envs, scenery.n_agents
    positions, angles = agents.positions.float().contiguous(), agents.angles.float().contiguous()
    if positions.shape != (n_envs, n_agents, 2) or angles.shape != (n_envs, n_agents):
        # the kernel would write past the bodies' rows, where the torch path fails on the shapes
        raise ValueError(f"the scenery has {n_envs} envs of {n_agents} agents, but the agents' positions are "
                         f"{tuple(positions.shape)} and angles {tuple(angles.shape)}")
    lines = scenery.lines.vals
    if lines.data_ptr() % 16:  # the kernel writes each line as one float4
        raise ValueError("the body kernel needs scenery.lines.vals to start on a 16-byte boundary")
    n_lines = n_envs * scenery.n_body_lines
    kernels["draw_bodies"](-(-n_lines // 256), 256, positions, angles, scenery.lines.starts, lines,
                           float(scenery.agent_radius), n_envs, n_agents, scenery.body_lines)
