"""What tasks share: reading a reward's options, the homes an env is built in when given none, the observations
most envs give, who each agent aims at, and the typed views rewards take of the env they pay for (a reward says
what it needs of its env as a protocol, not as an env class)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from megastep_core import Geometry, Render, World
from megastep_geometry.env_homes import sample_homes

from ..modules.observations import IMU, RGB, Depth


def float_option(options: Mapping[str, Any], key: str, default: float) -> float:
    """The reward option ``key`` (``default`` where not given) as a finite float, or a ValueError naming it."""
    value = options.get(key, default)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"reward option {key} must be a number, got {value!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"reward option {key} must be finite, got {value}")
    return value


def homes_unless_given(geometries: Sequence[Geometry] | None, n_envs: int, split: str,
                       options: Mapping[str, Any]) -> Sequence[Geometry]:
    """The geometries an env was given, or procedural homes of ``split`` drawn from its ``seed`` option."""
    return sample_homes(n_envs, split, int(options.get("seed", 0))) if geometries is None else geometries


def sight(world: World, subsample: int, max_depth: float) -> dict[str, Any]:
    """The observations most envs give: colour, depth (0 at ``max_depth`` metres) and the IMU."""
    return {"rgb": RGB(world, subsample), "depth": Depth(world, subsample, max_depth), "imu": IMU(world)}


def centre_targets(world: World, render: Render) -> torch.Tensor:
    """``(E, A)`` int64: the agent at the centre pixel of each agent's first camera, or -1 if it sees none there.

    Agent bodies are the first ``A * M`` lines of each env, ``M`` per agent, so
    a hit line index ``i < A * M`` belongs to agent ``i // M``; a wall's index
    gives ``A`` or more, and a miss (-1) gives -1.
    """
    centre = render.indices[:, :, 0, render.indices.shape[-1] // 2]
    agent = centre.div(world.scenery.body_lines, rounding_mode="floor").long()
    return agent.masked_fill_(agent >= world.n_agents, -1)


@runtime_checkable
class GoalTask(Protocol):
    """An env with a goal per agent: what :class:`~megastep_envs.tasks.pointgoal.GoalReached` pays for."""

    world: World
    goals: torch.Tensor
    """``(E, A, 2)`` metres: each agent's goal."""
    success_radius: float
    """Metres from its goal within which an agent has reached it."""


@runtime_checkable
class GeodesicGoalTask(GoalTask, Protocol):
    """A :class:`GoalTask` that knows the walking distance to each goal: what
    :class:`~megastep_envs.tasks.pointgoal.GoalProgress` pays for."""

    def geodesic_to_goal(self, points: torch.Tensor | None = None) -> torch.Tensor:
        """``(E, A)`` metres of walking from each agent (or from ``points``) to its goal; inf where walled off."""


@runtime_checkable
class CombatTask(Protocol):
    """An env whose agents have health and wound each other by aiming: what
    :class:`~megastep_envs.tasks.deathmatch.ZeroSumHits` pays for."""

    world: World
    n_agents: int
    health: torch.Tensor
    """``(E, A)``: each agent's health, 1 when full, 0 or below dead."""

    def wounds(self, targets: torch.Tensor) -> torch.Tensor:
        """``(E, A)`` health each agent loses to the ``(E, A)`` targets of a step (see :func:`centre_targets`)."""


_NEEDS = {GoalTask: (("world", "goals", "success_radius"), "PointGoal"),
          GeodesicGoalTask: (("world", "goals", "success_radius", "geodesic_to_goal"), "PointGoal"),
          CombatTask: (("world", "n_agents", "health", "wounds"), "Deathmatch")}
"""Each protocol's members, and the env that has them."""


def require(env: Any, protocol: type, reward: str) -> None:
    """Refuses an env that lacks what ``reward`` reads (the members of ``protocol``), naming what it lacks."""
    members, made_for = _NEEDS[protocol]
    missing = [name for name in members if not hasattr(env, name)]
    if missing:
        raise TypeError(f"the {reward} reward reads a {protocol.__name__}, and {type(env).__name__} has no "
                        f"{', '.join(missing)}: use it with {made_for} (or an env with those members), or give "
                        f"{type(env).__name__} a reward of its own task")
