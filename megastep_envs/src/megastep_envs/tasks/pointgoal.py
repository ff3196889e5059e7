"""PointGoal: walk to a point in a home, told where it lies in the agent's own frame.

Two goal sensors, the two settings of the PointNav literature (``goal_sensor``):

``"at_spawn"`` (the default)
    At spawn the agent is told where its goal lies relative to itself
    (metres forward and to the left), and never again: as it moves, it must
    keep track of where the goal now is by integrating its own motion, which
    its IMU reports (odometry).
``"every_step"``
    The goal is told again every step, in the agent's current frame (the
    "GPS + compass" sensor): no memory is needed to know where it is.

Reaching within ``success_radius`` (0.15 m) of the goal ends the episode. The
default reward, ``goal_reached``, pays 1 then; ``goal_progress`` also pays
every step for the decrease in the walking distance to the goal (see
:class:`GoalProgress`), which needs the goal's
*geodesic* distance field: where a reward asks for it (``needs_geodesic``),
or ``goals_per_home`` is given, each home gets a table of ``K`` goal points
with their distance fields, computed once when the env is built
(:meth:`~megastep_envs.modules.occupancy.OccupancyGrid.geodesic_fields`), and every
episode's goal is drawn from it: a step then only reads the field, with no
host sync. Without a table the goal is a second draw of the spawner.

Scripted baselines that read the true goal are in :mod:`megastep_envs.evaluation.baselines`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from megastep_core import Camera, Geometry, Render
from megastep_core.checks import positive
from megastep_core.random import CounterRandom
from megastep_core.spaces import Box

from ..modules.movement import ACTIONS, SimpleMovement
from ..modules.observations import FunctionObservation, to_agent_frame
from ..modules.occupancy import OccupancyGrid
from ..step.compiling import compilable
from ..step.env import Env
from .common import GeodesicGoalTask, GoalTask, float_option, homes_unless_given, require, sight

GOAL_SENSORS = ("at_spawn", "every_step")
"""The goal observations PointGoal offers: told once at spawn (odometry), or every step (GPS + compass)."""

DEFAULT_GOALS_PER_HOME = 16
"""Goals per home in the table built for a reward that needs geodesic distances. Each costs a distance field of
the home's grid (4 bytes a cell: 136 KiB for the largest procedural home)."""

DEFAULT_LIFESPAN = (400, 500)
"""Steps of an episode, drawn in this range (0.1 s each: 40-50 s at up to 1 m/s), long enough to walk to the
farthest goals of the procedural homes, whose paths reach about 30 m: an episode that no policy can finish in
time caps every policy's success rate below 1 (BENCHMARKS.md, "Agents that learn", has the shorter lifespans'
time-outs)."""

GOAL_CLEARANCE_MARGIN = 0.05
"""Metres between a goal in the table and the nearest wall, beyond an agent's radius: where an agent can stand, as
the spawner's own margin."""


