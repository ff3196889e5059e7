"""The torch implementations of the `stop` and `slide` physics: the steps of :mod:`megastep_physics.steps` on a
World's state."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from megastep_core import Agents, Scenery
from megastep_core.deprecation import old_names
from megastep_core.walls import WallCache

from .steps import slide_step, stop_step, wrap_degrees

DEFAULT_MARGIN = 1e-3
"""Metres left between an agent and the wall or agent that stopped it."""

DEFAULT_SUB_CONTACTS = 4
"""Walls an agent of the `slide` physics may meet and slide along in one step."""


def check_options(name: str, options: Mapping[str, Any], known: set[str]) -> dict[str, Any]:
    """The backend's own options, without ``device``; an unknown key is an error naming the known ones."""
    options = {k: v for k, v in options.items() if k != "device"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"physics backend {name!r} got unknown options {unknown}; it takes {sorted(known) or 'none'}"
        )
    return options


def make_backend_from(backends: Mapping[str, tuple[Any, set[str]]], name: str, options: Mapping[str, Any]):
    """The backend ``name`` of a plugin's table ``{name: (factory, known options)}``, made with the options it
    takes, or None where the name is not in the table (another plugin's)."""
    if name not in backends:
        return None
    factory, known = backends[name]
    return factory(**check_options(name, options, known))


def check_margin(margin: float) -> float:
    margin = float(margin)
    if not 0 < margin < 0.1:
        raise ValueError(f"physics option margin must be in (0, 0.1) metres, got {margin}")
    return margin


def check_sub_contacts(sub_contacts: int) -> int:
    if isinstance(sub_contacts, bool) or int(sub_contacts) != sub_contacts or not 1 <= sub_contacts <= 16:
        raise ValueError(f"physics option sub_contacts must be an integer from 1 to 16, got {sub_contacts!r}")
    return int(sub_contacts)


def check_state(scenery: Scenery, agents: Agents, dt: float) -> None:
    """Raises a ValueError naming the argument whose shape, dtype or device does not fit."""
    shape = (scenery.n_envs, scenery.n_agents)
    expected = {"positions": (*shape, 2), "velocity": (*shape, 2), "angles": shape, "angvelocity": shape}
    for name, size in expected.items():
        tensor = getattr(agents, name)
        if tuple(tensor.shape) != size:
            raise ValueError(f"agents.{name} must have shape {size} to match the scenery, got {tuple(tensor.shape)}")
        if tensor.dtype != torch.float32:
            raise ValueError(f"agents.{name} must be float32, got {tensor.dtype}")
        if tensor.device != scenery.device:
            raise ValueError(f"agents.{name} is on {tensor.device} but the scenery is on {scenery.device}")
    if not dt > 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")


def turn(agents: Agents, dt: float) -> None:
    """Turns every agent by ``angvelocity * dt`` degrees, in place; a disc can always turn."""
    turned = agents.angles + agents.angvelocity * torch.tensor(dt, dtype=torch.float32)
    agents.angles.copy_(wrap_degrees(turned))


class StopPhysics:
    """The `stop` physics (``stop:torch``), the reference: agents stop just short of walls and each other
    (``stop_step``).

    :param margin: metres left between a stopped agent and what stopped it.
    """

    def __init__(self, margin: float = DEFAULT_MARGIN):
        self.margin = check_margin(margin)
        self.walls = WallCache()

    def step(self, scenery: Scenery, agents: Agents, dt: float) -> torch.Tensor:
        check_state(scenery, agents, dt)
        positions, progress, stopped = stop_step(
            self.walls(scenery), agents.positions, agents.velocity, dt, scenery.agent_radius, self.margin
        )
        agents.positions.copy_(positions)
        turn(agents, dt)
        agents.velocity.masked_fill_(stopped[..., None], 0.0)
        agents.angvelocity.masked_fill_(stopped, 0.0)
        return progress

    def __repr__(self) -> str:
        return f"StopPhysics(margin={self.margin})"


class SlidePhysics:
    """The `slide` physics (``slide:torch``): agents slide along walls and push each other (``slide_step``).

    :param margin: metres left between an agent and the wall or agent it touches.
    :param sub_contacts: walls an agent may meet and slide along in one step.
    :param record_paths: keep, after each step, the path every agent took in :attr:`paths`;
        for tests, which check every leg of it against the walls.

    :ivar paths: ``(E, A, sub_contacts + 2, 2)`` metres, the corners of each agent's path in the
        last step from its start to its end, when ``record_paths`` is set; else None.
    """

    def __init__(self, margin: float = DEFAULT_MARGIN, sub_contacts: int = DEFAULT_SUB_CONTACTS,
                 record_paths: bool = False):
        self.margin = check_margin(margin)
        self.sub_contacts = check_sub_contacts(sub_contacts)
        self.record_paths = bool(record_paths)
        self.paths = None
        self.walls = WallCache()

    def step(self, scenery: Scenery, agents: Agents, dt: float) -> torch.Tensor:
        check_state(scenery, agents, dt)
        positions, velocity, progress, self.paths = slide_step(
            self.walls(scenery), agents.positions, agents.velocity, dt, scenery.agent_radius, self.margin,
            self.sub_contacts, self.record_paths,
        )
        agents.positions.copy_(positions)
        agents.velocity.copy_(velocity)
        turn(agents, dt)
        return progress

    def __repr__(self) -> str:
        return f"SlidePhysics(margin={self.margin}, sub_contacts={self.sub_contacts})"


OLD_NAMES = {"TorchPhysics": (StopPhysics, "megastep_physics.TorchPhysics is deprecated: it is the stop physics, "
                                           "StopPhysics")}
"""This module's and the package's old names (:func:`megastep_core.deprecation.old_names`)."""

__getattr__ = old_names(__name__, OLD_NAMES)
