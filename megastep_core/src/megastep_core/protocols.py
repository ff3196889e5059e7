"""What a backend object returned by a hook must offer.

These are structural protocols: a backend need not inherit from them, only
have the methods. They live in core so that a third party can write a plugin
against ``megastep-core`` alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import attrs
import torch

if TYPE_CHECKING:
    from .state import Agents, Camera, Render, Scenery
    from .world import World

BackendKind = Literal["physics", "renderer", "reward", "spawner"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("physics", "renderer", "reward", "spawner")


@attrs.define(frozen=True)
class BackendInfo:
    """A backend a plugin provides, as listed by ``megastep plugins``.

    :ivar kind: which hook makes it: ``physics``, ``renderer``, ``reward`` or ``spawner``.
    :ivar name: the name users select it by.
    :ivar unavailable: ``None`` if it can run here, else why not.
    :ivar description: one line for the listing.
    """

    kind: BackendKind = attrs.field(validator=attrs.validators.in_(BACKEND_KINDS))
    name: str
    unavailable: str | None = None
    description: str = ""


@runtime_checkable
class Physics(Protocol):
    def step(self, scenery: Scenery, agents: Agents, dt: float) -> torch.Tensor:
        """Moves and turns every agent by its velocities for ``dt`` seconds, in place.

        Agents that would touch a wall or another agent stop short of contact.

        :returns: ``(E, A)`` progress, the fraction of the intended move achieved.
        """
        ...


@runtime_checkable
class Renderer(Protocol):
    def bake(self, scenery: Scenery) -> None:
        """Fills ``scenery.baked`` with the static light on every texel."""
        ...

    def render(self, scenery: Scenery, agents: Agents, cameras: list[Camera]) -> Render:
        """Casts every camera's rays and shades the hits, as a :class:`Render` of ``(E, A, C, R)``."""
        ...


@runtime_checkable
class MaskedRenderer(Renderer, Protocol):
    """A renderer that can re-render some envs in place (optional: :meth:`World.rerender` falls back without it)."""

    def render_into(
        self, out: Render, scenery: Scenery, agents: Agents, cameras: list[Camera], mask: torch.Tensor | None = None
    ) -> None:
        """Writes what every camera sees into the tensors of ``out``; with ``mask`` (``(E,)`` bool), only the
        rows of the envs where it is True, leaving the others as they are."""
        ...


@runtime_checkable
class Reward(Protocol):
    def reset(self, env, mask: torch.Tensor) -> None:
        """Forgets the episode of the envs where ``mask`` (``(E,)`` bool) is True.

        Called after the task restarted those envs (agents spawned). It may read the world and the env, and
        writes only the reward's own state: an env on a GPU runs it beside the rest of its step.
        """
        ...

    def __call__(self, env, render: Render) -> torch.Tensor:
        """The reward of every agent for the step just taken, ``(E, A)``.

        ``env`` is the environment: its ``world`` and any task state it keeps. A reward that reads the
        agents and the env's state but not the render may say so with a class attribute ``reads = "agents"``:
        an env on a GPU then pays it during the render, beside it, and passes None for ``render``.
        """
        ...


@runtime_checkable
class Spawner(Protocol):
    def __call__(self, world: World, mask: torch.Tensor) -> torch.Tensor:
        """Places agents at rest, in place: where ``mask`` is True, ``(E,)`` bool for every agent of those
        envs or ``(E, A)`` bool for just those agents.

        A per-agent mask lets a multi-agent env respawn single agents without redrawing whole envs. A spawner
        may leave a masked agent where it is, such as one whose new place would crowd the agents that stay;
        the caller can ask for it again next step. It runs on every step for every env, so it must not make
        the host wait for the device.

        :returns: ``(E, A)`` bool on the world's device, the agents it placed: for an ``(E,)`` mask every
            agent of the masked envs, for an ``(E, A)`` mask some or all of the masked agents.
        """
        ...
