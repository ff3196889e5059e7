"""Deathmatch: four agents per home, each wounding whichever agent is at the centre of its view.

Every step, an agent that holds another agent at the centre pixel of its
camera hits it: the target loses ``damage`` health and the shooter earns the
``hits`` reward (or, with ``reward="zero_sum_hits"``, the shooter earns what
the target loses: :class:`~megastep_envs.rewards.ZeroSumHits`). Health also
drains while an agent is outside the map's free space. An agent whose health
reaches zero respawns at a random free point, away from the others, with full
health; the env itself goes on until its lifespan truncates it. Observations are per agent: ``(E, A, ...)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from megastep_core import Camera, Geometry, Render
from megastep_core.spaces import Box

from .base import Env
from .explorer import sample_homes
from .fusion import fused
from .movement import MomentumMovement
from .observations import IMU, RGB, Computed, Depth
from .occupancy import OccupancyGrid
from .rewards import centre_targets


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
    :param options: anything :class:`~megastep_envs.base.Env` takes.
    """

    name = "deathmatch"
    multi_agent = True

    def __init__(
        self,
        n_envs: int = 64,
        *,
        n_agents: int = 4,
        geometries: Sequence[Geometry] | None = None,
        split: str = "training",
        pixels: int = 512,
        fov: float = 70.0,
        subsample: int = 4,
        max_depth: float = 10.0,
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
        if geometries is None:
            geometries = sample_homes(n_envs, split, int(options.get("seed", 0)))
        super().__init__(geometries, n_envs, n_agents=int(n_agents), cameras=[Camera(pixels, fov)], **options)
        self.damage, self.outside_damage = float(damage), float(outside_damage)
        self.occupancy = OccupancyGrid(self.world.geometries, self.device)
        self.health = torch.ones(self.n_envs, self.n_agents, device=self.device)
        self.deaths = torch.zeros(self.n_envs, self.n_agents, dtype=torch.int64, device=self.device)
        self._agent_ids = torch.arange(self.n_agents, device=self.device)
        self.movement = MomentumMovement(self.world)
        self.observations = {
            "rgb": RGB(self.world, subsample),
            "depth": Depth(self.world, subsample, max_depth),
            "imu": IMU(self.world),
            "health": Computed(Box((1,), 0.0, 1.0), lambda render: self.health[..., None].clamp(0, 1)),
        }

    def reset_task(self, mask: torch.Tensor) -> None:
        self.health.masked_fill_(mask[:, None], 1.0)
        self.deaths.masked_fill_(mask[:, None], 0)

    def update(self, render: Render, reward: torch.Tensor) -> None:
        """Wounds the agents that were hit or are off the map, and respawns the dead. Never terminates."""
        self.respawn(self.wound(render))

    @fused
    def wound(self, render: Render) -> torch.Tensor:
        """Takes health from the agents that were hit or are off the map; returns the ``(E, A)`` dead."""
        self.health.sub_(self.wounds(centre_targets(self.world, render)))
        dead = self.health <= 0
        self.deaths.add_(dead)
        return dead

    def wounds(self, targets: torch.Tensor) -> torch.Tensor:
        """``(E, A)``: the health each agent loses this step, given whom each agent hits (``(E, A)``, from
        :func:`~megastep_envs.rewards.centre_targets`): ``damage`` per shooter aiming at it, and
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
