"""Scripted policies to measure trained ones against, one callable per behaviour.

Each baseline is a callable ``policy(env) -> actions`` returning a tensor of
shape ``env.batch`` on the env's device, computed by tensor operations alone:
no host sync, so it can act inside a captured rollout. The scripted ones read
what a learned policy cannot (the true goal, the other agents' positions) or
only its own observations (the explorer reads the depth strip); they say
what a task asks for, and how far simple rules get:

=====================  ==========  =======================================================
baseline               env         acts
=====================  ==========  =======================================================
:func:`random_policy`  any         uniformly random actions, from the env's own generator
:func:`greedy_walker`  PointGoal   turns to the goal and walks at it; follows the geodesic
                                   distance field's downhill where the env holds one
:class:`WallAvoider`   Explorer    walks forward, and turns to the more open side when the
                                   depth ahead says a wall is near
:func:`aim_and_fire`   Deathmatch  turns to the nearest other agent; holds it at the centre
                                   of view, which hits it
=====================  ==========  =======================================================
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..modules.movement import ACTIONS
from ..modules.observations import to_agent_frame
from ..tasks.pointgoal import turn_then_walk

Policy = Callable[[object], torch.Tensor]
"""``policy(env) -> actions`` of shape ``env.batch``."""

FORWARD, TURN_LEFT, TURN_RIGHT, NOTHING = (ACTIONS.index(a) for a in ("forward", "turn_left", "turn_right", "nothing"))

LOOKAHEAD_CELLS = 3
"""How far around itself, in cells, the geodesic walker looks for the lowest distance to head for: far enough to
see round a door frame, near enough to stay on the free side of a wall."""


def random_policy(env) -> torch.Tensor:
    """Uniformly random actions of shape ``env.batch``, from the env's seeded generator."""
    return env.sample_actions()


def greedy_walker(env) -> torch.Tensor:
    """PointGoal's ``(E,)`` scripted walker, reading the true goal.

    With the env's distance fields (``env.has_geodesic``), it heads for the point within
    :data:`LOOKAHEAD_CELLS` cells where the walking distance to the goal is lowest: it goes round walls. Without,
    it turns towards the goal in a straight line and walks at it, which stalls behind a wall.
    """
    agents = env.world.agents
    target = env.goals - agents.positions  # (E, 1, 2)
    if getattr(env, "has_geodesic", False):
        target = _downhill(env) - agents.positions
        # in sight of the goal, the goal itself: the field's cells would make the walker circle it
        to_goal = env.goals - agents.positions
        lookahead = LOOKAHEAD_CELLS * env.occupancy.env_resolutions.view(-1, 1, 1)
        target = torch.where(to_goal.norm(dim=-1, keepdim=True) < lookahead, to_goal, target)
    ahead = to_agent_frame(target, agents.angles)[:, 0]
    return turn_then_walk(ahead, env.movement.turn_speed * env.world.dt)


def _downhill(env) -> torch.Tensor:
    """``(E, 1, 2)`` metres: the point of a ring of cells around each agent with the lowest geodesic distance."""
    agents = env.world.agents
    grid = env.occupancy
    resolution = grid.env_resolutions.view(-1, 1, 1)
    steps = torch.arange(-LOOKAHEAD_CELLS, LOOKAHEAD_CELLS + 1, device=env.device, dtype=torch.float32)
    offsets = torch.cartesian_prod(steps, steps)  # (P, 2) cells
    offsets = offsets[offsets.abs().amax(-1) == LOOKAHEAD_CELLS]  # the ring at the lookahead
    points = agents.positions + offsets[None] * resolution  # (E, P, 2)
    # only points the agent can walk straight to: their cells and those a third and two thirds of the way are clear
    # of the walls (free in the env's eroded grid). A point in the band along a wall is joined to the clear cells
    # too, and heading for it, or cutting a corner on the way, would press the agent's body against the wall.
    along = [agents.positions + (points - agents.positions) * share for share in (1 / 3, 2 / 3, 1.0)]
    walkable = torch.stack([grid.free(p) for p in along]).all(0)
    distance = torch.where(walkable, env.geodesic_to_goal(points), float("inf"))  # (E, P)
    best = distance.argmin(-1)
    return points[torch.arange(env.n_envs, device=env.device), best][:, None]


