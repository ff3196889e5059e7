"""Deathmatch: four agents per home, each wounding whichever agent is at the centre of its view.

Every step, an agent that holds another agent at the centre pixel of its
camera hits it: the target loses ``damage`` health and the shooter earns the
``hits`` reward (or, with ``reward="zero_sum_hits"``, the shooter earns what
the target loses: :class:`ZeroSumHits`). Health also
drains while an agent is outside the map's free space. An agent whose health
reaches zero respawns at a random free point, away from the others, with full
health; the env itself goes on until its lifespan truncates it. Observations are per agent: ``(E, A, ...)``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from megastep_core import Camera, Geometry, Render
from megastep_core.spaces import Box

from ..modules.movement import MomentumMovement
from ..modules.observations import FunctionObservation
from ..modules.occupancy import OccupancyGrid
from ..step.compiling import compilable
from ..step.env import Env
from .common import CombatTask, centre_targets, float_option, homes_unless_given, require, sight


class Deathmatch(Env):
    """``A`` agents per home, hitting whoever is at the centre of their view.

    Observations: ``rgb`` ``(E, A, 1, 3, W)``, ``depth`` ``(E, A, 1, W)``, ``imu``
    ``(E, A, 3)``, ``health`` ``(E, A, 1)``. Actions ``(E, A)``. Reward ``(E, A)``.

    :param n_envs: ``E``.
    :param n_agents: ``A``.
    :param geometries: layouts, repeated in turn; procedural homes by default.
    :param split: which homes when ``geometries`` is None.
    :param damage: health lost per hit taken (health starts at 1).
    :param outside_damage: health lost per step spent outside the free space.
    :param options: anything :class:`~megastep_envs.step.env.Env` takes.
    """

    name = "deathmatch"
    multi_agent = True

    def __init__(
        self,
        n_envs: int = 64,
        *,
        n_agents: int = 4,
        geometries: Sequence[Geometry] | None = None, split: str = "training",
        pixels: int = 512, fov: float = 70.0, subsample: int = 4, max_depth: float = 10.0,
        damage: float = 0.05,
        outside_damage: float = 0.01,
        **options,
    ):
        if isinstance(n_agents, bool) or int(n_agents) != n_agents or n_agents < 2:
            raise ValueError(f"n_agents must be an integer of at least 2 (someone to hit), got {n_agents!r}")
        for label, value in (("damage", damage), ("outside_damage", outside_damage)):
            if not 0 <= float(value) <= 1:
                raise ValueError(f"{label} must be a fraction of full health in [0, 1], got {value!r}")
        options.setdefault("reward", "hits")
        options.setdefault("lifespan", (1024, 2048))
        geometries = homes_unless_given(geometries, n_envs, split, options)
        super().__init__(geometries, n_envs, n_agents=int(n_agents), cameras=[Camera(pixels, fov)], **options)
        self.damage, self.outside_damage = float(damage), float(outside_damage)
        self.occupancy = OccupancyGrid(self.world.geometries, self.device)
        self.health = torch.ones(self.n_envs, self.n_agents, device=self.device)
        self.deaths = torch.zeros(self.n_envs, self.n_agents, dtype=torch.int64, device=self.device)
        self._agent_ids = torch.arange(self.n_agents, device=self.device)
        self.movement = MomentumMovement(self.world)
        self.observations = {
            **sight(self.world, subsample, max_depth),
            "health": FunctionObservation(Box((1,), 0.0, 1.0), lambda render: self.health[..., None].clamp(0, 1)),
        }

    def reset_task(self, mask: torch.Tensor) -> None:
        self.health.masked_fill_(mask[:, None], 1.0)
        self.deaths.masked_fill_(mask[:, None], 0)

    def update(self, render: Render, reward: torch.Tensor) -> None:
        """Wounds the agents that were hit or are off the map, and respawns the dead. Never terminates."""
        self.respawn(self.wound(render))

    @compilable
    def wound(self, render: Render) -> torch.Tensor:
        """Takes health from the agents that were hit or are off the map; returns the ``(E, A)`` dead."""
        self.health.sub_(self.wounds(centre_targets(self.world, render)))
        dead = self.health <= 0
        self.deaths.add_(dead)
        return dead

    def wounds(self, targets: torch.Tensor) -> torch.Tensor:
        """``(E, A)``: the health each agent loses this step, given whom each agent hits (``(E, A)``, from
        :func:`~megastep_envs.tasks.common.centre_targets`): ``damage`` per shooter aiming at it, and
        ``outside_damage`` off the map. Read by :meth:`wound`, and by a reward that pays for deaths."""
        hits_taken = (targets[:, :, None] == self._agent_ids).sum(1)  # (E, A): shooters aiming at each agent
        wounds = torch.where(self.occupancy.free(self.world.agents.positions), 0.0, self.outside_damage)
        return wounds.add_(hits_taken, alpha=self.damage)

    def respawn(self, dead: torch.Tensor) -> None:
        """Moves the ``(E, A)`` dead agents to fresh spawn points, with full health.

        The spawner is asked to place just the dead agents, away from the
        living; one it cannot place this step (every point it drew would
        crowd another agent) stays dead and is asked for again next step. A
        fixed sequence of tensor operations, whatever dies: no host sync.
        """
        if self.device.type == "cpu" and not bool(dead.any()):
            return  # free to ask on a CPU; on a GPU the same operations run whatever died
        placed = self.spawner(self.world, dead)
        if not (torch.is_tensor(placed) and placed.shape == dead.shape and placed.dtype == torch.bool):
            raise TypeError(f"the spawner {type(self.spawner).__name__} must return the ({self.n_envs}, "
                            f"{self.n_agents}) bool tensor of the agents it placed, got {placed!r:.80}")
        self.health.masked_fill_(placed, 1.0)

    def task_state(self, e: int) -> dict[str, Any]:
        """``health`` ``(A,)`` and ``deaths`` ``(A,)`` this episode."""
        return {"health": self.health[e].cpu().numpy(), "deaths": self.deaths[e].cpu().numpy()}


class Hits:
    """Pays 1 to an agent for each step it holds another agent at the centre pixel of its first camera.

    Options: ``scale`` (the payment per hit, default 1).
    """

    def __init__(self, options: Mapping[str, Any]):
        self.scale = float_option(options, "scale", 1.0)

    def reset(self, env, mask: torch.Tensor) -> None:
        pass

    @compilable
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
        self.hit = float_option(options, "hit", 1.0)
        self.death = float_option(options, "death", 5.0)

    def reset(self, env: CombatTask, mask: torch.Tensor) -> None:
        require(env, CombatTask, "zero_sum_hits")

    @compilable
    def __call__(self, env: CombatTask, render: Render) -> torch.Tensor:
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
