"""What agents observe, computed from one shared :class:`~megastep_core.Render` per step.

An env renders once per step and hands the same render to every observation
module, so adding depth to an RGB env costs no second render. Each module has
a ``space`` (per-agent shape, see :mod:`megastep_core.spaces`) and is called
with the render; it returns ``(E, A, ...)`` tensors. A module may also have
``refresh(render, mask, observation)``: it observes again, in place, the
envs where ``mask`` is True, and returns the rows it replaced (meaningful
where ``mask`` is True). An env calls it to show the first frame of the envs
that just reset while keeping their last one; a module without it is
observed in every env again, into a new tensor.

A module that measures the agents' motion may have ``mark_poses()``: the env
calls it just before the physics moves the agents, and after a reset, so that
the module can keep where they stood (the IMU tells how far each moved).

A module may also say what it reads, as ``reads``: ``"render"`` (RGB and
Depth read the render alone) or ``"agents"`` (the IMU reads the agents as
the physics left them; it is called with ``None``, before the render exists).
On a GPU an env observes those beside the rest of its step, on a second
CUDA stream (:class:`~megastep_envs.step.graphs.SideStreams`): the agents' during the
render, the render's during the task update and the resets. A module that
does not say may read anything, the task's state included, and is observed
after the task update.

The renderer casts ``R`` rays per camera; observations average groups of
``subsample`` neighbouring rays into one pixel (``W = R / subsample``), which
anti-aliases the thin stripes of distant walls.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch

from megastep_core import Render, World
from megastep_core.deprecation import old_names
from megastep_core.kernels import load_kernels
from megastep_core.spaces import Box


def _pixels(world: World, subsample: int) -> int:
    """``W``, observed pixels per camera, checking that ``subsample`` divides every camera's rays."""
    if int(subsample) != subsample or subsample < 1:
        raise ValueError(f"subsample must be a positive integer, got {subsample!r}")
    rays = {camera.pixels for camera in world.cameras}
    if len(rays) != 1:
        raise ValueError(f"every camera must cast the same number of rays to be observed together, got {sorted(rays)}")
    (rays,) = rays
    if rays % subsample:
        raise ValueError(f"subsample {subsample} must divide the cameras' {rays} rays")
    return rays // int(subsample)


