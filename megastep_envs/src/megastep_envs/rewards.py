"""The reward of each env's task, as ``megastep_reward`` plugins selectable by name.

A reward is an object with ``reset(env, mask)`` and ``__call__(env, render) -> (E, A)``
(:class:`megastep_core.Reward`). Envs make theirs with
``get_plugin_manager().make("reward", name, options)``, so a user swaps the
reward of an env by passing another name, without editing the env.

========================  ===========  ===================================================
name                      env          pays
========================  ===========  ===================================================
``forward_progress``      Minimal      metres per second moved in the direction faced
``new_texels``            Explorer     wall texels seen for the first time this episode
``goal_reached``          PointGoal    1 on the step the agent comes within reach of its goal
``goal_progress``         PointGoal    the metres of walking distance to the goal gained this step, and 1 on
                                       reaching it
``hits``                  Deathmatch   1 for each step an agent holds another at the centre of its view
``zero_sum_hits``         Deathmatch   1 per hit given, -1 per hit taken, and a death's cost from the dead
                                       to those who killed it
========================  ===========  ===================================================
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from megastep_core import Render, World
from megastep_core.kernels import BACKENDS, optional_kernels

from .fusion import fused
from .observations import to_agent_frame


def _float_option(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"reward option {key} must be a number, got {value!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"reward option {key} must be finite, got {value}")
    return value


def centre_targets(world: World, render: Render) -> torch.Tensor:
    """``(E, A)`` int64: the agent at the centre pixel of each agent's first camera, or -1 if it sees none there.

    Agent bodies are the first ``A * M`` lines of each env, ``M`` per agent, so
    a hit line index ``i < A * M`` belongs to agent ``i // M``; a wall's index
    gives ``A`` or more, and a miss (-1) gives -1.
    """
    centre = render.indices[:, :, 0, render.indices.shape[-1] // 2]
    agent = centre.div(world.scenery.body_lines, rounding_mode="floor").long()
    return agent.masked_fill_(agent >= world.n_agents, -1)


class ForwardProgress:
    """Pays the speed at which each agent moved in the direction it faces, in metres per second.

    Options: ``scale`` (multiplies the reward, default 1).
    """

    reads = "agents"  # not the render: an env on a GPU pays it during the render

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)
        self.previous: torch.Tensor | None = None

    def reset(self, env, mask: torch.Tensor) -> None:
        positions = env.world.agents.positions
        if self.previous is None or self.previous.shape != positions.shape:
            self.previous = positions.clone()
        self._start_from(positions, mask)

    @fused
    def _start_from(self, positions: torch.Tensor, mask: torch.Tensor) -> None:
        self.previous.copy_(torch.where(mask[:, None, None], positions, self.previous))

    @fused
    def __call__(self, env, render: Render | None) -> torch.Tensor:
        agents = env.world.agents
        forward = to_agent_frame(agents.positions - self.previous, agents.angles)[..., 0]
        self.previous.copy_(agents.positions)
        return forward * (self.scale / env.world.dt)


class NewTexels:
    """Pays for every wall texel an agent sees for the first time in its episode.

    Each texel pays once per episode, to the first agent to see it, however many
    pixels show it. The reward of a step is the number of new texels divided by
    the pixels of the agent's image (``C * R``), so it is comparable across
    image widths. Only static walls count, not other agents' bodies.

    Options: ``scale`` (multiplies the reward, default 1); ``backend``:
    ``"torch"``, ``"cuda"`` (the fused kernel of :mod:`megastep_envs.cuda`,
    which pays exactly the same), or ``"auto"`` (the default: ``cuda`` where the
    world is on a GPU and CuPy can run).

    Each texel of the scenery carries a stamp: the episode of its env in which
    it was last seen. A texel is new when its stamp is not its env's current
    episode. Resetting an env then only counts its episode on, instead of
    clearing every texel it has (280 M texels at 65,536 homes).

    A step takes no sort and no host sync. A pixel showing a new texel
    claims it; the lowest claiming pixel of the env is the first to show it,
    pays, and stamps it with the episode. In torch, each claim, ``pixel - P``
    (below any episode), goes into the texel's stamp with an atomic minimum,
    and the pixel that finds its own claim there pays. A texel belongs to one
    env, so claims race only between the pixels of one env: the kernel gives
    each env one block, which settles the claims in a hash table of its own,
    in shared memory, and reads each stamp once: one launch a step.
    """

    NO_CLAIM = torch.iinfo(torch.int32).max
    SLOTS_PER_PIXEL = 2
    """The kernel's claims table has at least this many slots per pixel (a power of two in all), so that probing for
    a free slot ends quickly."""
    SHARED_CLAIMS = 2048
    """Most pixels per env whose claims the kernel settles in shared memory (at most 40 KiB: an int32 per pixel,
    and two per slot of a table of at least two slots a pixel); beyond, in global memory."""

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)
        self.backend = options.get("backend", "auto")
        if self.backend not in BACKENDS:
            raise ValueError(f"reward option backend must be one of {BACKENDS}, got {self.backend!r}")
        self.stamps: torch.Tensor | None = None
        self._kernels: dict | None = None
        self._world = None

    def _prepare(self, world: World) -> None:
        scenery = world.scenery
        lines, textures = scenery.lines, scenery.textures
        self.line_starts = lines.starts
        # per line: its first and last texel, and texels per unit of location along it
        first = textures.starts
        self.line_texels = torch.stack([first, first + textures.widths - 1], -1)
        self.texels_along = (lines.vals[:, 1] - lines.vals[:, 0]).norm(dim=-1) / scenery.texel_size
        cumulative = torch.cat([textures.widths.new_zeros(1), textures.widths.cumsum(0)])
        self.env_texel_starts = cumulative[lines.starts]
        self.env_texel_ends = cumulative[lines.ends]
        # (E,) int64: each env's first wall texel, after its agents' bodies; and (E,) float: its wall texels
        self.env_wall_texels = cumulative[lines.starts + scenery.n_body_lines]
        self.env_texels = (self.env_texel_ends - self.env_wall_texels).float()
        # episodes start at 1 and stamps at 0, so that nothing is seen yet
        self.stamps = torch.zeros(int(textures.vals.shape[0]), dtype=torch.int32, device=world.device)
        self.episodes = torch.ones(world.n_envs, dtype=torch.int32, device=world.device)
        self._kernels = self._load_kernels(world.device)
        if self._kernels is not None:
            self._prepare_layouts(scenery, cumulative)
        self._world = world

    def _prepare_layouts(self, scenery, cumulative: torch.Tensor) -> None:
        """The kernel's per-layout wall tables, read from the first env of each layout (see ``new_texels.cu``):
        envs built from one geometry have the same walls and textures."""
        # layouts numbered 0, 1, ... (whatever the ids), each with the first env built from it
        _, first_envs, layouts = np.unique(scenery.geometry_ids.cpu().numpy(), return_index=True,
                                           return_inverse=True)
        starts, ends = scenery.lines.starts.cpu(), scenery.lines.ends.cpu()
        cumulative, along = cumulative.cpu(), self.texels_along.cpu()
        counts, firsts, lasts, alongs = [0], [], [], []
        for env in first_envs:
            first_wall = int(starts[env]) + scenery.n_body_lines
            walls = torch.arange(first_wall, int(ends[env]))
            firsts.append(cumulative[walls] - cumulative[first_wall])  # texels before each wall, in its env
            lasts.append(cumulative[walls + 1] - cumulative[first_wall] - 1)
            alongs.append(along[walls])
            counts.append(len(walls))
        device = scenery.device
        # (E,) int32: the entry of each env's first wall in the tables below
        self.env_wall_base = torch.tensor(counts).cumsum(0)[torch.as_tensor(layouts)].int().to(device)
        self.wall_first = torch.cat(firsts).int().to(device)
        self.wall_last = torch.cat(lasts).int().to(device)
        self.wall_along = torch.cat(alongs).to(device)

    def _load_kernels(self, device: torch.device) -> dict | None:
        """The fused kernel, or None for the torch path, as ``backend`` and the device say."""
        too_many = len(self.stamps) >= 2**31
        backend = "torch" if too_many and self.backend == "auto" else self.backend
        if too_many and backend == "cuda":
            raise ValueError(f"reward option backend='cuda' cannot run here: the kernel indexes texels with 32-bit "
                             f"ints, and the scenery has {len(self.stamps):,}; use 'torch' or 'auto'")
        return optional_kernels(backend, device, "megastep_envs.cuda", "new_texels.cu", ["new_texels"],
                                "reward option backend")

    def texels(self, world: World, render: Render) -> torch.Tensor:
        """``(E, A, C, R)`` int64: the global texel each pixel shows (for a miss, one of its env's first line)."""
        index = render.indices
        line = index.clamp_min(0) + self.line_starts.view(-1, 1, 1, 1)
        span = self.line_texels[line]
        along = (render.locations * self.texels_along[line]).long()
        return torch.minimum(span[..., 0] + along, span[..., 1])

    def seen(self, e: int) -> torch.Tensor:
        """``(T_e,)`` bool: which texels of env ``e`` (all its lines', in order) were seen this episode."""
        first, last = int(self.env_texel_starts[e]), int(self.env_texel_ends[e])
        return self.stamps[first:last] == self.episodes[e]

    def reset(self, env, mask: torch.Tensor) -> None:
        if self._world is not env.world:
            self._prepare(env.world)
        self._next_episode(mask)

    @fused
    def _next_episode(self, mask: torch.Tensor) -> None:
        # compiled, one kernel; eagerly a cast and an add, where adding the bool is one slow mixed-type kernel
        self.episodes.add_(mask.int())

    def __call__(self, env, render: Render) -> torch.Tensor:
        world = env.world
        if self._world is not world:
            self._prepare(world)
        if self._kernels is not None:
            return self._reward_cuda(world, render)
        n_envs, n_agents, cameras, rays = render.indices.shape
        paid = self._paid_torch(world, render)
        reward = paid.view(n_envs, n_agents, cameras * rays).sum(-1, dtype=torch.float32)
        return reward.mul_(self.scale / (cameras * rays))

    def _paid_torch(self, world: World, render: Render) -> torch.Tensor:
        """``(E, P)`` bool: the pixels that pay, stamping what they show. The reference."""
        n_envs = render.indices.shape[0]
        texel = self.texels(world, render).view(n_envs, -1)
        pixels = texel.shape[1]
        wall = (render.indices >= world.scenery.n_body_lines).view(n_envs, pixels)
        episode = self.episodes[:, None]
        stamp = self.stamps[texel]
        fresh = wall & (stamp != episode)
        rank = torch.arange(pixels, dtype=torch.int32, device=world.device) - pixels
        claim = torch.where(fresh, rank, self.NO_CLAIM)
        self.stamps.scatter_reduce_(0, texel.view(-1), claim.view(-1), "amin")
        paid = fresh & (self.stamps[texel] == claim)
        # bodies' texels (and the texel a miss points at) keep their stamps
        self.stamps.index_copy_(0, texel.view(-1), torch.where(wall, episode, stamp).view(-1))
        return paid

    def _reward_cuda(self, world: World, render: Render) -> torch.Tensor:
        """``(E, A)`` float32: the reward, as :meth:`__call__` makes it from :meth:`_paid_torch`, in one launch."""
        n_envs, n_agents, cameras, rays = render.indices.shape
        pixels = n_agents * cameras * rays
        reward = torch.empty(n_envs, n_agents, dtype=torch.float32, device=world.device)
        # 64 threads of 4 pixels at a time (ROUND) cover Explorer's 256 pixels in one round, and fill an SM with
        # 32 blocks
        threads, slots = 64, 1 << (self.SLOTS_PER_PIXEL * pixels - 1).bit_length()
        # the table in shared memory, unless an env has too many pixels for it
        in_shared = pixels <= self.SHARED_CLAIMS
        scratch = (np.uint64(0) if in_shared
                   else torch.empty(n_envs * (pixels + 2 * slots), dtype=torch.int32, device=world.device))
        self._kernels["new_texels"](
            n_envs, threads, render.indices, render.locations, self.env_wall_base, self.env_wall_texels,
            self.wall_first, self.wall_last, self.wall_along, self.episodes, self.stamps, scratch,
            reward, n_agents, cameras * rays, world.scenery.n_body_lines, slots,
            self.scale / (cameras * rays), shared_mem=4 * (n_agents + (pixels + 2 * slots if in_shared else 0)),
        )
        return reward


class GoalReached:
    """Pays 1 on a step where an agent ends within ``env.success_radius`` metres of ``env.goals`` ``(E, A, 2)``.

    Options: ``scale`` (the payment, default 1).
    """

    reads = "agents"

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)

    def reset(self, env, mask: torch.Tensor) -> None:
        pass

    @fused
    def __call__(self, env, render: Render | None) -> torch.Tensor:
        distance = (env.world.agents.positions - env.goals).norm(dim=-1)
        return torch.where(distance < env.success_radius, self.scale, 0.0)


