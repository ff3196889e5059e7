"""The CUDA implementations ``stop:cuda`` and ``slide:cuda``: one fused kernel per step from ``physics.cu``.

They take the same options as their torch references (``stop:torch`` and ``slide:torch``) and
compute the same numbers: the kernel mirrors the torch code operation by
operation, compiled without fused multiply-adds so that roundings agree.
"""
from __future__ import annotations

import numpy as np
import torch

from megastep_core import Agents, KernelError, Scenery
from megastep_core.kernels import kernel
from megastep_core.walls import REACH_SLACK, WallCache, WallTable

from ..backends import DEFAULT_MARGIN, DEFAULT_SUB_CONTACTS, check_margin, check_state, check_sub_contacts
from ..steps import contact_radii

KERNEL_OPTIONS = ("-std=c++17", "--fmad=false")
"""No fast math and no fused multiply-adds: the kernels round as the torch reference does."""

THREADS = 128
"""Threads per block, rounded down to whole envs."""

SHARED_LIMIT = 48 * 1024
"""Bytes of shared memory a block may use without opting in."""


def wall_arguments(walls: WallTable, on_host: bool) -> tuple[tuple, tuple]:
    """The kernels' wall parameters, from ``wall_data`` to ``reach_limit``, made once per table.

    :returns: the parameters as tensors and numbers, and as the launch passes them: for a GPU,
        device pointers and 32-bit numbers, converted here rather than at every step. The caller
        must keep the first tuple as long as it uses the second: it holds the int32 copies that
        the pointers point into.
    """
    def int32(tensor):
        return tensor.int().contiguous()

    arguments = (
        walls.walls, walls.lengths, int32(walls.geometry_starts), int32(walls.env_geometry), bool(walls.has_grid),
        walls.grid_origins, int32(walls.grid_shapes), int32(walls.grid_starts), int32(walls.cell_starts),
        int32(walls.cell_walls), float(walls.cell), float(walls.reach - REACH_SLACK),
    )
    if on_host:
        return arguments, arguments
    # as megastep_core.kernels.Kernel converts them: pointer, int, float
    convert = {torch.Tensor: lambda t: np.uint64(t.data_ptr()), bool: np.int32, int: np.int32, float: np.float32}
    return arguments, tuple(convert[type(a) if type(a) in convert else torch.Tensor](a) for a in arguments)


class CudaPhysics:
    """``stop:cuda`` (agents stop short, like ``stop:torch``) or ``slide:cuda`` (agents slide, like ``slide:torch``).

    :param slide: False for ``stop_step``, True for ``slide_step``.
    :param margin: metres left between an agent and what stopped it.
    :param sub_contacts: walls an agent may slide along in one step (``slide`` only).
    :param record_paths: keep each agent's path of the last step in :attr:`paths` (``slide`` only).
    :param launcher: runs the kernel instead of CuPy; for tests that run ``physics.cu`` compiled for
        the CPU. It is called like :class:`megastep_core.kernels.Kernel` and takes CPU tensors.
    """

    def __init__(self, slide: bool = False, margin: float = DEFAULT_MARGIN,
                 sub_contacts: int = DEFAULT_SUB_CONTACTS, record_paths: bool = False, launcher=None):
        self.slide = bool(slide)
        self.margin = check_margin(margin)
        self.sub_contacts = check_sub_contacts(sub_contacts)
        self.record_paths = bool(record_paths)
        self.paths = None
        self.walls = WallCache()
        self._table, self._wall_tensors, self._wall_arguments = None, (), ()
        self._checked = None
        self.name = "slide_step" if self.slide else "stop_step"
        self.on_host = launcher is not None
        self.kernel = launcher or kernel("megastep_physics.cuda", "physics.cu", self.name, KERNEL_OPTIONS)

    def _output(self, *shape: int, device) -> torch.Tensor:
        """An output tensor, which the kernel writes whole (tests fill it with NaN to see that it does)."""
        return torch.empty(shape, device=device)

    def _launch_shape(self, n_envs: int, n_agents: int) -> tuple[int, int, int]:
        """Blocks, threads per block and bytes of shared memory per block."""
        if n_agents > 1024:
            raise ValueError(f"the CUDA physics runs at most 1024 agents per env, got {n_agents}")
        breakpoints = self.sub_contacts + 2 if self.slide else 2
        # see Shared in physics.cu; alone in its env, an agent needs no room for the agent rounds
        per_thread = (5 * breakpoints + (2 + 3 * (breakpoints + 1) if n_agents > 1 else 0)) * 4
        envs_per_block = max(1, min(THREADS // n_agents, SHARED_LIMIT // (per_thread * n_agents)))
        threads = envs_per_block * n_agents
        shared = threads * per_thread
        if shared > SHARED_LIMIT:
            raise ValueError(
                f"{n_agents} agents per env with sub_contacts={self.sub_contacts} need {shared} bytes of shared "
                f"memory per block, more than {SHARED_LIMIT}; use fewer agents or sub_contacts"
            )
        return (n_envs + envs_per_block - 1) // envs_per_block, threads, shared

    def _check(self, scenery: Scenery, agents: Agents, dt: float) -> None:
        """Validates the state, once for each new set of tensors: a step's host time counts at small batches."""
        tensors = (agents.positions, agents.velocity, agents.angles, agents.angvelocity)
        key = (id(scenery), float(dt), *(id(t) for t in tensors), *(t.data_ptr() for t in tensors))
        if key == self._checked:
            return
        check_state(scenery, agents, dt)
        if scenery.device.type != "cuda" and not self.on_host:
            raise KernelError(f"the CUDA physics needs the world on a CUDA device, not {scenery.device}")
        for name, tensor in zip(("positions", "velocity", "angles", "angvelocity"), tensors):
            if not tensor.is_contiguous():
                raise ValueError(f"agents.{name} must be contiguous for the CUDA physics")
        self._checked = key

    def step(self, scenery: Scenery, agents: Agents, dt: float) -> torch.Tensor:
        self._check(scenery, agents, dt)
        walls = self.walls(scenery)
        if walls is not self._table:
            self._wall_tensors, self._wall_arguments = wall_arguments(walls, self.on_host)
            self._table = walls
        n_envs, n_agents = agents.n_envs, agents.n_agents
        radius, margin = scenery.agent_radius, self.margin
        radii = contact_radii(radius, margin)  # the reference's contact rule, so both stop alike
        progress = self._output(n_envs, n_agents, device=scenery.device)
        blocks, threads, shared = self._launch_shape(n_envs, n_agents)
        state = (walls.env_order, n_envs, n_agents, agents.positions, agents.velocity, agents.angles,
                 agents.angvelocity, progress)
        if not self.slide:
            self.kernel(blocks, threads, *state, *self._wall_arguments, *radii, float(dt), shared_mem=shared)
            return progress
        paths = None
        if self.record_paths:
            paths = self._output(n_envs, n_agents, self.sub_contacts + 2, 2, device=scenery.device)
        self.kernel(blocks, threads, *state, np.uint64(0) if paths is None else paths, *self._wall_arguments,
                    *radii, float(dt), float(radii[2] + margin), self.sub_contacts, shared_mem=shared)
        self.paths = paths
        return progress

    def __repr__(self) -> str:
        if self.slide:
            return f"CudaPhysics(slide=True, margin={self.margin}, sub_contacts={self.sub_contacts})"
        return f"CudaPhysics(margin={self.margin})"
