"""Explorer: one agent per home, paid for every stretch of wall it sees for the first time.

The agent glides with momentum (:class:`~megastep_envs.modules.movement.MomentumMovement`)
through a procedural home and sees colour, depth and its own motion (an IMU).
The ``new_texels`` reward pays each 5 cm texel of wall the first time it comes
into view, so the agent is paid for exploring: for going through doors into
rooms it has not seen. An episode terminates when the agent has found no new
wall for ``patience`` steps, and is truncated at its random lifespan.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from megastep_core import Camera, Geometry, Render, World
from megastep_core.kernels import IMPLEMENTATIONS, load_kernels
from megastep_core.layouts import layout_index
from megastep_geometry.env_homes import MAX_HOMES, sample_homes  # noqa: F401 (both were explorer's)

from ..modules.movement import MomentumMovement
from ..step.compiling import compilable
from ..step.env import Env
from .common import float_option, homes_unless_given, sight


class NewTexels:
    """Pays for every wall texel an agent sees for the first time in its episode.

    Each texel pays once per episode, to the first agent to see it, however many
    pixels show it. The reward of a step is the number of new texels divided by
    the pixels of the agent's image (``C * R``), so it is comparable across
    image widths. Only static walls count, not other agents' bodies.

    Options: ``scale`` (multiplies the reward, default 1); ``backend``:
    ``"torch"``, ``"cuda"`` (the fused kernel of ``tasks/new_texels.cu``,
    which pays exactly the same), or ``"auto"`` (the default: ``cuda`` where the
    world is on a GPU and CuPy can run).

    Each texel of the scenery carries a stamp: the episode of its env in which
    it was last seen. A texel is new when its stamp is not its env's current
    episode. Resetting an env then only counts its episode on, instead of
    clearing every texel it has (hundreds of millions at tens of thousands of homes).

    A step takes no sort and no host sync. A pixel showing a new texel
    claims it; the lowest claiming pixel of the env is the first to show it,
    pays, and stamps it with the episode. In torch, each claim, ``pixel - P``
    (below any episode), goes into the texel's stamp with an atomic minimum,
    and the pixel that finds its own claim there pays. A texel belongs to one
    env, so claims race only between the pixels of one env: the kernel gives
    each env one block, which settles the claims in a hash table of its own,
    in shared memory, and reads each stamp once: one launch a step.
    """

    NO_CLAIM = torch.iinfo(torch.int32).max
    SLOTS_PER_PIXEL = 2
    """The kernel's claims table has at least this many slots per pixel (a power of two in all), so that probing for
    a free slot ends quickly."""
    SHARED_CLAIMS = 2048
    """Most pixels per env whose claims the kernel settles in shared memory (at most 40 KiB: an int32 per pixel,
    and two per slot of a table of at least two slots a pixel); beyond, in global memory."""

    def __init__(self, options: Mapping[str, Any]):
        self.scale = float_option(options, "scale", 1.0)
        self.backend = options.get("backend", "auto")
        if self.backend not in IMPLEMENTATIONS:
            raise ValueError(f"reward option backend must be one of {IMPLEMENTATIONS}, got {self.backend!r}")
        self.stamps: torch.Tensor | None = None
        self._kernels: dict | None = None
        self._world = None

    def _prepare(self, world: World) -> None:
        scenery = world.scenery
        lines, textures = scenery.lines, scenery.textures
        self.line_starts = lines.starts
        # per line: its first and last texel, and texels per unit of location along it
        first = textures.starts
        self.line_texels = torch.stack([first, first + textures.widths - 1], -1)
        self.texels_along = (lines.vals[:, 1] - lines.vals[:, 0]).norm(dim=-1) / scenery.texel_size
        cumulative = torch.cat([textures.widths.new_zeros(1), textures.widths.cumsum(0)])
        self.env_texel_starts = cumulative[lines.starts]
        self.env_texel_ends = cumulative[lines.ends]
        # (E,) int64: each env's first wall texel, after its agents' bodies; and (E,) float: its wall texels
        self.env_wall_texels = cumulative[lines.starts + scenery.n_body_lines]
        self.env_texels = (self.env_texel_ends - self.env_wall_texels).float()
        # episodes start at 1 and stamps at 0, so that nothing is seen yet
        self.stamps = torch.zeros(int(textures.vals.shape[0]), dtype=torch.int32, device=world.device)
        self.episodes = torch.ones(world.n_envs, dtype=torch.int32, device=world.device)
        self._kernels = self._load_kernels(world.device)
        if self._kernels is not None:
            self._prepare_layouts(scenery, cumulative)
        self._world = world

    def _prepare_layouts(self, scenery, cumulative: torch.Tensor) -> None:
        """The kernel's per-layout wall tables, read from the first env of each layout (see ``new_texels.cu``):
        envs built from one geometry have the same walls and textures."""
        index = layout_index(scenery)
        first_envs, layouts = index.representatives.tolist(), index.env_layout.cpu()
        starts, ends = scenery.lines.starts.cpu(), scenery.lines.ends.cpu()
        cumulative, along = cumulative.cpu(), self.texels_along.cpu()
        counts, firsts, lasts, alongs = [0], [], [], []
        for env in first_envs:
            first_wall = int(starts[env]) + scenery.n_body_lines
            walls = torch.arange(first_wall, int(ends[env]))
            firsts.append(cumulative[walls] - cumulative[first_wall])  # texels before each wall, in its env
            lasts.append(cumulative[walls + 1] - cumulative[first_wall] - 1)
            alongs.append(along[walls])
            counts.append(len(walls))
        device = scenery.device
        # (E,) int32: the entry of each env's first wall in the tables below
        self.env_wall_base = torch.tensor(counts).cumsum(0)[layouts].int().to(device)
        self.wall_first = torch.cat(firsts).int().to(device)
        self.wall_last = torch.cat(lasts).int().to(device)
        self.wall_along = torch.cat(alongs).to(device)

    def _load_kernels(self, device: torch.device) -> dict | None:
        """The fused kernel, or None for the torch path, as ``backend`` and the device say."""
        too_many = len(self.stamps) >= 2**31
        backend = "torch" if too_many and self.backend == "auto" else self.backend
        if too_many and backend == "cuda":
            raise ValueError(f"reward option backend='cuda' cannot run here: the kernel indexes texels with 32-bit "
                             f"ints, and the scenery has {len(self.stamps):,}; use 'torch' or 'auto'")
        return load_kernels("megastep_envs.tasks", "new_texels.cu", ["new_texels"], device=device,
                            implementation=backend, what="reward option backend").as_dict()

    def texels(self, world: World, render: Render) -> torch.Tensor:
        """``(E, A, C, R)`` int64: the global texel each pixel shows (for a miss, one of its env's first line)."""
        index = render.indices
        line = index.clamp_min(0) + self.line_starts.view(-1, 1, 1, 1)
        span = self.line_texels[line]
        along = (render.locations * self.texels_along[line]).long()
        return torch.minimum(span[..., 0] + along, span[..., 1])

    def seen(self, e: int) -> torch.Tensor:
        """``(T_e,)`` bool: which texels of env ``e`` (all its lines', in order) were seen this episode."""
        first, last = int(self.env_texel_starts[e]), int(self.env_texel_ends[e])
        return self.stamps[first:last] == self.episodes[e]

    def reset(self, env, mask: torch.Tensor) -> None:
        if self._world is not env.world:
            self._prepare(env.world)
        self._next_episode(mask)

    @compilable
    def _next_episode(self, mask: torch.Tensor) -> None:
        # compiled, one kernel; eagerly a cast and an add, where adding the bool is one slow mixed-type kernel
        self.episodes.add_(mask.int())

    def __call__(self, env, render: Render) -> torch.Tensor:
        world = env.world
        if self._world is not world:
            self._prepare(world)
        if self._kernels is not None:
            return self._reward_cuda(world, render)
        n_envs, n_agents, cameras, rays = render.indices.shape
        paid = self._paid_torch(world, render)
        reward = paid.view(n_envs, n_agents, cameras * rays).sum(-1, dtype=torch.float32)
        return reward.mul_(self.scale / (cameras * rays))

    def _paid_torch(self, world: World, render: Render) -> torch.Tensor:
        """``(E, P)`` bool: the pixels that pay, stamping what they show. The reference."""
        n_envs = render.indices.shape[0]
        texel = self.texels(world, render).view(n_envs, -1)
        pixels = texel.shape[1]
        wall = (render.indices >= world.scenery.n_body_lines).view(n_envs, pixels)
        episode = self.episodes[:, None]
        stamp = self.stamps[texel]
        fresh = wall & (stamp != episode)
        rank = torch.arange(pixels, dtype=torch.int32, device=world.device) - pixels
        claim = torch.where(fresh, rank, self.NO_CLAIM)
        self.stamps.scatter_reduce_(0, texel.view(-1), claim.view(-1), "amin")
        paid = fresh & (self.stamps[texel] == claim)
        # bodies' texels (and the texel a miss points at) keep their stamps
        self.stamps.index_copy_(0, texel.view(-1), torch.where(wall, episode, stamp).view(-1))
        return paid

    def _reward_cuda(self, world: World, render: Render) -> torch.Tensor:
        """``(E, A)`` float32: the reward, as :meth:`__call__` makes it from :meth:`_paid_torch`, in one launch."""
        n_envs, n_agents, cameras, rays = render.indices.shape
        pixels = n_agents * cameras * rays
        reward = torch.empty(n_envs, n_agents, dtype=torch.float32, device=world.device)
        # 64 threads of 4 pixels at a time (ROUND) cover Explorer's 256 pixels in one round, and fill an SM with
        # 32 blocks
        threads, slots = 64, 1 << (self.SLOTS_PER_PIXEL * pixels - 1).bit_length()
        # the table in shared memory, unless an env has too many pixels for it
        in_shared = pixels <= self.SHARED_CLAIMS
        scratch = (np.uint64(0) if in_shared
                   else torch.empty(n_envs * (pixels + 2 * slots), dtype=torch.int32, device=world.device))
        self._kernels["new_texels"](
            n_envs, threads, render.indices, render.locations, self.env_wall_base, self.env_wall_texels,
            self.wall_first, self.wall_last, self.wall_along, self.episodes, self.stamps, scratch,
            reward, n_agents, cameras * rays, world.scenery.n_body_lines, slots,
            self.scale / (cameras * rays), shared_mem=4 * (n_agents + (pixels + 2 * slots if in_shared else 0)),
        )
        return reward


class Explorer(Env):
    """One agent per procedural home, paid for seeing new wall.

    Observations: ``rgb`` ``(E, 1, 3, W)``, ``depth`` ``(E, 1, W)``, ``imu`` ``(E, 3)``.
    Actions ``(E,)``: :data:`~megastep_envs.modules.movement.ACTIONS`. Reward ``(E,)``.

    :param n_envs: ``E``.
    :param geometries: layouts, repeated in turn; procedural homes by default.
    :param split: which homes (``"training"`` or ``"test"``) when ``geometries`` is None.
    :param patience: steps without new wall after which the episode terminates.
    :param pixels: rays per camera (observations have ``pixels / subsample``).
    :param fov: degrees.
    :param max_depth: metres where depth reads 0.
    :param options: anything :class:`~megastep_envs.step.env.Env` takes.
    """

    name = "explorer"

    def __init__(
        self,
        n_envs: int = 64,
        *,
        geometries: Sequence[Geometry] | None = None, split: str = "training",
        patience: int = 200,
        pixels: int = 256, fov: float = 130.0, subsample: int = 4, max_depth: float = 10.0,
        **options,
    ):
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise ValueError(f"patience must be a positive number of steps, got {patience!r}")
        options.setdefault("reward", "new_texels")
        options.setdefault("lifespan", (768, 1280))
        geometries = homes_unless_given(geometries, n_envs, split, options)
        super().__init__(geometries, n_envs, cameras=[Camera(pixels, fov)], **options)
        self.patience = int(patience)
        # steps since the agent last earned anything, across episodes: the episode's own length bounds it
        self.unpaid = torch.zeros(self.n_envs, dtype=torch.int64, device=self.device)
        self.movement = MomentumMovement(self.world)
        self.observations = sight(self.world, subsample, max_depth)

    @compilable
    def update(self, render: Render, reward: torch.Tensor) -> torch.Tensor:
        """Terminates the episodes of ``patience`` steps without earning anything.

        Those are counted from the later of the agent's last earnings and its episode's start. The latter
        is the episode's length, which the env restarts itself: so there is nothing to reset, and no
        ``reset_task`` kernel on a step's chain.
        """
        self.unpaid.add_(1).masked_fill_(reward[:, 0] > 0, 0)  # one agent per env: no sum to launch
        return self.stale() >= self.patience

    def stale(self, steps_counted: int = 1) -> torch.Tensor:
        """``(E,)`` int64: steps this episode since the agent last earned anything, ``steps_counted`` of them
        (the step being taken: 1 in an update, 0 after it) not yet in the episode's length."""
        return torch.minimum(self.unpaid, self.lengths + steps_counted)

    def task_state(self, e: int) -> dict[str, Any]:
        """``stale`` steps, and ``seen`` ``(N, 2)``: the centres of the wall texels seen this episode (metres)."""
        state: dict[str, Any] = {"stale": int(self.stale(0)[e])}
        if isinstance(self.reward, NewTexels) and self.reward.stamps is not None:
            state["seen"] = seen_texel_centres(self.world, self.reward, e)
        return state


def seen_texel_centres(world, reward: NewTexels, e: int) -> np.ndarray:
    """``(N, 2)`` metres: the centre of every wall texel of env ``e`` that ``reward`` has marked seen."""
    scenery = world.scenery
    first, last = int(scenery.lines.starts[e]), int(scenery.lines.ends[e])
    lines = scenery.lines.vals[first:last].cpu()
    widths = scenery.textures.widths[first:last].cpu()
    seen = reward.seen(e).cpu()
    line = torch.repeat_interleave(torch.arange(len(widths)), widths)
    local = torch.arange(len(line)) - (widths.cumsum(0) - widths)[line]
    direction = lines[:, 1] - lines[:, 0]
    length = direction.norm(dim=-1, keepdim=True)
    along = ((local + 0.5) * scenery.texel_size).clamp(max=length[line, 0])
    centres = lines[line, 0] + along[:, None] * (direction / length)[line]
    return centres[seen].numpy()