class PointGoal(Env):
    """One agent per env walking to a goal.

    Observations: ``rgb`` ``(E, 1, 3, W)``, ``depth`` ``(E, 1, W)``, ``imu`` ``(E, 3)``
    and ``goal`` ``(E, 2)``: metres forward and leftward of the agent, as it spawned (``goal_sensor``
    ``"at_spawn"``, constant through the episode) or as it stands now (``"every_step"``).
    Actions ``(E,)``. Reward ``(E,)``.

    :param n_envs: ``E``.
    :param geometries: layouts, repeated in turn; procedural homes by default.
    :param split: which homes when ``geometries`` is None.
    :param success_radius: metres from the goal that count as reaching it.
    :param goal_sensor: ``"at_spawn"`` or ``"every_step"`` (see the module docs).
    :param goals_per_home: draw goals from a table of this many points per home, with their geodesic
        distance fields; ``None``: only where the reward needs geodesic distances
        (:data:`DEFAULT_GOALS_PER_HOME` then), else the spawner draws each goal.
    :param options: anything :class:`~megastep_envs.step.env.Env` takes.
    :ivar goals: ``(E, 1, 2)`` metres, each env's goal in the world frame.
    :ivar final_positions: ``(E, 1, 2)`` metres, where the agents stood at the last task update, before any
        reset of that step: where an episode that just ended left its agent.
    """

    name = "pointgoal"

    def __init__(
        self,
        n_envs: int = 64,
        *,
        geometries: Sequence[Geometry] | None = None, split: str = "training",
        success_radius: float = 0.15, goal_sensor: str = "at_spawn",
        goals_per_home: int | None = None,
        pixels: int = 128, fov: float = 130.0, subsample: int = 4, max_depth: float = 10.0,
        speed: float = 1.0,
        turn_speed: float = 90.0,
        **options,
    ):
        success_radius = positive("success_radius", success_radius)
        if goal_sensor not in GOAL_SENSORS:
            raise ValueError(f"goal_sensor must be one of {GOAL_SENSORS}, got {goal_sensor!r}")
        if goals_per_home is not None and (isinstance(goals_per_home, bool) or int(goals_per_home) != goals_per_home
                                           or goals_per_home < 1):
            raise ValueError(f"goals_per_home must be a positive integer or None, got {goals_per_home!r}")
        options.setdefault("reward", "goal_reached")
        options.setdefault("lifespan", DEFAULT_LIFESPAN)
        geometries = homes_unless_given(geometries, n_envs, split, options)
        super().__init__(geometries, n_envs, cameras=[Camera(pixels, fov)], **options)
        self.success_radius = success_radius
        self.goal_sensor = goal_sensor
        self.goals = torch.zeros(self.n_envs, 1, 2, device=self.device)
        self.goal_at_spawn = torch.zeros(self.n_envs, 1, 2, device=self.device)
        self.final_positions = torch.zeros(self.n_envs, 1, 2, device=self.device)
        self.movement = SimpleMovement(self.world, speed, turn_speed)
        goal = (lambda render: self.goal_at_spawn.clone()) if goal_sensor == "at_spawn" else self._goal_now
        self.observations = {
            **sight(self.world, subsample, max_depth),
            "goal": FunctionObservation(Box((2,)), goal),
        }
        if goals_per_home is None and getattr(self.reward, "needs_geodesic", False):
            goals_per_home = DEFAULT_GOALS_PER_HOME
        self.occupancy: OccupancyGrid | None = None
        self.goal_fields: torch.Tensor | None = None
        if goals_per_home is not None:
            self._build_goal_table(int(goals_per_home))

    # the goal table and its geodesic distances ------------------------------------------------------

    def _build_goal_table(self, goals_per_home: int) -> None:
        """Draws ``K`` goal points per home where an agent can stand, and their distance fields.

        :ivar goal_points: ``(G * K, 2)`` metres, home ``g``'s goals at rows ``g * K`` to ``g * K + K - 1``.
        :ivar goal_fields: ``(G * K, H + 2, W + 2)`` metres, each goal's distance field in its home's grid.
        :ivar goal_ids: ``(E,)`` int64, each env's current goal in the table.
        """
        from megastep_geometry.spawners import safe_points

        clearance = self.path_clearance
        self.occupancy = grid = OccupancyGrid(self.world.geometries, self.device, clearance)
        rng = np.random.default_rng(self.seed)
        points = []
        for geometry in grid.geometries:
            safe = safe_points(geometry, clearance)
            if len(safe) == 0:
                raise ValueError(f"geometry {geometry.name!r} has no point {clearance:.3f} m from every wall for a "
                                 f"goal")
            points.append(safe[rng.choice(len(safe), goals_per_home, replace=len(safe) < goals_per_home)])
        self.goals_per_home = goals_per_home
        self.goal_points = torch.as_tensor(np.concatenate(points), dtype=torch.float32, device=self.device)
        # each home's origin and resolution, read from its first env
        first_env = torch.as_tensor(np.unique(grid.env_geometry.cpu().numpy(), return_index=True)[1],
                                    device=self.device)
        self.goal_fields = grid.geodesic_fields(self.goal_points, first_env.repeat_interleave(goals_per_home))
        self.goal_ids = grid.env_geometry * goals_per_home
        self._goal_random = CounterRandom(self.seed, "goals", self.n_envs, self.device)

    @property
    def path_clearance(self) -> float:
        """Metres from the walls that geodesic paths keep the agent's centre: its radius and
        :data:`GOAL_CLEARANCE_MARGIN`, so that an agent can walk them (its body does not graze a corner)."""
        return self.world.agent_radius + GOAL_CLEARANCE_MARGIN

    @property
    def has_geodesic(self) -> bool:
        """Whether the env holds its goals' distance fields, so that :meth:`geodesic_to_goal` works."""
        return self.goal_fields is not None

    def geodesic_to_goal(self, points: torch.Tensor | None = None) -> torch.Tensor:
        """``(E, 1)`` metres that each agent (or ``points``, ``(E, ..., 2)``, to ``(E, ...)``) must walk to its goal
        through free space, its centre :attr:`path_clearance` from the walls; ``inf`` where none reaches it. No
        host sync.

        :raises RuntimeError: without a goal table (see ``goals_per_home``).
        """
        if self.goal_fields is None:
            raise RuntimeError("geodesic distances need the goal table: build PointGoal with goals_per_home=K, or "
                               "with a reward that needs them (goal_progress)")
        points = self.world.agents.positions if points is None else points
        return self.occupancy.geodesic_lookup(self.goal_fields, self.goal_ids, points, self.goals[:, 0])

    # the task ---------------------------------------------------------------------------------------

    def reset_task(self, mask: torch.Tensor) -> None:
        """Draws new goals for the envs where ``mask`` is True (the agents have just spawned)."""
        if self.goal_fields is None:
            # the points the agents just spawned at are goals; then the agents spawn again
            torch.where(mask[:, None, None], self.world.agents.positions, self.goals, out=self.goals)
            self.spawner(self.world, mask)
        else:
            self._draw_goals(mask, self._goal_random.uniforms(1, mask)[:, 0])
        self._show_goals(mask)

    @compilable
    def _draw_goals(self, mask: torch.Tensor, uniforms: torch.Tensor) -> None:
        """Picks the goal of each masked env from its home's row of the table, by ``uniforms`` ``(E,)`` in [0, 1)."""
        k = self.goals_per_home
        index = (uniforms * k).long().clamp_max(k - 1) + self.occupancy.env_geometry * k
        torch.where(mask, index, self.goal_ids, out=self.goal_ids)
        torch.where(mask[:, None, None], self.goal_points[self.goal_ids][:, None], self.goals, out=self.goals)

    @compilable
    def _show_goals(self, mask: torch.Tensor) -> None:
        """Tells the agents where mask is True where their goal lies from where they now stand."""
        agents = self.world.agents
        relative = to_agent_frame(self.goals - agents.positions, agents.angles)
        self.goal_at_spawn.copy_(torch.where(mask[:, None, None], relative, self.goal_at_spawn))

    def goal_now(self) -> torch.Tensor:
        """``(E, 1, 2)`` metres: each agent's goal in its current frame, forward and leftward: what the
        ``"every_step"`` sensor tells, and what training's ``goal_prediction`` teaches an ``"at_spawn"`` agent."""
        return self._goal_now(None)

    @compilable
    def _goal_now(self, render: Render | None) -> torch.Tensor:
        """``(E, 1, 2)``: the goal in the agent's current frame (the ``"every_step"`` sensor), a new tensor."""
        agents = self.world.agents
        return to_agent_frame(self.goals - agents.positions, agents.angles)

    @compilable
    def update(self, render: Render, reward: torch.Tensor) -> torch.Tensor:
        """Terminates the episodes whose agent is within ``success_radius`` of its goal."""
        positions = self.world.agents.positions
        self.final_positions.copy_(positions)
        distance = (positions - self.goals).norm(dim=-1)
        return distance[:, 0] < self.success_radius  # one agent per env

    def greedy_actions(self) -> torch.Tensor:
        """``(E,)`` actions that turn towards the goal until it is ahead, then walk at it: the straight-line
        walker of :func:`megastep_envs.evaluation.baselines.greedy_walker`."""
        agents = self.world.agents
        ahead = to_agent_frame(self.goals - agents.positions, agents.angles)[:, 0]
        return turn_then_walk(ahead, self.movement.turn_speed * self.world.dt)

    def task_state(self, e: int) -> dict[str, Any]:
        """``goal`` ``(2,)`` metres in the world frame."""
        return {"goal": self.goals[e, 0].cpu().numpy()}


