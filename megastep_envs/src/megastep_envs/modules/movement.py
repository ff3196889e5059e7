"""Turning discrete actions into agent velocities: the step's ``act`` stage.

Both modules read an ``(E, A)`` integer action per agent, one of
:data:`ACTIONS`, and set the agents' velocities from it; they call nothing.
The env's next stage, ``move``, is the physics (:meth:`megastep_core.World.move`),
which moves the agents by those velocities and redraws their bodies. Speeds
are in metres and degrees per second, so the same settings move an agent
equally far in a simulated second at any ``fps``.
"""
from __future__ import annotations

import math

import torch

from megastep_core import World
from megastep_core.checks import positive
from megastep_core.spaces import Discrete

ACTIONS = ("nothing", "forward", "back", "strafe_left", "strafe_right", "turn_left", "turn_right")
"""The discrete actions, by index. Left is counter-clockwise, the direction angles grow."""

# each action as (forward, leftward, counter-clockwise turn) in units of the module's speeds
_DIRECTIONS = (
    (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0),
    (0.0, 0.0, -1.0),
)


def _direction_table(device) -> torch.Tensor:
    """``(7, 3)`` :data:`_DIRECTIONS` on ``device``; built once, since a copy from the host each step would stall."""
    return torch.tensor(_DIRECTIONS, device=device)


def _intents(world: World, table: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The world-frame unit of motion ``(E, A, 2)`` and turn ``(E, A)`` (+1 counter-clockwise) of each action."""
    forward, left, turn = table[actions].unbind(-1)
    angles = torch.deg2rad(world.agents.angles)
    heading = torch.stack([angles.cos(), angles.sin()], -1)
    leftward = torch.stack([-angles.sin(), angles.cos()], -1)
    return forward[..., None] * heading + left[..., None] * leftward, turn


class SimpleMovement:
    """Each step the agent moves at a fixed speed in the direction of its action, with no momentum.

    :param world: the world whose agents move.
    :param speed: metres per second, forward, back and sideways.
    :param turn_speed: degrees per second.
    """

    space = Discrete(len(ACTIONS))

    def __init__(self, world: World, speed: float = 1.0, turn_speed: float = 90.0):
        self.world = world
        self.speed = positive("speed", speed, "metres per second")
        self.turn_speed = positive("turn_speed", turn_speed, "degrees per second")
        self._table = _direction_table(world.device)

    def __call__(self, actions: torch.Tensor) -> None:
        """Sets every agent's velocities from its ``(E, A)`` action, for the physics to move it by."""
        motion, turn = _intents(self.world, self._table, actions)
        self.world.agents.velocity.copy_(self.speed * motion)
        self.world.agents.angvelocity.copy_(self.turn_speed * turn)


class MomentumMovement:
    """Actions accelerate the agent; its velocity decays exponentially, so it glides to a stop.

    The velocity obeys ``dv/dt = acceleration * direction - decay * v``, integrated
    exactly over each step, so its top speed is ``acceleration / decay`` at any
    ``fps``. The same holds for turning.

    :param world: the world whose agents move.
    :param acceleration: metres per second squared.
    :param decay: per second; 4 leaves ``exp(-4 * 0.1) = 67%`` of the velocity after a 0.1 s step.
    :param turn_acceleration: degrees per second squared.
    :param turn_decay: per second.
    """

    space = Discrete(len(ACTIONS))

    def __init__(
        self,
        world: World,
        acceleration: float = 6.0,
        decay: float = 4.0,
        turn_acceleration: float = 720.0,
        turn_decay: float = 4.0,
    ):
        self.world = world
        self.acceleration = positive("acceleration", acceleration, "metres per second squared")
        self.decay = positive("decay", decay, "reciprocal seconds")
        self.turn_acceleration = positive("turn_acceleration", turn_acceleration, "degrees per second squared")
        self.turn_decay = positive("turn_decay", turn_decay, "reciprocal seconds")
        self._table = _direction_table(world.device)
        dt = world.dt
        # v(t + dt) = v(t) * keep + (a / k) * (1 - keep), with keep = exp(-k dt)
        self._keep = math.exp(-self.decay * dt)
        self._gain = self.acceleration / self.decay * (1 - self._keep)
        self._turn_keep = math.exp(-self.turn_decay * dt)
        self._turn_gain = self.turn_acceleration / self.turn_decay * (1 - self._turn_keep)

    @property
    def top_speed(self) -> float:
        """Metres per second an agent reaches by holding ``forward``."""
        return self.acceleration / self.decay

    def __call__(self, actions: torch.Tensor) -> None:
        """Accelerates every agent by its ``(E, A)`` action for one step, for the physics to move it by."""
        motion, turn = _intents(self.world, self._table, actions)
        agents = self.world.agents
        agents.velocity.mul_(self._keep).add_(self._gain * motion)
        agents.angvelocity.mul_(self._turn_keep).add_(self._turn_gain * turn)