class WallAvoider:
    """Explorer's ``(E,)`` scripted explorer, reading only its depth observation.

    It walks forward until the middle third of its depth strip says a wall is within ``near`` metres, then turns
    towards the half of its view that is more open (farther on average), until the way ahead is clear again.
    Every ``(E,)`` agent draws, with probability ``wander`` a step, a random turn instead, so that it does not
    circle one room for ever.

    :param near: metres ahead at which it turns.
    :param wander: chance per step of a random turn.
    :param seed: seeds the random turns (a generator on the env's device).
    """

    def __init__(self, near: float = 1.0, wander: float = 0.05, seed: int = 0):
        if not near > 0:
            raise ValueError(f"near must be positive metres, got {near!r}")
        if not 0 <= wander <= 1:
            raise ValueError(f"wander must be a probability, got {wander!r}")
        self.near, self.wander, self.seed = float(near), float(wander), int(seed)
        self._generator: torch.Generator | None = None

    def __call__(self, env) -> torch.Tensor:
        depth_module = env.observations["depth"]
        depth = env.last_obs["depth"].reshape(env.n_envs * env.n_agents, -1)  # 1 near, 0 at max depth
        # depth reads 1 at the agent's radius and falls linearly to 0 at max_depth
        near = 1 - (self.near - env.world.agent_radius) / (depth_module.max_depth - env.world.agent_radius)
        width = depth.shape[-1]
        blocked = depth[:, width // 3 : width - width // 3].amax(-1) > near
        # pixel 0 looks furthest left: turn to the side that is farther on average (lower depth)
        left_open = depth[:, : width // 2].mean(-1) < depth[:, width // 2 :].mean(-1)
        turn = torch.where(left_open, TURN_LEFT, TURN_RIGHT)
        actions = torch.where(blocked, turn, FORWARD)
        if self._generator is None or self._generator.device != env.device:
            self._generator = torch.Generator(env.device).manual_seed(self.seed)
        draws = torch.rand(len(actions), 2, generator=self._generator, device=env.device)
        random_turn = torch.where(draws[:, 1] < 0.5, TURN_LEFT, TURN_RIGHT)
        actions = torch.where(draws[:, 0] < self.wander, random_turn, actions)
        return actions.reshape(env.batch)


def aim_and_fire(env) -> torch.Tensor:
    """Deathmatch's ``(E, A)`` scripted bot, reading every agent's true position.

    Each agent turns towards the nearest other agent, braking its spin early enough not to swing past
    (momentum movement carries a turn on: it stops ``angvelocity / turn_decay`` degrees later), and holds still
    while the target is within half a pixel of the centre of its view, which is a hit every step.
    """
    agents = env.world.agents
    positions = agents.positions  # (E, A, 2)
    offsets = positions[:, None, :] - positions[:, :, None]  # (E, A, A, 2): from agent a to agent b
    distance = offsets.norm(dim=-1)
    distance = distance + torch.eye(env.n_agents, device=env.device) * float("inf")  # never aim at oneself
    nearest = distance.argmin(-1)  # (E, A)
    target = offsets.gather(2, nearest[..., None, None].expand(-1, -1, 1, 2))[:, :, 0]
    ahead = to_agent_frame(target, agents.angles)
    bearing = torch.rad2deg(torch.atan2(ahead[..., 1], ahead[..., 0]))
    movement = env.movement
    coasting = agents.angvelocity / getattr(movement, "turn_decay", float("inf"))  # degrees the spin still carries
    error = bearing - coasting
    camera = env.world.cameras[0]
    aligned = camera.fov / camera.pixels / 2
    actions = torch.where(error > aligned, TURN_LEFT, NOTHING)
    return torch.where(error < -aligned, TURN_RIGHT, actions)


BASELINES: dict[str, dict[str, Policy]] = {
    "minimal": {"random": random_policy},
    "pointgoal": {"random": random_policy, "greedy": greedy_walker},
    "explorer": {"random": random_policy, "wall_avoider": WallAvoider()},
    "deathmatch": {"random": random_policy, "aim_and_fire": aim_and_fire},
}
"""The baselines of each env, by name, random first."""


def baselines_for(env_name: str, seed: int = 0) -> dict[str, Policy]:
    """Fresh baselines of an env (a stateful one, like :class:`WallAvoider`, seeded with ``seed``)."""
    made = dict(BASELINES.get(env_name, {"random": random_policy}))
    if "wall_avoider" in made:
        made["wall_avoider"] = WallAvoider(seed=seed)
    return made