def turn_then_walk(target: torch.Tensor, cone: float) -> torch.Tensor:
    """``(E,)`` actions towards ``target`` ``(E, 2)``, (forward, leftward) metres in each agent's frame: turn while
    its bearing is more than ``cone`` degrees off (a turn of less than a step's worth would overshoot), else walk
    forward."""
    bearing = torch.rad2deg(torch.atan2(target[:, 1], target[:, 0]))
    actions = torch.full_like(bearing, ACTIONS.index("forward"), dtype=torch.int64)
    actions = torch.where(bearing > cone, ACTIONS.index("turn_left"), actions)
    return torch.where(bearing < -cone, ACTIONS.index("turn_right"), actions)


class GoalReached:
    """Pays 1 on a step where an agent ends within ``env.success_radius`` metres of ``env.goals`` ``(E, A, 2)``: any
    :class:`~megastep_envs.tasks.common.GoalTask`.

    Options: ``scale`` (the payment, default 1).
    """

    reads = "agents"

    def __init__(self, options: Mapping[str, Any]):
        self.scale = float_option(options, "scale", 1.0)

    def reset(self, env: GoalTask, mask: torch.Tensor) -> None:
        require(env, GoalTask, "goal_reached")

    @compilable
    def __call__(self, env: GoalTask, render: Render | None) -> torch.Tensor:
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
    them: :class:`~megastep_envs.tasks.pointgoal.PointGoal` builds its goal table when its reward says
    ``needs_geodesic``. A step where the distance is not finite (an agent walled off from its goal) pays no
    progress.

    Options: ``scale`` (reward per metre, default 1), ``success`` (paid on the step the agent comes within
    ``env.success_radius`` of its goal, default 1), ``gamma`` (the discount of the potential, in (0, 1],
    default 1).
    """

    reads = "agents"
    needs_geodesic = True

    def __init__(self, options: Mapping[str, Any]):
        self.scale = float_option(options, "scale", 1.0)
        self.success = float_option(options, "success", 1.0)
        self.gamma = float_option(options, "gamma", 1.0)
        if not 0 < self.gamma <= 1:
            raise ValueError(f"reward option gamma must be in (0, 1], got {self.gamma}")
        self.previous: torch.Tensor | None = None

    def reset(self, env: GeodesicGoalTask, mask: torch.Tensor) -> None:
        require(env, GeodesicGoalTask, "goal_progress")
        distance = env.geodesic_to_goal()
        if self.previous is None or self.previous.shape != distance.shape:
            self.previous = distance.clone()
        self._start_from(distance, mask)

    @compilable
    def _start_from(self, distance: torch.Tensor, mask: torch.Tensor) -> None:
        self.previous.copy_(torch.where(mask[:, None], distance, self.previous))

    @compilable
    def __call__(self, env: GeodesicGoalTask, render: Render | None) -> torch.Tensor:
        distance = env.geodesic_to_goal()
        progress = self.previous - self.gamma * distance
        progress = torch.where(progress.isfinite(), progress * self.scale, 0.0)
        self.previous.copy_(distance)
        reached = (env.world.agents.positions - env.goals).norm(dim=-1) < env.success_radius
        return progress + torch.where(reached, self.success, 0.0)