class GoalProgress:
    """Pays each step the decrease in the agent's walking (geodesic) distance to its goal, and ``success`` on
    reaching it: a potential-based shaping of :class:`GoalReached`.

    With the potential ``phi(s) = -scale * d(s)``, ``d`` the geodesic distance to the goal in metres, a step
    from ``s`` to ``s'`` pays ``gamma * phi(s') - phi(s) = scale * (d(s) - gamma * d(s'))``. Ng, Harada and
    Russell (1999) showed that adding such a difference of potentials to a reward leaves the optimal policies
    unchanged for a learner discounting by ``gamma``: the shaping only tells the agent sooner which way is
    better. With ``gamma`` 1 (the default) an episode's payments sum to ``scale`` times the distance it covered,
    ``d(start) - d(end)``; pass the learner's discount to keep the guarantee exact (the difference is a cost of
    ``scale * (1 - gamma) * d(s')`` a step, which also pushes towards the goal).

    The distance is read from the env's distance fields (``env.geodesic_to_goal()``), so the env must hold
    them: :class:`~megastep_envs.pointgoal.PointGoal` builds its goal table when its reward says
    ``needs_geodesic``. A step where the distance is not finite (an agent walled off from its goal) pays no
    progress.

    Options: ``scale`` (reward per metre, default 1), ``success`` (paid on the step the agent comes within
    ``env.success_radius`` of its goal, default 1), ``gamma`` (the discount of the potential, in (0, 1],
    default 1).
    """

    reads = "agents"
    needs_geodesic = True

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)
        self.success = _float_option(options, "success", 1.0)
        self.gamma = _float_option(options, "gamma", 1.0)
        if not 0 < self.gamma <= 1:
            raise ValueError(f"reward option gamma must be in (0, 1], got {self.gamma}")
        self.previous: torch.Tensor | None = None

    def reset(self, env, mask: torch.Tensor) -> None:
        if not hasattr(env, "geodesic_to_goal"):
            raise TypeError(f"the goal_progress reward reads geodesic distances to goals, which "
                            f"{type(env).__name__} does not have (PointGoal does)")
        distance = env.geodesic_to_goal()
        if self.previous is None or self.previous.shape != distance.shape:
            self.previous = distance.clone()
        self._start_from(distance, mask)

    @fused
    def _start_from(self, distance: torch.Tensor, mask: torch.Tensor) -> None:
        self.previous.copy_(torch.where(mask[:, None], distance, self.previous))

    @fused
    def __call__(self, env, render: Render | None) -> torch.Tensor:
        distance = env.geodesic_to_goal()
        progress = self.previous - self.gamma * distance
        progress = torch.where(progress.isfinite(), progress * self.scale, 0.0)
        self.previous.copy_(distance)
        reached = (env.world.agents.positions - env.goals).norm(dim=-1) < env.success_radius
        return progress + torch.where(reached, self.success, 0.0)


