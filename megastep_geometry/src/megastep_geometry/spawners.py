"""Spawner backends: where agents start an episode.

A spawner is called with the world and a bool mask, ``(E,)`` (every agent of
those envs) or ``(E, A)`` (just those agents), places them at rest, and
returns the ``(E, A)`` bool of the agents it placed: a multi-agent env
respawns single agents this way, and an agent whose place would crowd the
others is left where it is, to be asked for again next step. A spawner runs
every time an env resets, so it must not synchronise the host with the GPU:
everything that needs the host (which points of each geometry are safe) is
computed once, on first use, into one padded device tensor; after that each
call is a fixed sequence of tensor operations on the device, whatever the
mask holds.

It cannot skip the envs that do not reset, either: envs reset themselves
inside a CUDA-graph-captured step, so the spawner runs for every env on every
step, and each of its kernels is paid every step. On CUDA the random spawner
is therefore one fused kernel (``cuda/spawn.cu``), which also draws the bodies
of the agents it places (with ``megastep_core``'s ``bodies.cuh``, the code of
:func:`~megastep_core.draw_bodies`' kernel), instead of some fifteen small
kernels for one agent and forty-five for four and :meth:`World.place`'s
redraw of every body; its PyTorch code stays the reference and the CPU path,
and both spawn exactly the same agents and bodies.

Spawners draw counter-based numbers (:mod:`megastep_core.random`), which the
kernel hashes itself: no torch draw kernels, and no ``torch.Generator`` for a
CUDA graph to register and refill before every replay.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from megastep_core import Geometry, GeometryError
from megastep_core.checks import same_device
from megastep_core.kernels import IMPLEMENTATIONS, load_kernels
from megastep_core.layouts import layout_index
from megastep_core.random import CounterRandom
from megastep_core.scenery import BODY_LINES

from .masks import clear_mask, clear_points, free_cell_centres

DEFAULT_MARGIN = 0.05
"""Metres of space kept between a spawned agent and the nearest wall or agent, beyond touching."""

MAX_POINTS = 2048
"""Most candidate points kept per geometry: enough to spread spawns over a home,
few enough that thousands of geometries fit on a GPU."""

PLACEMENT_TRIES = 8
"""Placements of an env's masked agents drawn at once; the first whose agents are
all far enough apart (from each other and from the env's unmasked agents) is
taken. An env with none falls back to its geometry's precomputed separated
points where all its agents are masked, and places none of them otherwise."""


def _layouts(world) -> tuple[list[Geometry], np.ndarray]:
    """Each distinct geometry of ``world`` once, in order of first appearance, and each env's index into them:
    the world's :func:`~megastep_core.layouts.layout_index`."""
    index = layout_index(world.scenery)
    return [world.geometries[i] for i in index.representatives.tolist()], index.env_layout.cpu().numpy()


def safe_points(geometry: Geometry, clearance: float) -> np.ndarray:
    """``(N, 2)`` float64 metres: points of a geometry more than ``clearance`` from every wall.

    The candidates are the geometry's own ``spawns`` where it has them, else
    the centres of its free mask cells.
    """
    if geometry.spawns is not None and len(geometry.spawns):
        points = geometry.spawns.astype(np.float64)
        return points[clear_points(points, geometry.walls, clearance)]
    clear = clear_mask(geometry.mask, geometry.origin, geometry.resolution, geometry.walls, clearance)
    return free_cell_centres(clear, geometry.origin, geometry.resolution)


def separated_points(points: np.ndarray, count: int, separation: float, seed: int = 0) -> np.ndarray | None:
    """``(count, 2)`` of ``points`` pairwise at least ``separation`` apart, picked greedily in a
    shuffled order, or ``None`` when the greedy pick finds fewer than ``count``."""
    order = np.random.default_rng(seed).permutation(len(points))
    chosen: list[np.ndarray] = []
    for point in points[order]:
        if all(np.hypot(*(point - c)) >= separation for c in chosen):
            chosen.append(point)
            if len(chosen) == count:
                return np.stack(chosen)
    return None


class _Candidates:
    """The safe points of every geometry of one world, on its device.

    :ivar points: ``(G, P, 2)`` float32 metres, padded with each geometry's first point.
    :ivar counts: ``(G,)`` int64, real points per geometry.
    :ivar fallback: ``(G, A, 2)`` float32 metres, ``A`` points per geometry pairwise separated.
    :ivar env_geometry: ``(E,)`` int64, each env's geometry.
    :ivar env_counts: ``(E,)`` int64, real points of each env's geometry.
    """

    def __init__(self, world, clearance: float, separation: float, max_points: int, seed: int):
        unique, env_ids = _layouts(world)
        n_agents = world.n_agents
        padded, counts, fallback = [], [], []
        for geometry in unique:
            points = safe_points(geometry, clearance)
            if len(points) == 0:
                raise GeometryError(
                    f"geometry {geometry.name!r}: no free point is {clearance:.3f} m (agent radius plus margin) "
                    "from every wall, so no agent can be spawned in it"
                )
            if len(points) > max_points:
                points = points[np.random.default_rng(seed).choice(len(points), max_points, replace=False)]
            spread = separated_points(points, n_agents, separation, seed) if n_agents > 1 else points[:1]
            if spread is None:
                raise GeometryError(
                    f"geometry {geometry.name!r}: cannot find {n_agents} spawn points {separation:.3f} m apart "
                    f"and {clearance:.3f} m from every wall"
                )
            padded.append(points)
            counts.append(len(points))
            fallback.append(spread)
        width = max(counts)
        table = np.stack([np.concatenate([p, np.repeat(p[:1], width - len(p), 0)]) for p in padded])
        device = world.device
        self.points = torch.as_tensor(table, dtype=torch.float32, device=device)
        self.counts = torch.as_tensor(counts, dtype=torch.int64, device=device)
        self.fallback = torch.as_tensor(np.stack(fallback), dtype=torch.float32, device=device)
        self.env_geometry = torch.as_tensor(env_ids, device=device)
        self.env_counts = self.counts[self.env_geometry]


def _check_mask(world, mask: torch.Tensor) -> None:
    """Raises ValueError unless ``mask`` is an ``(E,)`` or ``(E, A)`` bool tensor on the world's device."""
    shapes = ((world.n_envs,), (world.n_envs, world.n_agents))
    if torch.is_tensor(mask) and mask.dtype == torch.bool and tuple(mask.shape) in shapes:
        if same_device(mask.device, world.device):
            return
    got = f"{tuple(mask.shape)} {mask.dtype} on {mask.device}" if torch.is_tensor(mask) else type(mask).__name__
    raise ValueError(
        f"mask must be a bool tensor on the world's device {world.device}, either {shapes[0]} (every agent "
        f"of those envs) or {shapes[1]} (just those agents); got {got}"
    )


def _agent_mask(world, mask: torch.Tensor) -> torch.Tensor:
    """``(E, A)`` bool: ``mask`` as one flag per agent; an ``(E,)`` mask is expanded, a view, not a copy."""
    return mask[:, None].expand(world.n_envs, world.n_agents) if mask.dim() == 1 else mask


def _place(world, mask: torch.Tensor, positions: torch.Tensor, angles: torch.Tensor) -> None:
    """Writes ``positions`` ``(E, A, 2)`` metres and ``angles`` ``(E, A)`` degrees into the agents of ``mask``
    (``(E,)``: every agent of those envs; ``(E, A)``: just those), stops them, and redraws the bodies."""
    agents = world.agents
    chosen = mask[:, None] if mask.dim() == 1 else mask  # (E, 1) or (E, A): either broadcasts over agents
    agents.positions.copy_(torch.where(chosen[..., None], positions, agents.positions))
    agents.angles.copy_(torch.where(chosen, angles, agents.angles))
    agents.velocity.masked_fill_(chosen[..., None], 0.0)
    agents.angvelocity.masked_fill_(chosen, 0.0)
    world.place()


def _degrees(uniforms: torch.Tensor) -> torch.Tensor:
    """Angles in ``[-180, 180)`` degrees from uniforms in ``[0, 1)``, rounded as ``spawn.cu`` rounds them."""
    return uniforms * 360.0 - 180.0


def _any_masked(mask: torch.Tensor) -> torch.Tensor:
    """``(E,)`` bool: the envs with at least one agent in ``mask`` (``(E,)`` or ``(E, A)``)."""
    return mask if mask.dim() == 1 else mask.any(1)


class _SeededSpawner:
    """A spawner whose random numbers are counter-based (:class:`~megastep_core.random.CounterRandom`, purpose
    ``"spawn"``), one set of counters per world; each call advances the counter of every env with a masked agent.

    :ivar seed: the ``seed`` option, or None.
    :ivar random_seed: the seed of the numbers: ``seed``, else one picked once from torch's global CPU generator,
        so that unseeded spawners differ from run to run.
    """

    def __init__(self, options: Mapping[str, Any]):
        self.seed = options.get("seed")
        self.random_seed = int(torch.randint(2**31, ()).item()) if self.seed is None else int(self.seed)
        self.random: CounterRandom | None = None

    def _new_random(self, world) -> None:
        self.random = CounterRandom(self.random_seed, "spawn", world.n_envs, world.device)


class RandomSpawner(_SeededSpawner):
    """Spawns agents at random safe points of their env's free space, at random angles.

    A point is safe when it is at least the agent radius plus ``margin`` from
    every wall; agents of one env are at least twice the radius plus
    ``margin`` apart. With several agents, :data:`PLACEMENT_TRIES` placements
    of the masked agents are drawn at once and the first is taken where every
    masked agent is apart from the other masked agents' new points and from
    the unmasked agents' current positions (two unmasked agents are not this
    call's business). An env with no such placement gets its geometry's
    precomputed separated points if all its agents are masked; otherwise none
    of its agents is placed, and the caller may ask again next step. (A fixed
    number of tries, all drawn in one go, rather than "until done": asking
    "done?" would sync with the GPU, and a loop of re-draws would be a few
    kernels per round on every step of every env.)

    Each call takes ``T * A + A`` counter-based numbers per env (``T`` tries,
    ``A`` agents): number ``t * A + a`` is agent ``a``'s point in try ``t``,
    number ``T * A + a`` its angle. The counter of an env with a masked agent
    then moves on; the others keep theirs, so an env's numbers depend on how
    often it respawned, not on the other envs.

    Options: ``margin`` (metres, default :data:`DEFAULT_MARGIN`), ``seed``
    (an int; else one picked from torch's global generator), ``max_points``
    (candidates kept per geometry, default :data:`MAX_POINTS`); ``backend``:
    ``"torch"``, ``"cuda"`` (the fused kernel of :mod:`megastep_geometry.cuda`,
    which spawns exactly the same agents), or ``"auto"`` (the default: ``cuda``
    where the world is on a GPU and CuPy can run).

    Agents are apart when their squared distance is at least the squared
    separation, both in float32: squares and sums round the same way in torch
    and in the kernel, where torch's own ``norm`` may fuse them differently.
    """

    def __init__(self, options: Mapping[str, Any]):
        super().__init__(options)
        self.margin = float(options.get("margin", DEFAULT_MARGIN))
        if not self.margin >= 0:
            raise ValueError(f"margin must be non-negative metres, got {self.margin}")
        self.max_points = int(options.get("max_points", MAX_POINTS))
        if self.max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {self.max_points}")
        self.backend = options.get("backend", "auto")
        if self.backend not in IMPLEMENTATIONS:
            raise ValueError(f"spawner option backend must be one of {IMPLEMENTATIONS}, got {self.backend!r}")
        self._world = None
        self._candidates: _Candidates | None = None
        self._kernel = None

    def _load_kernel(self, world):
        """The fused kernel, or None for the torch path: as ``backend`` says, and for ``"auto"`` as the world's
        kernels are (:attr:`World.kernels <megastep_core.world.World.kernels>`), so a world whose physics runs
        in torch runs no kernel."""
        implementation = self.backend
        if implementation == "auto" and hasattr(world, "kernels"):
            implementation = world.kernels.implementation
        kernels = load_kernels("megastep_geometry.cuda", "spawn.cu", ["spawn_random"], device=world.device,
                               implementation=implementation, what="spawner option backend")
        return kernels["spawn_random"] if kernels.cuda else None

    def candidates(self, world) -> _Candidates:
        """The world's safe points, computed on the first call for each world (with the kernel for its device, and
        new counters)."""
        if self._world is None or self._world() is not world:
            self._kernel = self._load_kernel(world)
            self._new_random(world)
            radius = world.agent_radius
            self._candidates = _Candidates(
                world, radius + self.margin, 2 * radius + self.margin, self.max_points, int(self.seed or 0)
            )
            self._world = weakref.ref(world)
        return self._candidates

    def __call__(self, world, mask: torch.Tensor) -> torch.Tensor:
        """Places the agents of ``mask`` (``(E,)`` or ``(E, A)`` bool) that fit, as the class says.

        :returns: ``(E, A)`` bool on the world's device, a new tensor: the agents placed. For an ``(E,)``
            mask, every agent of the masked envs; for ``(E, A)``, those of the mask that fit.
        """
        _check_mask(world, mask)
        table = self.candidates(world)
        n_envs, n_agents, device = world.n_envs, world.n_agents, world.device
        tries = PLACEMENT_TRIES if n_agents > 1 else 1
        separation = 2 * world.agent_radius + self.margin
        min_gap2 = float(np.float32(separation**2))  # exact in float32, so torch and the kernel compare alike
        random = self.random
        if self._kernel is None:
            uniforms = random.uniforms(tries * n_agents + n_agents, mask=_any_masked(mask))
            points = uniforms[:, : tries * n_agents].view(n_envs, tries, n_agents)
            per_agent = _agent_mask(world, mask)
            positions, placed = self._positions(table, points, min_gap2, per_agent, world.agents.positions)
            _place(world, placed, positions, _degrees(uniforms[:, tries * n_agents :]))
            return placed
        agents, scenery = world.agents, world.scenery
        placed = torch.empty((n_envs, n_agents), dtype=torch.bool, device=device)  # the kernel writes every env
        agent_stride = mask.dim() - 1  # 0 reads an (E,) mask as every agent of its env, with no expanded copy
        # the kernel draws the bodies it moves where they are draw_bodies' squares, one float4 row per line
        draws = scenery.body_lines == BODY_LINES and scenery.lines.vals.data_ptr() % 16 == 0
        self._kernel(
            (n_envs + 127) // 128, 128, mask.contiguous(), agent_stride, random.counters, np.uint32(random.key),
            table.points, table.env_geometry, table.env_counts, table.fallback, agents.positions, agents.angles,
            agents.velocity, agents.angvelocity, placed, scenery.lines.starts,
            scenery.lines.vals if draws else np.uint64(0), float(world.agent_radius), scenery.body_lines,
            n_envs, n_agents, tries, table.points.shape[1], min_gap2,
        )
        if not draws:
            world.place()
        return placed

    @staticmethod
    def _positions(
        table: _Candidates, uniforms: torch.Tensor, min_gap2: float, mask: torch.Tensor, current: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Where the masked agents go, and which of them do. The reference for the kernel.

        :param uniforms: ``(E, T, A)`` in ``[0, 1)``, each agent's candidate point in each try.
        :param mask: ``(E, A)`` bool, the agents to place.
        :param current: ``(E, A, 2)`` metres, where the agents stand now.
        :returns: ``(E, A, 2)`` metres, each env's first try whose masked agents are all at least
            ``sqrt(min_gap2)`` metres from every other agent (masked ones at their new points, the others where
            they stand), else its fallback points; and the ``(E, A)`` bool of the masked agents placed: all of
            them where a try was good or the whole env is masked (the fallback), none otherwise.
        """
        n_envs, _, n_agents = uniforms.shape
        counts = table.env_counts[:, None, None]
        index = (uniforms * counts).long().clamp_max(counts - 1)
        points = table.points[table.env_geometry[:, None, None], index]  # (E, T, A, 2)
        if n_agents == 1:
            return points[:, 0], mask.clone(memory_format=torch.contiguous_format)
        # Where each agent would stand in each try: its candidate if it moves, else where it is now.
        standing = torch.where(mask[:, None, :, None], points, current[:, None])  # (E, T, A, 2)
        dx, dy = (standing[:, :, :, None] - standing[:, :, None]).unbind(-1)  # (E, T, A, A) each
        apart = dx * dx + dy * dy >= min_gap2
        # Pairs of two unmasked agents are not this call's business, nor is an agent and itself.
        unchecked = ~(mask[:, :, None] | mask[:, None]) | torch.eye(n_agents, dtype=torch.bool, device=mask.device)
        good = (apart | unchecked[:, None]).flatten(2).all(-1)  # (E, T)
        first = good.int().argmax(1)  # the first good try, or 0 if none is
        positions = points[torch.arange(n_envs, device=mask.device), first]
        found = good.any(1)
        fallback = table.fallback[table.env_geometry]
        positions = torch.where(found[:, None, None], positions, fallback)
        return positions, mask & (found | mask.all(1))[:, None]


class FixedSpawner(_SeededSpawner):
    """Spawns agents at given points.

    Options: ``points``, ``(A, 2)`` metres (the same in every env) or
    ``(E, A, 2)``; ``angles`` (optional, degrees, ``(A,)`` or ``(E, A)``; random
    when absent: counter-based number ``a`` of each env for agent ``a``, the
    counter moving on in envs with a masked agent); ``seed`` for the random
    angles (else one picked from torch's global generator). The points are
    checked against each env's walls on the first call. Every masked agent is
    placed, whether or not another agent stands on its point.
    """

    def __init__(self, options: Mapping[str, Any]):
        super().__init__(options)
        if "points" not in options:
            raise ValueError("the 'fixed' spawner needs the option points: (A, 2) or (E, A, 2) metres")
        self.points = torch.as_tensor(np.asarray(options["points"], dtype=np.float32))
        if self.points.ndim not in (2, 3) or self.points.shape[-1] != 2:
            raise ValueError(f"points must have shape (A, 2) or (E, A, 2) metres, got {tuple(self.points.shape)}")
        if not torch.isfinite(self.points).all():
            raise ValueError("points must be finite metres; they hold NaN or infinity")
        angles = options.get("angles")
        self.angles = None if angles is None else torch.as_tensor(np.asarray(angles, dtype=np.float32))
        if self.angles is not None and self.angles.ndim not in (1, 2):
            raise ValueError(f"angles must have shape (A,) or (E, A) degrees, got {tuple(self.angles.shape)}")
        self._world = None

    def _prepare(self, world) -> None:
        n_envs, n_agents = world.n_envs, world.n_agents
        points = self.points if self.points.ndim == 3 else self.points.expand(n_envs, -1, -1)
        if tuple(points.shape) != (n_envs, n_agents, 2):
            raise ValueError(
                f"points must have shape ({n_agents}, 2) or ({n_envs}, {n_agents}, 2) for this world, "
                f"got {tuple(self.points.shape)}"
            )
        if self.angles is not None:
            angles = self.angles if self.angles.ndim == 2 else self.angles.expand(n_envs, -1)
            if tuple(angles.shape) != (n_envs, n_agents):
                raise ValueError(
                    f"angles must have shape ({n_agents},) or ({n_envs}, {n_agents}) degrees, "
                    f"got {tuple(self.angles.shape)}"
                )
            self._angles_on_device = angles.to(world.device)
        unique, env_ids = _layouts(world)
        radius = world.agent_radius
        host = points.numpy()
        for g, geometry in enumerate(unique):
            mine = host[env_ids == g].reshape(-1, 2)
            near = np.flatnonzero(~clear_points(mine, geometry.walls, radius))
            if len(near):
                raise GeometryError(
                    f"geometry {geometry.name!r}: fixed spawn point {mine[near[0]].tolist()} is within "
                    f"the agent radius {radius} m of a wall"
                )
        self._points_on_device = points.to(world.device)
        self._new_random(world)
        self._world = weakref.ref(world)

    def __call__(self, world, mask: torch.Tensor) -> torch.Tensor:
        """Places the agents of ``mask`` (``(E,)`` or ``(E, A)`` bool) at their points.

        :returns: ``(E, A)`` bool on the world's device, a new tensor: the agents placed, ``mask`` per agent.
        """
        _check_mask(world, mask)
        if self._world is None or self._world() is not world:
            self._prepare(world)
        if self.angles is not None:
            angles = self._angles_on_device
        else:
            angles = _degrees(self.random.uniforms(world.n_agents, mask=_any_masked(mask)))
        _place(world, mask, self._points_on_device, angles)
        return _agent_mask(world, mask).clone(memory_format=torch.contiguous_format)
