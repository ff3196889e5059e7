"""PointGoal: walk to a point given once, in the agent's own frame, at the start of the episode.

At spawn the agent is told where its goal lies relative to itself (metres
forward and to the left). It is not told again: as it moves, it must keep
track of where the goal now is by integrating its own motion, which its IMU
reports. Reaching within ``success_radius`` (0.15 m) pays 1 and ends the episode.

:meth:`PointGoal.greedy_actions` is a scripted baseline that turns towards the
goal and walks straight at it; in open rooms it reaches the goal far more
often than random actions do.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from megastep_core import Camera, Geometry, Render
from megastep_core.spaces import Box

from .base import Env
from .explorer import sample_homes
from .fusion import fused
from .movement import ACTIONS, SimpleMovement
from .observations import IMU, RGB, Computed, Depth, to_agent_frame


class PointGoal(Env):
    """One agent per env walking to a goal it was shown once.

    Observations: ``rgb`` ``(E, 1, 3, W)``, ``depth`` ``(E, 1, W)``, ``imu`` ``(E, 3)``
    and ``goal`` ``(E, 2)``: metres forward and leftward of the agent *as it
    spawned*, constant through the episode. Actions ``(E,)``. Reward ``(E,)``.

    The goal is a second draw of the spawner, so it lies where an agent can stand.

    :param n_envs: ``E``.
    :param geometries: layouts, repeated in turn; procedural homes by default.
    :param split: which homes when ``geometries`` is None.
    :param success_radius: metres from the goal that count as reaching it.
    :param options: anything :class:`~megastep_envs.base.Env` takes.
    """

    name = "pointgoal"

    def __init__(
        self,
        n_envs: int = 64,
        *,
        geometries: Sequence[Geometry] | None = None,
        split: str = "training",
        success_radius: float = 0.15,
        pixels: int = 128,
        fov: float = 130.0,
        subsample: int = 4,
        max_depth: float = 10.0,
        speed: float = 1.0,
        turn_speed: float = 90.0,
        **options,
    ):
        success_radius = float(success_radius)
        if not (math.isfinite(success_radius) and success_radius > 0):
            raise ValueError(f"success_radius must be positive metres, got {success_radius}")
        options.setdefault("reward", "goal_reached")
        options.setdefault("lifespan", (256, 384))
        if geometries is None:
            geometries = sample_homes(n_envs, split, int(options.get("seed", 0)))
        super().__init__(geometries, n_envs, cameras=[Camera(pixels, fov)], **options)
        self.success_radius = success_radius
        self.goals = torch.zeros(self.n_envs, 1, 2, device=self.device)
        self.goal_at_spawn = torch.zeros(self.n_envs, 1, 2, device=self.device)
        self.movement = SimpleMovement(self.world, speed, turn_speed)
        self.observations = {
            "rgb": RGB(self.world, subsample),
            "depth": Depth(self.world, subsample, max_depth),
            "imu": IMU(self.world),
            "goal": Computed(Box((2,)), lambda render: self.goal_at_spawn.clone()),
        }

    def reset_task(self, mask: torch.Tensor) -> None:
        """Takes the points the agents just spawned at as goals, then spawns the agents again."""
        torch.where(mask[:, None, None], self.world.agents.positions, self.goals, out=self.goals)
        self.spawner(self.world, mask)
        self._show_goals(mask)

    @fused
    def _show_goals(self, mask: torch.Tensor) -> None:
        """Tells the agents where mask is True where their goal lies from where they now stand."""
        agents = self.world.agents
        relative = to_agent_frame(self.goals - agents.positions, agents.angles)
        self.goal_at_spawn.copy_(torch.where(mask[:, None, None], relative, self.goal_at_spawn))

    @fused
    def update(self, render: Render, reward: torch.Tensor) -> torch.Tensor:
        """Terminates the episodes whose agent is within ``success_radius`` of its goal."""
        distance = (self.world.agents.positions - self.goals).norm(dim=-1)
        return distance[:, 0] < self.success_radius  # one agent per env

    def greedy_actions(self) -> torch.Tensor:
        """``(E,)`` actions that turn towards the goal until it is ahead, then walk at it.

        A scripted baseline that reads the true goal from the env's state (a
        learned policy sees only its observations).
        """
        agents = self.world.agents
        ahead = to_agent_frame(self.goals - agents.positions, agents.angles)[:, 0]
        bearing = torch.rad2deg(torch.atan2(ahead[:, 1], ahead[:, 0]))
        # turning less than a step's worth would overshoot, so within that cone walk forward
        cone = self.movement.turn_speed * self.world.dt
        actions = torch.full_like(bearing, ACTIONS.index("forward"), dtype=torch.int64)
        actions = torch.where(bearing > cone, ACTIONS.index("turn_left"), actions)
        return torch.where(bearing < -cone, ACTIONS.index("turn_right"), actions)

    def task_state(self, e: int) -> dict[str, Any]:
        """``goal`` ``(2,)`` metres in the world frame."""
        return {"goal": self.goals[e, 0].cpu().numpy()}
