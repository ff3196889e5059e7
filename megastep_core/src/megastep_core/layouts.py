"""Envs that share a layout, and the layouts file format.

**The layout index.** Envs built from the same geometry object share a layout
(equal ``scenery.geometry_ids``): equal static walls, lights, textures and
baked light. The physics stores walls once per layout, the renderers bake once
per layout and read one *representative* env per layout, and spawners draw
points once per layout. :func:`layout_index` is that grouping, computed once
per scenery and shared by all of them.

**The layouts file.** A numpy ``.npz`` of many geometries; every array is
float32 or integer, so files load with ``allow_pickle=False``:

``walls (W, 2, 2)`` metres, every layout's walls one after another;
``wall_counts (N,)`` walls per layout; ``lights (K, 3)`` ``(x, y, intensity)``;
``light_counts (N,)``; optionally ``spawns (N, S, 2)`` metres, safe spawn points.

Files that ``megastep_geometry.layouts.save_layouts`` writes also hold each
layout's occupancy mask (``mask_bits``, ``mask_shapes (N, 2)``, ``origins (N,
2)``, ``resolutions (N,)``) and ``names (N,)``. :func:`read_layouts` is the one
reader of the format; ``megastep_geometry.layouts.load_layouts`` builds
validated geometries from it, rasterising masks where a file has none.
"""
from __future__ import annotations

import weakref
import zipfile
from pathlib import Path

import attrs
import numpy as np
import torch

from .errors import GeometryError
from .geometry import Geometry
from .state import Scenery


@attrs.define(eq=False)
class LayoutIndex:
    """How the ``E`` envs of one scenery map onto their ``G`` distinct layouts.

    :ivar env_layout: ``(E,)`` int64, each env's layout in ``[0, G)``, numbered in the order of their ``geometry_ids``.
    :ivar representatives: ``(G,)`` int64, the first env of each layout.
    :ivar env_order: ``(E,)`` int64, the envs sorted by layout (stably): kernels that walk envs in this order
        have the threads of a warp read the same walls at the same time.
    :ivar line_starts: ``(E,)`` int64, each env's first line in ``scenery.lines.vals``.
    :ivar env_texel_starts: ``(E,)`` int64, each env's first texel in ``scenery.textures.vals``.
    """

    env_layout: torch.Tensor
    representatives: torch.Tensor
    env_order: torch.Tensor
    line_starts: torch.Tensor
    env_texel_starts: torch.Tensor

    @property
    def n_layouts(self) -> int:
        return len(self.representatives)


def _fingerprint(scenery: Scenery) -> tuple:
    return (scenery.geometry_ids.data_ptr(), scenery.lines.widths.data_ptr(), scenery.textures.widths.data_ptr(),
            tuple(scenery.geometry_ids.shape))


_indices: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def layout_index(scenery: Scenery) -> LayoutIndex:
    """Groups the envs of ``scenery`` by ``geometry_ids``; cached per scenery while its tensors stay the same.

    Synchronises the device once (to count the layouts): call it when a backend first meets a scenery, not in
    a step.
    """
    key = _fingerprint(scenery)
    found = _indices.get(scenery)
    if found is not None and found[0] == key:
        return found[1]
    ids = scenery.geometry_ids
    if ids.shape != (scenery.n_envs,):
        raise ValueError(f"scenery.geometry_ids must have shape ({scenery.n_envs},), got {tuple(ids.shape)}")
    _, env_layout = torch.unique(ids, return_inverse=True)
    n_layouts = int(env_layout.max()) + 1
    envs = torch.arange(len(ids), device=ids.device)
    representatives = torch.full((n_layouts,), len(ids), dtype=torch.int64, device=ids.device)
    representatives.scatter_reduce_(0, env_layout, envs, reduce="amin")
    line_starts = scenery.lines.widths.cumsum(0) - scenery.lines.widths
    # texel starts of the envs' first lines only: a cumsum over every line's texel count is a temporary,
    # not a cached (sum L_e,) index
    texel_widths = scenery.textures.widths
    line_texel_starts = texel_widths.cumsum(0) - texel_widths
    env_texel_starts = line_texel_starts[line_starts.clamp(max=max(len(texel_widths) - 1, 0))]
    index = LayoutIndex(env_layout, representatives, torch.argsort(env_layout, stable=True), line_starts,
                        env_texel_starts)
    _indices[scenery] = (key, index)
    return index


REQUIRED = ("walls", "wall_counts", "lights", "light_counts")
"""The arrays every layouts file holds."""