class Hits:
    """Pays 1 to an agent for each step it holds another agent at the centre pixel of its first camera.

    Options: ``scale`` (the payment per hit, default 1).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)

    def reset(self, env, mask: torch.Tensor) -> None:
        pass

    @fused
    def __call__(self, env, render: Render) -> torch.Tensor:
        return torch.where(centre_targets(env.world, render) >= 0, self.scale, 0.0)


class ZeroSumHits:
    """Deathmatch's zero-sum reward: a hit given pays ``hit``, a hit taken costs ``hit``, and a death costs
    ``death``, paid to the agents whose hits killed it (shared equally).

    What one agent earns another loses, so the agents of an env earn 0 between them on every step where nobody
    dies off the map (the map's free space drains health too; a death by that pays nobody). Self-play with it
    is a contest: one side's gain is the other's loss, as in a two-player game, rather than a cooperation in
    which both sides are paid for facing each other (which the ``hits`` reward pays, since each hit pays the
    shooter and costs the target nothing).

    A death is counted on the step that takes the agent's health to 0, from the health the env holds before
    its update and the same wounds its update will deal (``env.wounds``): the reward is paid before the
    update, with the step's render.

    Options: ``hit`` (default 1), ``death`` (default 5: at Deathmatch's default ``damage`` of 0.05 a kill
    takes 20 hits, which have paid the killers 20 already; the death adds a quarter to that).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.hit = _float_option(options, "hit", 1.0)
        self.death = _float_option(options, "death", 5.0)

    def reset(self, env, mask: torch.Tensor) -> None:
        if not hasattr(env, "wounds"):
            raise TypeError(f"the zero_sum_hits reward reads the health and wounds of Deathmatch's agents, which "
                            f"{type(env).__name__} does not have")

    @fused
    def __call__(self, env, render: Render) -> torch.Tensor:
        targets = centre_targets(env.world, render)  # (E, A): whom each agent hits, or -1
        ids = torch.arange(env.n_agents, device=targets.device)
        aims = targets[:, :, None] == ids  # (E, shooter, target)
        given, taken = (targets >= 0).float(), aims.sum(1).float()
        # alive before this step, dead after its wounds: what the env's update will find
        dies = (env.health > 0) & (env.health - env.wounds(targets) <= 0)
        cost = torch.where(dies, self.death, 0.0)
        # each killer's share of the cost of each agent it hit that died
        share = torch.where(taken > 0, cost / taken.clamp_min(1), 0.0)  # (E, target)
        bounty = (aims.float() * share[:, None, :]).sum(-1)  # (E, shooter)
        return self.hit * (given - taken) - cost + bounty


REWARDS = {
    "forward_progress": (ForwardProgress, "Minimal: metres per second moved in the direction faced"),
    "new_texels": (NewTexels, "Explorer: wall texels seen for the first time, per image pixel"),
    "goal_reached": (GoalReached, "PointGoal: 1 on reaching the goal"),
    "hits": (Hits, "Deathmatch: 1 per step another agent is at the centre of view"),
    "goal_progress": (GoalProgress, "PointGoal: metres of walking distance to the goal gained, and 1 on reaching it"),
    "zero_sum_hits": (ZeroSumHits, "Deathmatch: hits given less hits taken, and a death's cost paid to its killers"),
}