def downsample(values: torch.Tensor, subsample: int, dim: int) -> torch.Tensor:
    """Averages groups of ``subsample`` neighbours along ``dim``, shrinking it by that factor."""
    if subsample == 1:
        return values
    dim = dim % values.ndim
    shape = values.shape[:dim] + (values.shape[dim] // subsample, subsample) + values.shape[dim + 1 :]
    return values.reshape(shape).mean(dim + 1)


def where_envs(mask: torch.Tensor, chosen: torch.Tensor, previous: torch.Tensor,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """``chosen`` in the envs where ``mask`` (``(E,)`` bool) is True, ``previous`` elsewhere (both ``(E, ...)``);
    written into ``out`` where given (which may be either of them)."""
    rows = mask.view(-1, *[1] * (chosen.dim() - 1))
    return torch.where(rows, chosen, previous) if out is None else torch.where(rows, chosen, previous, out=out)


class FinalRows:
    """Where a module's ``refresh`` keeps the rows it replaces: zeros, made fresh on every eager call; while a
    CUDA graph is captured, one buffer made at the first (eager) call and zeroed then, since zeroing it inside
    the graph would be a memset on every replay, a good part of what refreshing in place saves."""

    _finals: torch.Tensor | None = None

    def _final_buffer(self, observation: torch.Tensor) -> torch.Tensor:
        if self._finals is None or self._finals.shape != observation.shape:
            self._finals = torch.zeros_like(observation)
        if observation.is_cuda and torch.cuda.is_current_stream_capturing():
            return self._finals
        return torch.zeros_like(observation)


class PooledRays(FinalRows):
    """What :class:`RGB` and :class:`Depth` share: pixels pooling ``subsample`` rays each, computed two ways.

    The torch code (:meth:`pool`) is the reference and the CPU path. On a
    GPU the fused kernels of ``megastep_envs/modules/observations.cu`` compute
    the same in one pass over the render (``backend``: ``"auto"``, the
    default, uses them where the world is on CUDA and CuPy can run;
    ``"torch"`` or ``"cuda"`` choose).

    Both also *refresh* an observation in place: :meth:`refresh` observes
    again only the envs that just reset, moving their old pixels aside as
    their final observation; the pixels of every other env are not touched,
    so the second look costs what those few envs' pixels cost.
    """

    kernel_name: ClassVar[str]
    reads: ClassVar[str] = "render"

    def __init__(self, world: World, subsample: int, backend: str):
        self.subsample = int(subsample)
        self.pixels = _pixels(world, subsample)
        kernels = load_kernels("megastep_envs.modules", "observations.cu", [self.kernel_name], device=world.device,
                               implementation=backend, what="observation option backend").as_dict()
        self._kernel = None if kernels is None else kernels[self.kernel_name]

    def pool(self, render: Render) -> torch.Tensor:
        """The observation of every env, by torch ops: ``(E, A, *space.shape)``."""
        raise NotImplementedError

    def _launch_arguments(self, render: Render) -> tuple:
        """The kernel's source tensor and its trailing arguments."""
        raise NotImplementedError

    def __call__(self, render: Render) -> torch.Tensor:
        if self._kernel is None:
            return self.pool(render)
        n_envs, n_agents, n_cameras, _ = render.distances.shape
        out = torch.empty((n_envs, n_agents, *self.space.shape), device=render.distances.device)
        self._launch(render, None, None, out)
        return out

    def refresh(self, render: Render, mask: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
        """Observes ``render`` again in the envs where ``mask`` (``(E,)`` bool) is True, into ``observation``
        (``(E, A, *space.shape)``, this step's observation), in place.

        :returns: the rows of ``observation`` that were replaced, in a tensor of its shape whose other rows
            hold zeros or the rows an earlier step replaced: meaningful where ``mask`` is True only.
        """
        final = self._final_buffer(observation)
        if self._kernel is None:
            where_envs(mask, observation, final, out=final)
            where_envs(mask, self.pool(render), observation, out=observation)
        else:
            if not observation.is_contiguous():
                raise ValueError("refresh needs the contiguous observation this module returned, got a strided view")
            self._launch(render, mask, final, observation)
        return final

    def _launch(self, render: Render, mask: torch.Tensor | None, final: torch.Tensor | None,
                out: torch.Tensor) -> None:
        n_envs, n_agents, n_cameras, _ = render.distances.shape
        source, *extra = self._launch_arguments(render)
        views = n_envs * n_agents * n_cameras
        null = np.uint64(0)  # a null pointer: every env is observed
        self._kernel(
            -(-views * self.pixels // 256), 256, source, null if mask is None else mask,
            null if final is None else final, out, views, n_agents * n_cameras, self.pixels, self.subsample, *extra,
        )


class RGB(PooledRays):
    """The colour each camera sees: ``(E, A, C, 3, W)`` linear RGB in [0, 1], channels before pixels.

    :param world: the world whose render is observed.
    :param subsample: rays averaged into one pixel.
    :param backend: ``"auto"``, ``"torch"`` or ``"cuda"`` (see :class:`PooledRays`).
    """

    kernel_name = "observe_rgb"

    def __init__(self, world: World, subsample: int = 4, backend: str = "auto"):
        super().__init__(world, subsample, backend)
        self.space = Box((len(world.cameras), 3, self.pixels), 0.0, 1.0)

    def pool(self, render: Render) -> torch.Tensor:
        rgb = downsample(render.screen, self.subsample, dim=-2)
        # without subsampling that is the render itself, which a step may render into again
        return (rgb.clone() if rgb is render.screen else rgb).transpose(-1, -2)

    def _launch_arguments(self, render: Render) -> tuple:
        return (render.screen,)


class Depth(PooledRays):
    """How near the hit of each pixel is: ``(E, A, C, W)``, 1 at the near plane falling linearly to 0 at ``max_depth``.

    The near plane is the agent's radius (no wall can be nearer); anything
    beyond ``max_depth``, and a miss, reads 0.

    :param world: the world whose render is observed.
    :param subsample: rays averaged into one pixel.
    :param max_depth: metres at which depth reaches 0.
    :param backend: ``"auto"``, ``"torch"`` or ``"cuda"`` (see :class:`PooledRays`).
    """

    kernel_name = "observe_depth"

    def __init__(self, world: World, subsample: int = 4, max_depth: float = 10.0, backend: str = "auto"):
        max_depth = float(max_depth)
        if not (math.isfinite(max_depth) and max_depth > world.agent_radius):
            raise ValueError(
                f"max_depth must be finite metres beyond the agent radius {world.agent_radius}, got {max_depth}"
            )
        super().__init__(world, subsample, backend)
        self.near = world.agent_radius
        self.max_depth = max_depth
        self.space = Box((len(world.cameras), self.pixels), 0.0, 1.0)

    def pool(self, render: Render) -> torch.Tensor:
        # depth is linear in the clamped distance, so the mean is taken first, on 1/subsample the values;
        # a miss is +inf metres away, which clamps to max_depth and reads 0
        distance = downsample(render.distances.clamp(self.near, self.max_depth), self.subsample, dim=-1)
        return (self.max_depth - distance) / (self.max_depth - self.near)

    def _launch_arguments(self, render: Render) -> tuple:
        return render.distances, float(self.near), self.max_depth


def to_agent_frame(vectors: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """World-frame ``(..., 2)`` vectors to ``(forward, leftward)`` in the frame of agents facing ``angles`` degrees."""
    # a rotation by -angle, in real arithmetic: the compiler fuses it into the kernel of a fused caller
    radians = angles * (math.pi / 180)
    cos, sin = radians.cos(), radians.sin()
    x, y = vectors.unbind(-1)
    return torch.stack([cos * x + sin * y, cos * y - sin * x], -1)


class IMU(FinalRows):
    """What an inertial sensor integrated over each step would tell: ``(E, A, 3)`` of the agent's turn (radians per
    second, counter-clockwise) and its move in its own frame (forward, leftward; metres per second), both the
    distance covered in the last move over the step's ``dt``.

    So a reading times ``dt`` is exactly how far the agent turned and moved, walls or not, and summing them (each
    move turned by the turns after it) finds where the agent is relative to where it was: the odometry that
    PointGoal's agents told their goal once must keep. The physics' own velocity would not do: an agent stopped by
    a wall part of the way through a step ends it with no velocity, though it moved. The move is turned into the
    frame the agent faces at the end of the step, after its turn.

    The env calls :meth:`mark_poses` before every move (and after a reset), which keeps where each agent stood;
    an agent that has just spawned reads zeros (:meth:`refresh`).

    :param world: the world whose agents are read.
    :param backend: ``"auto"``, ``"torch"`` or ``"cuda"``: on a GPU the kernels of ``observations.cu``
        (``"auto"``), one to read and one to refresh, or the torch code, their reference.
    """

    space = Box((3,))
    reads = "agents"

    def __init__(self, world: World, backend: str = "auto"):
        self.world = world
        kernels = load_kernels("megastep_envs.modules", "observations.cu", ["observe_imu", "refresh_imu"],
                               device=world.device, implementation=backend, what="observation option backend").as_dict()
        self._kernel = None if kernels is None else kernels["observe_imu"]
        self._refresh_kernel = None if kernels is None else kernels["refresh_imu"]
        agents = world.agents
        self.moved_from = agents.positions.clone()
        """``(E, A, 2)`` metres: where each agent stood before the last move."""
        self.turned_from = agents.angles.clone()
        """``(E, A)`` degrees: where each agent faced before the last move."""

    def mark_poses(self) -> None:
        """Keeps where every agent stands and faces now, for the next reading to measure the move from."""
        agents = self.world.agents
        torch._foreach_copy_([self.moved_from, self.turned_from], [agents.positions, agents.angles])

    def __call__(self, render: Render | None = None) -> torch.Tensor:
        agents = self.world.agents
        per_second = 1.0 / self.world.dt
        if self._kernel is None:
            turn = torch.remainder(agents.angles - self.turned_from + 180.0, 360.0) - 180.0
            moved = to_agent_frame(agents.positions - self.moved_from, agents.angles)
            return torch.cat([torch.deg2rad(turn)[..., None], moved], -1) * per_second
        out = torch.empty((*agents.angles.shape, 3), device=agents.angles.device)
        n = agents.angles.numel()
        self._kernel(-(-n // 256), 256, agents.positions, self.moved_from, agents.angles, self.turned_from,
                     per_second, out, n)
        return out

    def refresh(self, render: Render | None, mask: torch.Tensor, observation: torch.Tensor) -> torch.Tensor:
        """Observes again, in place, the envs where ``mask`` (``(E,)`` bool) is True, whose agents have just spawned:
        their poses are marked, and they read zeros, as they have not moved since.

        :returns: the readings replaced, a tensor of ``observation``'s shape whose other rows hold zeros or the
            rows an earlier step replaced (see :class:`FinalRows`): meaningful where ``mask`` is True only.
        """
        agents = self.world.agents
        final = self._final_buffer(observation)
        if self._refresh_kernel is None:
            where_envs(mask, observation, final, out=final)
            where_envs(mask, agents.positions, self.moved_from, out=self.moved_from)
            where_envs(mask, agents.angles, self.turned_from, out=self.turned_from)
            observation.masked_fill_(mask.view(-1, *[1] * (observation.dim() - 1)), 0.0)
            return final
        if not observation.is_contiguous():
            raise ValueError("refresh needs the contiguous observation this module returned, got a strided view")
        n = agents.angles.numel()
        self._refresh_kernel(-(-n // 256), 256, mask, agents.positions, agents.angles, self.moved_from,
                             self.turned_from, observation, final, n, n // len(mask))
        return final


class FunctionObservation:
    """An observation an env computes itself, like PointGoal's goal vector.

    :param space: its per-agent space.
    :param compute: called with the render, returns ``(E, A, *space.shape)``.
    """

    def __init__(self, space, compute: Callable[[Render], torch.Tensor]):
        self.space = space
        self.compute = compute

    def __call__(self, render: Render) -> torch.Tensor:
        return self.compute(render)


__getattr__ = old_names(__name__, {
    "Computed": (FunctionObservation, "megastep_envs.modules.observations.Computed is now FunctionObservation")})