@attrs.define(eq=False)
class Layouts:
    """The contents of a layouts file, split per layout.

    :ivar walls: ``N`` arrays ``(W_i, 2, 2)`` metres.
    :ivar lights: ``N`` arrays ``(K_i, 3)``.
    :ivar spawns: ``(N, S, 2)`` metres, or None where the file has none.
    :ivar names: ``N`` names, from the file or made from its name.
    :ivar masks: ``N`` occupancy masks ``(H_i, W_i)`` bool, or None where the file has none.
    :ivar origins: ``(N, 2)`` metres, the masks' corners, or None.
    :ivar resolutions: ``(N,)`` metres per mask cell, or None.
    """

    walls: list[np.ndarray]
    lights: list[np.ndarray]
    spawns: np.ndarray | None
    names: list[str]
    masks: list[np.ndarray] | None = None
    origins: np.ndarray | None = None
    resolutions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.walls)

    def geometries(self) -> list[Geometry]:
        """One :class:`Geometry` per layout; a file without masks gets a trivial one-cell mask, which the physics
        and renderers never read (``megastep_geometry.layouts.load_layouts`` rasterises real ones)."""
        out = []
        for i in range(len(self)):
            grid = dict(mask=np.ones((1, 1), bool), resolution=1.0) if self.masks is None else dict(
                mask=self.masks[i], resolution=float(self.resolutions[i]), origin=self.origins[i])
            out.append(Geometry(walls=self.walls[i], lights=self.lights[i], **grid, name=self.names[i],
                                spawns=None if self.spawns is None else self.spawns[i]))
        return out


def _split(values: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """``values`` cut into ``len(counts)`` runs of ``counts`` rows (none for no counts, where ``np.split`` gives
    one)."""
    return np.split(values, np.cumsum(counts)[:-1]) if len(counts) else []


def read_layouts(path) -> Layouts:
    """Reads a layouts file, checking its arrays agree.

    :raises GeometryError: naming the file when it is not a layouts file.
    :raises FileNotFoundError: when there is no file.
    """
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # numpy would take it for a pickle, and say so
        with open(path, "rb") as file:
            start = file.read(16)
        raise GeometryError(f"{path}: not a layouts file: a layouts file is a .npz (zip) archive, as "
                            f"`megastep homes` and `megastep import cubicasa` write, and this one starts {start!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except Exception as error:
        raise GeometryError(f"{path}: not a readable layouts .npz file ({type(error).__name__}: {error})") from error
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise GeometryError(f"{path}: not a layouts file, it lacks the arrays {missing}")
    wall_counts, light_counts = arrays["wall_counts"].astype(np.int64), arrays["light_counts"].astype(np.int64)
    n = len(wall_counts)
    negative = wall_counts.min(initial=0) < 0 or light_counts.min(initial=0) < 0
    if wall_counts.ndim != 1 or light_counts.shape != (n,) or negative:
        raise GeometryError(f"{path}: wall_counts and light_counts must be (N,) non-negative counts of one length")
    if wall_counts.sum() != len(arrays["walls"]) or light_counts.sum() != len(arrays["lights"]):
        raise GeometryError(
            f"{path}: wall_counts sum to {wall_counts.sum()} for {len(arrays['walls'])} walls, "
            f"light_counts to {light_counts.sum()} for {len(arrays['lights'])} lights"
        )
    spawns = arrays.get("spawns")
    if spawns is not None and (spawns.ndim != 3 or spawns.shape[0] != n or spawns.shape[2] != 2):
        raise GeometryError(f"{path}: spawns must have shape (N, S, 2) with N = {n}, got {spawns.shape}")
    layouts = Layouts(
        walls=_split(arrays["walls"].reshape(-1, 2, 2), wall_counts),
        lights=_split(arrays["lights"].reshape(-1, 3), light_counts),
        spawns=spawns,
        names=[str(name) for name in arrays["names"].tolist()] if "names" in arrays
        else [f"{path.name}[{i}]" for i in range(n)],
    )
    if "mask_bits" in arrays:
        shapes = arrays["mask_shapes"].astype(np.int64)
        sizes = shapes.prod(1)
        bits = np.unpackbits(arrays["mask_bits"], count=int(sizes.sum())).astype(bool)
        layouts.masks = [m.reshape(s) for m, s in zip(_split(bits, sizes), shapes)]
        layouts.origins, layouts.resolutions = arrays["origins"], arrays["resolutions"]
    return layouts
