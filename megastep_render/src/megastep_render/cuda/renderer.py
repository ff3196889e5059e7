"""The ``raycast:cuda`` renderer: the kernels of ``render.cu`` behind the Renderer interface."""
from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np
import torch

from megastep_core import Agents, BackendUnavailableError, Camera, Render, Scenery
from megastep_core.kernels import DEFAULT_OPTIONS, cupy_unavailable_reason, kernel

from ..raycast import ray_angles
from ..validation import check_render_arguments
from .tables import CELL_SIZE, LayoutTables, build_tables

PACKAGE = "megastep_render.cuda"
SOURCE = "render.cu"
# no --use_fast_math: rays take accurate sincosf of the reference's own angles; render.cu picks fast
# division (__fdividef) by hand where 2 ulp do, and rounds the lighting explicitly (__fmul_rn, ...)
OPTIONS = tuple(o for o in DEFAULT_OPTIONS if o != "--use_fast_math")
BLOCK = 256
KERNELS = ("bake_texels", "spread_baked", "light_bodies", "list_envs", "render_grid", "render_grid_sparse")
METHODS = ("auto", "grid")
# the tables each kernel reads, in the order of its parameters
GRID_TABLES = ("grids", "grid_shapes", "cell_starts", "entry_lines", "entry_ids")
SHADOW_TABLES = ("line_starts", "env_layout", *GRID_TABLES, "lights", "light_ranges")
SHADING_TABLES = (
    "walls", "wall_texels", "wall_bases", "texels", "env_layout", "line_starts", "env_texel_starts", "body_texels",
)


def compile_kernels() -> dict:
    """Compiles (or loads from CuPy's cache) every kernel of ``render.cu``, by name."""
    return {name: kernel(PACKAGE, SOURCE, name, OPTIONS) for name in KERNELS}


