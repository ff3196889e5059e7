"""What a backend object returned by a hook must offer, the whole contract.

These are structural protocols: a backend need not inherit from them, only have the methods. They live in
core so that a third party can write a plugin against ``megastep-core`` alone. :func:`require` checks an
object against one and says what it lacks.

Every backend a World or an env calls in its step shares these rules:

- **Graph safety.** A step may be captured in a CUDA graph and replayed. A backend updates the tensors it
  is given *in place* (``copy_``, ``masked_fill_``, a kernel's writes), never rebinds them, and never makes
  the host wait for the device in a step (no ``.item()``, ``.tolist()``, ``bool(tensor)`` or ``int(tensor)``,
  no ``torch.nonzero`` without a size). Work that needs the host, such as building a table of the static
  walls, is done once, when the backend first meets a scenery, and cached.
- **Shapes and units.** ``E`` envs, ``A`` agents per env; metres, degrees, seconds; every tensor on the
  world's device and float32 unless said otherwise.
- **Angles wrap.** Angles are degrees counter-clockwise from +x and stay in ``[-180, 180)``.
- **Bodies first.** The first ``A * M`` lines of each env in ``scenery.lines`` are the agents' bodies
  (``M = scenery.body_lines``, agent 0's first); the World redraws them after every move. The walls follow
  and never move.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import attrs
import torch

if TYPE_CHECKING:
    from .spaces import Space
    from .state import Agents, Camera, Render, Scenery
    from .world import World

BackendKind = Literal["physics", "renderer", "reward", "spawner"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("physics", "renderer", "reward", "spawner")


def _names(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.define(frozen=True)
class BackendInfo:
    """A backend a plugin provides, as listed by ``megastep plugins`` and chosen among by ``"auto"``.

    A backend's name says what it does and, after a colon, how: ``stop:torch`` and ``stop:cuda`` are two
    implementations of the ``stop`` behaviour. A user names one implementation (``"stop:cuda"``), a
    behaviour (``"stop"``: its best implementation that runs on the world's device) or ``"auto"`` (the
    kind's default behaviour, chosen the same way). Third-party implementations join the choice by naming
    a behaviour and a ``preference``.

    :ivar kind: which hook makes it: ``physics``, ``renderer``, ``reward`` or ``spawner``.
    :ivar name: the name users select it by, ``behaviour:implementation`` or a plain name.
    :ivar unavailable: ``None`` if it can run here, else why not.
    :ivar description: one line for the listing.
    :ivar implementation: what runs it, as ``"torch"`` or ``"cuda"``; empty where the plugin does not say.
    :ivar devices: the device types it runs on (``("cuda",)``); empty for any.
    :ivar preference: among implementations of one behaviour that can run, the highest is chosen.
    :ivar replaces: old names that still select it, with a DeprecationWarning naming ``name``.
    """

    kind: BackendKind = attrs.field(validator=attrs.validators.in_(BACKEND_KINDS))
    name: str
    unavailable: str | None = None
    description: str = ""
    implementation: str = ""
    devices: tuple[str, ...] = attrs.field(default=(), converter=_names)
    preference: int = 0
    replaces: tuple[str, ...] = attrs.field(default=(), converter=_names)

    @property
    def behaviour(self) -> str:
        """What the backend does: the name before its colon."""
        return self.name.partition(":")[0]

    def runs_on(self, device) -> bool:
        """Whether it can run on ``device`` here: available, and made for that type of device."""
        return self.unavailable is None and (not self.devices or torch.device(device).type in self.devices)


@runtime_checkable
class Physics(Protocol):
    def step(self, scenery: Scenery, agents: Agents, dt: float) -> torch.Tensor:
        """Moves and turns every agent by its velocities for ``dt`` seconds, in place.

        Writes ``agents.positions``, ``agents.angles`` (wrapped to ``[-180, 180)``) and, where a contact
        changes them, ``agents.velocity`` and ``agents.angvelocity``, all in place; reads the static walls
        of ``scenery.lines`` (each env's lines after its first ``A * M`` body lines) and must not write
        ``scenery``: the World redraws the bodies after the step. It runs in every step, possibly inside a
        CUDA graph, so it must not make the host wait for the device after its first call on a scenery.

        Contacts are the backend's behaviour, named by its name:

        - ``stop``: an agent whose move would touch a wall or another agent stops short of contact (by a
          small margin) and its velocities are zeroed; agents never overlap or cross a wall.
        - ``slide``: an agent that meets a wall keeps the part of its move along the wall and slides,
          agents that meet push each other apart; velocities keep their sliding part.

        A third-party behaviour documents its own; every physics keeps agents out of walls.

        :returns: ``(E, A)`` progress in ``[0, 1]``, the fraction of the intended move achieved
            (1 where nothing was met).
        """
        ...


@runtime_checkable
class Renderer(Protocol):
    def bake(self, scenery: Scenery) -> None:
        """Fills ``scenery.baked`` with the static light on every texel, in place; called once per World.
        It may wait for the device."""
        ...

    def render(self, scenery: Scenery, agents: Agents, cameras: list[Camera]) -> Render:
        """Casts every camera's rays and shades the hits, as a :class:`Render` of ``(E, A, C, R)``.

        Reads the scenery and the agents, writes neither; runs in every step, so it must not make the host
        wait for the device. A renderer captured in a CUDA graph returns the same tensors every call.
        """
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


class Environment(Protocol):
    """What a reward may read of the env it scores: its world (a task keeps its own state beside it)."""

    world: World


@runtime_checkable
class Reward(Protocol):
    def reset(self, env: Environment, mask: torch.Tensor) -> None:
        """Forgets the episode of the envs where ``mask`` (``(E,)`` bool) is True, in place.

        Called after the task restarted those envs (agents spawned). It may read the world and the env, and
        writes only the reward's own state: an env on a GPU runs it beside the rest of its step, so it must
        not make the host wait for the device.
        """
        ...

    def __call__(self, env: Environment, render: Render | None) -> torch.Tensor:
        """The reward of every agent for the step just taken, ``(E, A)`` float32.

        ``env`` is the environment: its ``world`` and any task state it keeps. A reward that reads the
        agents and the env's state but not the render may say so with a class attribute ``reads = "agents"``:
        an env on a GPU then pays it during the render, beside it, and passes None for ``render``. It runs in
        every step: no host sync, and state it keeps across steps is updated in place.
        """
        ...


@runtime_checkable
class Spawner(Protocol):
    def __call__(self, world: World, mask: torch.Tensor) -> torch.Tensor:
        """Places agents at rest, in place: where ``mask`` is True, ``(E,)`` bool for every agent of those
        envs or ``(E, A)`` bool for just those agents.

        It writes ``world.agents`` in place (positions inside the free space, angles in ``[-180, 180)``,
        velocities zero) and redraws the bodies (``world.place()``). A per-agent mask lets a multi-agent
        env respawn single agents without redrawing whole envs. A spawner may leave a masked agent where it
        is, such as one whose new place would crowd the agents that stay; the caller can ask for it again
        next step. It runs on every step for every env, so it must not make the host wait for the device.

        :returns: ``(E, A)`` bool on the world's device, the agents it placed: for an ``(E,)`` mask every
            agent of the masked envs, for an ``(E, A)`` mask some or all of the masked agents.
        """
        ...


@runtime_checkable
class Observation(Protocol):
    """An observation module of an env: one entry of its observation dict.

    :cvar reads: what it reads, ``"render"`` (the frame of this step) or ``"agents"`` (the world's state
        only); a module that reads ``"agents"`` can run beside the render.
    """

    reads: ClassVar[str]

    @property
    def space(self) -> Space:
        """The observation's space, per agent; the env batches it to ``(E, A, ...)``."""
        ...

    def refresh(self, render: Render | None) -> Any:
        """This step's observation, ``(E, A, ...)``, from the world and (when ``reads == "render"``) the frame.

        It runs in every step: it writes only its own buffers, in place, and never makes the host wait.
        """
        ...


def require(obj: Any, protocol: type) -> Any:
    """``obj``, checked to have every method and attribute of ``protocol``.

    :raises TypeError: naming what ``obj`` lacks, so that a plugin's mistake shows where the plugin made it
        rather than deep in a step.
    """
    members = [name for name in _members(protocol) if not hasattr(obj, name)]
    if members:
        article = "an" if protocol.__name__[0] in "AEIOU" else "a"
        raise TypeError(
            f"{type(obj).__name__} is not {article} {protocol.__name__}: it lacks {', '.join(members)} "
            f"(see megastep_core.protocols.{protocol.__name__} for the contract)"
        )
    for name in _members(protocol):
        wanted = getattr(protocol, name, None)
        if callable(wanted) and not isinstance(wanted, property) and not callable(getattr(obj, name)):
            raise TypeError(f"{type(obj).__name__}.{name} must be callable to keep the {protocol.__name__} protocol")
    return obj


def _members(protocol: type) -> list[str]:
    names = []
    for klass in protocol.__mro__:
        if klass in (Protocol, object) or klass.__name__ == "Generic":
            continue
        names += [n for n in vars(klass) if not n.startswith("_") or n == "__call__"]
        names += [n for n in getattr(klass, "__annotations__", {}) if not n.startswith("_")]
    return list(dict.fromkeys(names))
