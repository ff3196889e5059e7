"""The :class:`World`: scenery, agents, cameras and the backends that move and see them.

Environments are built on a World. It owns the batched state and calls the
chosen physics and renderer backends directly, without pluggy, every step.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .errors import StateError
from .geometry import Geometry
from .kernels import Kernels
from .plugins import get_plugin_manager
from .scenery import body_kernels, build_scenery, draw_bodies
from .state import Agents, Camera, Render


def resolve_device(device) -> torch.device:
    """``"auto"`` is CUDA when it is available, else the CPU."""
    if device == "auto" or device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
    return device


class World:
    """``E`` flat worlds, one per geometry, with ``A`` agents each.

    :param geometries: one :class:`Geometry` per env.
    :param n_agents: ``A``, agents per env.
    :param cameras: the cameras every agent carries; ``C = len(cameras)``.
    :param physics: name of the physics backend: a behaviour (``"stop"``, ``"slide"``), one implementation
        of it (``"stop:torch"``, ``"stop:cuda"``, ...) or ``"auto"`` (the best ``stop`` for the device).
    :param renderer: name of the renderer backend (``"auto"``, ``"raycast"``, ``"raycast:torch"``, ...).
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    :param fps: steps per simulated second; a step lasts ``dt = 1 / fps`` seconds.
    :param agent_radius: metres.
    :param seed: seeds the scenery's textures.
    :param physics_options: extra keywords for the physics hook.
    :param renderer_options: extra keywords for the renderer hook.
    :param check_finite: check before each :meth:`move` and :meth:`render` that the agents' positions, angles
        and velocities are finite, raising :class:`~megastep_core.StateError` where one is NaN or infinite
        (which would otherwise spread silently through the physics and give a render that "works").
        ``None``, the default, checks on the CPU, where it costs a few microseconds, and not on a GPU, where
        reading the answer would wait for the GPU every step; ``True`` checks there too, in eager steps
        (a CUDA graph being captured cannot wait, so its steps are never checked).

    :ivar backends: ``{"physics": name, "renderer": name}``, the full names the choice resolved to.
    :ivar kernels: the :class:`~megastep_core.kernels.Kernels` the world draws bodies with: CUDA kernels
        when its physics is a ``cuda`` implementation, else the torch references. The world never picks
        kernels on its own; packages that ship kernels for an env's step follow ``kernels.implementation``.
    """

    def __init__(
        self,
        geometries: Sequence[Geometry],
        n_agents: int = 1,
        cameras: Sequence[Camera] = (Camera(pixels=64, fov=130),),
        physics: str = "auto",
        renderer: str = "auto",
        device="auto",
        fps: float = 10.0,
        agent_radius: float = 0.106,
        seed: int = 0,
        physics_options: Mapping[str, Any] | None = None,
        renderer_options: Mapping[str, Any] | None = None,
        check_finite: bool | None = None,
    ):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        cameras = list(cameras)
        if not cameras or not all(isinstance(c, Camera) for c in cameras):
            raise ValueError("cameras must be a non-empty sequence of megastep_core.Camera")
        self.device = resolve_device(device)
        self.check_finite = self.device.type == "cpu" if check_finite is None else bool(check_finite)
        self.geometries = list(geometries)
        self.cameras = cameras
        self.dt = 1.0 / fps
        self.scenery = build_scenery(self.geometries, n_agents, agent_radius, seed, self.device)
        self.agents = Agents.zeros(len(self.geometries), n_agents, self.device)

        manager = get_plugin_manager()
        # stacklevel 2: an old name's DeprecationWarning names the line that made this World
        physics_name, physics_info = manager.choose("physics", physics, self.device, stacklevel=2)
        renderer_name, _ = manager.choose("renderer", renderer, self.device, stacklevel=2)
        self.backends = {"physics": physics_name, "renderer": renderer_name}
        self.physics = manager.make("physics", physics_name, {"device": self.device, **(physics_options or {})})
        self.renderer = manager.make("renderer", renderer_name, {"device": self.device, **(renderer_options or {})})
        cuda = physics_info is not None and physics_info.implementation == "cuda"
        self.kernels: Kernels = body_kernels("cuda" if cuda else "torch", self.device)
        self.renderer.bake(self.scenery)
        draw_bodies(self.scenery, self.agents, self.kernels)

    @property
    def n_envs(self) -> int:
        return self.scenery.n_envs

    @property
    def n_agents(self) -> int:
        return self.scenery.n_agents

    @property
    def agent_radius(self) -> float:
        return self.scenery.agent_radius

    def move(self) -> torch.Tensor:
        """Steps the physics by ``dt`` and redraws the agents' bodies.

        :returns: ``(E, A)`` progress, the fraction of each intended move achieved.
        """
        self._check_agents("move")
        progress = self.physics.step(self.scenery, self.agents, self.dt)
        draw_bodies(self.scenery, self.agents, self.kernels)
        return progress

    def place(self) -> None:
        """Redraws the agents' bodies after their positions were set by hand (by a spawner, say)."""
        draw_bodies(self.scenery, self.agents, self.kernels)

    def render(self) -> Render:
        """What every camera sees now, ``(E, A, C, R)``."""
        self._check_agents("render")
        return self.renderer.render(self.scenery, self.agents, self.cameras)

    def rerender(self, render: Render, mask: torch.Tensor) -> Render:
        """Renders again, into ``render``, the envs where ``mask`` (``(E,)`` bool) is True; the others keep their rows.

        This is how an env shows the first frame of the episodes that just
        began without paying for a second full render: a renderer with a
        ``render_into`` method (:class:`~megastep_core.protocols.MaskedRenderer`)
        touches only the masked envs; any other renders every env and the
        masked rows are copied over.

        :returns: ``render``, updated in place.
        """
        render_into = getattr(self.renderer, "render_into", None)
        if render_into is not None:
            render_into(render, self.scenery, self.agents, self.cameras, mask)
            return render
        fresh = self.render()
        for name in ("indices", "locations", "dots", "distances", "screen"):
            old, new = getattr(render, name), getattr(fresh, name)
            rows = mask.view(-1, *[1] * (old.dim() - 1))
            old.copy_(torch.where(rows, new, old))
        return render

    def _check_agents(self, where: str) -> None:
        """Raises :class:`StateError` naming the field and envs where an agent's state is not finite."""
        if not self.check_finite or (self.device.type == "cuda" and torch.cuda.is_current_stream_capturing()):
            return
        fields = {name: getattr(self.agents, name) for name in ("positions", "angles", "velocity", "angvelocity")}
        # one reduction and one read of the answer: the names and envs are worked out only when it fails
        if bool(torch.stack([value.isfinite().all() for value in fields.values()]).all()):
            return
        for name, value in fields.items():
            bad = ~value.isfinite().reshape(self.n_envs, -1).all(1)
            if bad.any():
                envs = bad.nonzero()[:, 0].tolist()
                shown = ", ".join(map(str, envs[:8])) + (", ..." if len(envs) > 8 else "")
                raise StateError(
                    f"World.{where}(): agents.{name} holds NaN or infinite values in {len(envs)} env(s) ({shown}); "
                    f"set them to finite values before stepping (World(check_finite=False) skips this check)"
                )

    def __repr__(self) -> str:
        return (
            f"World(envs={self.n_envs}, agents={self.n_agents}, cameras={self.cameras}, "
            f"physics={type(self.physics).__name__}, renderer={type(self.renderer).__name__}, device={self.device})"
        )