def blocks(n: int, block: int = BLOCK) -> int:
    return max(1, (n + block - 1) // block)


BLOCK_LISTED_ENVS = 2048
"""Up to this many envs, each block of a masked grid render lists the masked envs itself, from the mask (8 KiB of
shared memory), which saves ``list_envs``'s launch on a step's chain; beyond, ``list_envs`` lists them once rather
than every block reading the whole mask (the crossover measured is in the performance docs)."""


def sparse_grid_blocks(kernel, n_rays: int, shared: int, device: torch.device) -> int:
    """Blocks of a masked grid render (``render_grid_sparse``, as ``kernel``), whose warps stride over the rays of
    the listed envs, a warp per ray: as many as the GPU holds at once, so that every ray of the few envs that
    reset in a step starts at once.

    Sized to the GPU, not to the envs: a block per 256 rays of *every* env would mostly schedule blocks that
    leave at once. And no larger than the GPU holds at once: every block lists the envs first (up to
    ``BLOCK_LISTED_ENVS``), and blocks beyond the resident ones would list them again in later waves.
    """
    sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    return max(1, min(blocks(32 * n_rays), kernel.resident_blocks(BLOCK, shared) * sms))


def empty_render(n_envs: int, n_agents: int, n_cameras: int, n_rays: int, device) -> Render:
    """Uninitialised :class:`Render` tensors of ``(E, A, C, R)``, for :meth:`CudaRenderer.render_into`."""
    shape = (n_envs, n_agents, n_cameras, n_rays)
    floats = torch.empty((3, *shape), device=device)
    return Render(
        indices=torch.empty(shape, dtype=torch.int64, device=device),
        locations=floats[0], dots=floats[1], distances=floats[2],
        screen=torch.empty((*shape, 3), device=device),
    )


class CudaRenderer:
    """Baking, ray casting and shading in CUDA kernels, for scenery on a CUDA device.

    ``bake`` lights each layout once and builds its grid; ``render`` is one
    kernel launch (two with several agents per env: their bodies are lit
    first), never syncs with the host, and can be captured in a CUDA graph
    (after ``bake``; see :meth:`capture`). Results match
    :class:`~megastep_render.TorchRenderer` up to float rounding.

    Each ray walks its layout's uniform grid of walls (the ``grid`` method,
    which ``auto`` names; the option stays for code that passes it).

    :param device: the CUDA device it runs on.
    :param cell_size: metres, the side of the walls' grid cells.
    :param method: ``"auto"`` or ``"grid"``.
    """

    def __init__(self, device=None, cell_size: float = CELL_SIZE, method: str = "auto"):
        reason = cupy_unavailable_reason()
        if reason is not None:
            raise BackendUnavailableError(f"the raycast:cuda renderer cannot run here: {reason}")
        if device is not None and torch.device(device).type != "cuda":
            raise BackendUnavailableError(f"the raycast:cuda renderer needs a CUDA device, got device={device}")
        if not float(cell_size) > 0:
            raise ValueError(f"cell_size must be a positive number of metres, got {cell_size}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r} (the 'fan' method was removed: "
                             f"pass 'grid' or 'auto')")
        self.cell_size = float(cell_size)
        self.method = method
        self.kernels = compile_kernels()
        self._scenery: weakref.ref | None = None
        self._tables: LayoutTables | None = None
        self._rays: dict[tuple, torch.Tensor] = {}
        self._body_buffer: torch.Tensor | None = None
        self._list_buffer: torch.Tensor | None = None

    def _check(self, scenery: Scenery) -> None:
        if scenery.device.type != "cuda":
            raise ValueError(f"the raycast:cuda renderer needs the scenery on a CUDA device, got {scenery.device}")

    @torch.no_grad()
    def bake(self, scenery: Scenery) -> None:
        """Lights every wall texel once per layout, copies the light to every env, and builds the grids."""
        self._check(scenery)
        tables = build_tables(scenery, self.cell_size)
        n_texels = len(tables.texels)
        baked = torch.empty(n_texels, device=scenery.device)
        self.kernels["bake_texels"](
            blocks(n_texels), BLOCK, tables.texels, baked, tables.texel_walls, tables.walls, tables.wall_texels,
            tables.wall_bases, tables.texel_bases, tables.grids, tables.grid_shapes, tables.cell_starts,
            tables.entry_lines, tables.entry_ids, tables.lights, tables.light_ranges, tables.n_layouts, n_texels,
            scenery.n_body_lines, float(scenery.texel_size),
        )
        self.kernels["spread_baked"](
            min(scenery.n_envs, 65535), BLOCK, scenery.baked.vals, baked, tables.env_texel_starts,
            tables.env_layout, tables.texel_bases, int(tables.body_texels[-1]), scenery.n_envs,
        )
        self._remember(scenery, tables)

    def _remember(self, scenery: Scenery, tables: LayoutTables) -> None:
        self._scenery, self._tables = weakref.ref(scenery), tables

    def tables(self, scenery: Scenery) -> LayoutTables:
        """The tables of ``scenery``: those of the last bake, or built now from its baked light."""
        if self._scenery is None or self._scenery() is not scenery:
            self._check(scenery)
            self._remember(scenery, build_tables(scenery, self.cell_size))
        return self._tables

    def _rays_of(self, cameras: list[Camera], device) -> torch.Tensor:
        """``(C, R)`` ray angles in degrees, made once per set of cameras."""
        key = (tuple(cameras), device)
        if key not in self._rays:
            self._rays[key] = ray_angles(cameras, device).contiguous()
        return self._rays[key]

    @torch.no_grad()
    def render(self, scenery: Scenery, agents: Agents, cameras: Sequence[Camera]) -> Render:
        """What every camera sees, as a :class:`Render` of ``(E, A, C, R)``."""
        cameras = check_render_arguments(scenery, agents, cameras)
        if not all(t.dtype == torch.float32 and t.is_contiguous() for t in (agents.positions, agents.angles)):
            agents = Agents(agents.positions.float().contiguous(), agents.angles.float().contiguous(),
                            agents.velocity, agents.angvelocity)
        out = empty_render(scenery.n_envs, scenery.n_agents, len(cameras), cameras[0].pixels, scenery.device)
        self.render_into(out, scenery, agents, cameras)
        return out

    @torch.no_grad()
    def render_into(self, out: Render, scenery: Scenery, agents: Agents, cameras: Sequence[Camera],
                    mask: torch.Tensor | None = None) -> None:
        """Like :meth:`render`, into the tensors of ``out`` (as :func:`empty_render` makes them).

        Every element of ``out`` is written, or with ``mask`` (``(E,)`` bool)
        only the rows of the envs where it is True, and the others keep what
        they held: the grid method lists the masked envs on the GPU and renders
        only their rays, a warp per ray (see ``render_grid_sparse``). So re-rendering the few
        envs that just reset lasts about as long as one ray's walk through the
        grid, not as long as a render of every env. The launches read
        ``agents`` and ``scenery.lines`` where they are, so a captured graph of
        this call sees them move (see :meth:`capture`).
        """
        cameras = check_render_arguments(scenery, agents, cameras)
        if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (scenery.n_envs,)
                                 or not mask.is_contiguous() or mask.device != scenery.device):
            raise ValueError(f"mask must be a contiguous ({scenery.n_envs},) bool tensor on {scenery.device}, "
                             f"got {tuple(mask.shape)} {mask.dtype} on {mask.device}")
        env_mask = np.uint64(0) if mask is None else mask  # a null pointer: every env
        tables = self.tables(scenery)
        device = scenery.device
        n_envs, n_agents = agents.angles.shape
        n_cameras, n_rays = len(cameras), cameras[0].pixels
        shape = (n_envs, n_agents, n_cameras, n_rays)
        if n_envs * n_agents * n_cameras * n_rays >= 2**31:
            raise ValueError(f"at most 2**31 - 1 rays per render, got {shape} = E x A x C x R")
        for name in ("indices", "locations", "dots", "distances", "screen"):
            tensor = getattr(out, name)
            expected = (*shape, 3) if name == "screen" else shape
            if tuple(tensor.shape) != expected or not tensor.is_contiguous() or tensor.device != device:
                raise ValueError(f"out.{name} must be a contiguous {expected} tensor on {device}")
        for tensor in (agents.positions, agents.angles):
            if tensor.dtype != torch.float32 or not tensor.is_contiguous():
                raise ValueError("agents.positions and agents.angles must be contiguous float32 tensors")
        lines = scenery.lines.vals
        bodies = self._bodies(n_envs * n_agents, device)
        if n_agents > 1:
            self.kernels["light_bodies"](
                blocks(32 * n_envs * n_agents), BLOCK, bodies, lines,
                *tables.pointers(*SHADOW_TABLES), env_mask, n_envs, n_agents, scenery.body_lines,
            )
        angles_of_rays = self._rays_of(cameras, device)
        common = (
            out.indices, out.locations, out.dots, out.distances, out.screen, agents.positions, agents.angles,
            angles_of_rays,
        )
        sizes = (n_envs, n_agents, n_cameras, n_rays, scenery.body_lines)
        grid_arguments = (
            *common, lines, scenery.textures.vals, bodies, *tables.pointers(*GRID_TABLES),
            *tables.pointers(*SHADING_TABLES),
        )
        scalars = (*sizes, float(scenery.agent_radius), float(scenery.texel_size))
        n_rays_all = out.indices.numel()
        if mask is None:
            self.kernels["render_grid"](blocks(n_rays_all), BLOCK, *grid_arguments, *scalars)
        else:
            if n_envs <= BLOCK_LISTED_ENVS:  # each block lists the masked envs
                env_list, listed_from, shared = np.uint64(0), mask, 4 * (n_envs + BLOCK)
            else:
                env_list, listed_from, shared = self._env_list(n_envs, device), np.uint64(0), 0
                self.kernels["list_envs"](blocks(n_envs), BLOCK, mask, env_list, n_envs)
            sparse = self.kernels["render_grid_sparse"]
            sparse(
                sparse_grid_blocks(sparse, n_rays_all, shared, device), BLOCK, *grid_arguments, env_list,
                listed_from, *scalars, shared_mem=shared,
            )

    def _env_list(self, n_envs: int, device) -> torch.Tensor:
        """``(2 + E,)`` int32 for ``list_envs`` and ``render_grid_sparse``: a count, env indices, and the count
        of ``render_grid_sparse``'s blocks that finished; kept between frames, both counts cleared by the last block."""
        if self._list_buffer is None or len(self._list_buffer) != 2 + n_envs or self._list_buffer.device != device:
            self._list_buffer = torch.zeros(2 + n_envs, dtype=torch.int32, device=device)
        return self._list_buffer

    def _bodies(self, n: int, device) -> torch.Tensor:
        """``(n, 4)``: each agent's body centre, bounding radius squared and light, kept between frames."""
        if self._body_buffer is None or len(self._body_buffer) != n or self._body_buffer.device != device:
            self._body_buffer = torch.zeros(n, 4, device=device)
        return self._body_buffer

    def capture(self, scenery: Scenery, agents: Agents, cameras: Sequence[Camera]) -> Callable[[], Render]:
        """Captures one render in a CUDA graph, so that small batches are not bound by launch overhead.

        :returns: a function that replays the graph and returns its
            :class:`Render`. It reads ``agents`` and ``scenery`` where they
            are now, so move agents in place (as physics and
            :func:`~megastep_core.draw_bodies` do), and it returns the *same*
            tensors each time, overwritten: clone what you keep.
        """
        cameras = check_render_arguments(scenery, agents, cameras)
        self.tables(scenery)
        out = empty_render(scenery.n_envs, scenery.n_agents, len(cameras), cameras[0].pixels, scenery.device)
        stream = torch.cuda.Stream(scenery.device)
        stream.wait_stream(torch.cuda.current_stream(scenery.device))
        with torch.cuda.stream(stream):  # warm up off the default stream, as capture needs
            self.render_into(out, scenery, agents, cameras)
        torch.cuda.current_stream(scenery.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.render_into(out, scenery, agents, cameras)

        def replay() -> Render:
            graph.replay()
            return out

        replay.graph = graph
        return replay

    def __repr__(self) -> str:
        return f"CudaRenderer(cell_size={self.cell_size}, method={self.method!r})"
