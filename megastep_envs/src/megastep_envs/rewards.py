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
``hits``                  Deathmatch   1 for each step an agent holds another at the centre of its view
========================  ===========  ===================================================
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from megastep_core import Render, World


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
    a hit line index ``i < A * M`` belongs to agent ``i // M``.
    """
    scenery = world.scenery
    centre = render.indices[:, :, 0, render.indices.shape[-1] // 2]
    is_agent = (centre >= 0) & (centre < scenery.n_body_lines)
    return torch.where(is_agent, centre // scenery.body_lines, -1)


class ForwardProgress:
    """Pays the speed at which each agent moved in the direction it faces, in metres per second.

    Options: ``scale`` (multiplies the reward, default 1).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)
        self.previous: torch.Tensor | None = None

    def reset(self, env, mask: torch.Tensor) -> None:
        positions = env.world.agents.positions
        if self.previous is None or self.previous.shape != positions.shape:
            self.previous = positions.clone()
        self.previous.copy_(torch.where(mask[:, None, None], positions, self.previous))

    def __call__(self, env, render: Render) -> torch.Tensor:
        agents = env.world.agents
        angles = torch.deg2rad(agents.angles)
        heading = torch.stack([angles.cos(), angles.sin()], -1)
        moved = ((agents.positions - self.previous) * heading).sum(-1)
        self.previous.copy_(agents.positions)
        return self.scale * moved / env.world.dt


class NewTexels:
    """Pays for every wall texel an agent sees for the first time in its episode.

    Each texel pays once per episode, to the first agent to see it, however many
    pixels show it. The reward of a step is the number of new texels divided by
    the pixels of the agent's image (``C * R``), so it is comparable across
    image widths. Only static walls count, not other agents' bodies.

    Options: ``scale`` (multiplies the reward, default 1).

    Each texel of the scenery carries a stamp: the episode of its env in which
    it was last seen (plus one spare slot that misses write to, so that a single
    scatter needs no mask). A texel is new when its stamp is not its env's
    current episode. Resetting an env then only counts its episode on, instead
    of clearing every texel it has (280 M texels at 65,536 homes).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)
        self.stamps: torch.Tensor | None = None
        self._world = None

    def _prepare(self, world: World) -> None:
        scenery = world.scenery
        lines, textures = scenery.lines, scenery.textures
        self.line_starts = lines.starts
        self.texel_starts = textures.starts
        self.texel_widths = textures.widths
        self.line_lengths = (lines.vals[:, 1] - lines.vals[:, 0]).norm(dim=-1)
        cumulative = torch.cat([textures.widths.new_zeros(1), textures.widths.cumsum(0)])
        self.env_texel_starts = cumulative[lines.starts]
        self.env_texel_ends = cumulative[lines.ends]
        self.n_texels = int(textures.vals.shape[0])
        # episodes start at 1 and stamps at 0, so that nothing is seen yet
        self.stamps = torch.zeros(self.n_texels + 1, dtype=torch.int32, device=world.device)
        self.episodes = torch.ones(world.n_envs, dtype=torch.int32, device=world.device)
        self._world = world

    def texels(self, world: World, render: Render) -> torch.Tensor:
        """``(E, A, C, R)`` int64: the global texel each pixel shows, or the spare slot for a miss or a body."""
        scenery = world.scenery
        index = render.indices
        wall = index >= scenery.n_body_lines
        line = self.line_starts.view(-1, 1, 1, 1) + index.clamp_min(0)
        width = self.texel_widths[line]
        along = (render.locations * self.line_lengths[line] / scenery.texel_size).long()
        texel = self.texel_starts[line] + torch.minimum(along.clamp_min(0), width - 1)
        return torch.where(wall, texel, self.n_texels)

    def seen(self, e: int) -> torch.Tensor:
        """``(T_e,)`` bool: which texels of env ``e`` (all its lines', in order) were seen this episode."""
        first, last = int(self.env_texel_starts[e]), int(self.env_texel_ends[e])
        return self.stamps[first:last] == self.episodes[e]

    def reset(self, env, mask: torch.Tensor) -> None:
        if self._world is not env.world:
            self._prepare(env.world)
        self.episodes.add_(mask)

    def __call__(self, env, render: Render) -> torch.Tensor:
        world = env.world
        if self._world is not world:
            self._prepare(world)
        n_envs, n_agents, cameras, rays = render.indices.shape
        texel = self.texels(world, render).reshape(n_envs, -1)
        # sort each env's pixels so that pixels showing one texel are neighbours; the first of them pays
        ordered, pixel = texel.sort(dim=-1, stable=True)
        first = torch.ones_like(ordered, dtype=torch.bool)
        first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        episode = self.episodes[:, None].expand_as(ordered)
        new = first & (ordered < self.n_texels) & (self.stamps[ordered] != episode)
        # every pixel of a texel writes the same stamp; the spare slot takes any
        self.stamps.index_put_((ordered.reshape(-1),), episode.reshape(-1))
        agent = pixel // (cameras * rays)
        reward = torch.zeros(n_envs, n_agents, device=world.device).scatter_add_(1, agent, new.float())
        return self.scale * reward / (cameras * rays)


class GoalReached:
    """Pays 1 on a step where an agent ends within ``env.success_radius`` metres of ``env.goals`` ``(E, A, 2)``.

    Options: ``scale`` (the payment, default 1).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)

    def reset(self, env, mask: torch.Tensor) -> None:
        pass

    def __call__(self, env, render: Render) -> torch.Tensor:
        distance = (env.world.agents.positions - env.goals).norm(dim=-1)
        return self.scale * (distance < env.success_radius).float()


class Hits:
    """Pays 1 to an agent for each step it holds another agent at the centre pixel of its first camera.

    Options: ``scale`` (the payment per hit, default 1).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.scale = _float_option(options, "scale", 1.0)

    def reset(self, env, mask: torch.Tensor) -> None:
        pass

    def __call__(self, env, render: Render) -> torch.Tensor:
        return self.scale * (centre_targets(env.world, render) >= 0).float()


REWARDS = {
    "forward_progress": (ForwardProgress, "Minimal: metres per second moved in the direction faced"),
    "new_texels": (NewTexels, "Explorer: wall texels seen for the first time, per image pixel"),
    "goal_reached": (GoalReached, "PointGoal: 1 on reaching the goal"),
    "hits": (Hits, "Deathmatch: 1 per step another agent is at the centre of view"),
}
