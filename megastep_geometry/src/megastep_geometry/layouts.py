"""Reading and writing the layouts file format, a numpy ``.npz`` of many geometries.

The format is the one of the benchmark's ``layouts.npz``; every array is
float32 or integer, so files load with ``allow_pickle=False``:

``walls (W, 2, 2)`` metres, every geometry's walls one after another;
``wall_counts (N,)`` walls per geometry; ``lights (K, 3)`` ``(x, y, intensity)``;
``light_counts (N,)``; ``spawns (N, 256, 2)`` metres, safe spawn points.

Files written here also hold each geometry's occupancy mask, so that loading
them needs no rasterising: ``mask_bits`` (packed bits of every mask, one
after another), ``mask_shapes (N, 2)``, ``origins (N, 2)``, ``resolutions (N,)``
and ``names (N,)`` (unicode). Files without them (the benchmark's) get masks
computed from their walls with :func:`megastep_geometry.masks.free_mask`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from megastep_core import Geometry, GeometryError
from megastep_core.layouts import read_layouts

from .masks import DEFAULT_RESOLUTION, free_mask
from .spawners import safe_points

SPAWNS_PER_GEOMETRY = 256
"""Spawn points stored per geometry."""

SPAWN_CLEARANCE = 0.106 + 0.05
"""Metres from every wall to a stored spawn point: the default agent radius plus a margin."""

def load_layouts(path, resolution: float = DEFAULT_RESOLUTION) -> list[Geometry]:
    """Reads every geometry of a layouts file (:func:`megastep_core.layouts.read_layouts`), validated, with
    masks rasterised from the walls where the file holds none.

    :param path: a ``.npz`` file in the layouts format.
    :param resolution: metres per mask cell, for files that hold no masks.
    :raises GeometryError: naming the file when it is not a layouts file, or a
        geometry in it when that geometry is invalid.
    """
    layouts = read_layouts(path)
    if layouts.masks is None:
        masks, origins = [], []
        for walls, lights, name in zip(layouts.walls, layouts.lights, layouts.names):
            # check the walls and lights before rasterising them: NaN walls have no grid
            Geometry(walls, lights, np.ones((1, 1), bool), resolution, name=name).validate()
            mask, origin = free_mask(walls, resolution)
            masks.append(mask)
            origins.append(origin)
        layouts.masks, layouts.origins = masks, np.asarray(origins, dtype=np.float64).reshape(-1, 2)
        layouts.resolutions = np.full(len(layouts), resolution)
    return [geometry.validate() for geometry in layouts.geometries()]


def spawn_points(geometry: Geometry, count: int = SPAWNS_PER_GEOMETRY, seed: int = 0) -> np.ndarray:
    """``(count, 2)`` float32 metres: spawn points of a geometry at least :data:`SPAWN_CLEARANCE`
    from every wall, drawn without replacement where it has that many.

    They are drawn from the geometry's own ``spawns`` where it has them, else from its free cells.
    """
    points = safe_points(geometry, SPAWN_CLEARANCE)
    if len(points) == 0:
        raise GeometryError(f"geometry {geometry.name!r}: no free cell is {SPAWN_CLEARANCE:.3f} m from every wall")
    rng = np.random.default_rng(seed)
    return points[rng.choice(len(points), count, replace=len(points) < count)].astype(np.float32)


def save_layouts(path, geometries: Sequence[Geometry]) -> Path:
    """Writes geometries to a layouts file, masks included; ``load_layouts`` reads them back.

    The file is written to a temporary name and then renamed, so a crash never
    leaves half a file under ``path``.

    :returns: the path written.
    """
    path = Path(path)
    geometries = list(geometries)
    if not geometries:
        raise ValueError("save_layouts needs at least one geometry")
    for geometry in geometries:
        geometry.validate()
    masks = [g.mask for g in geometries]
    arrays = dict(
        walls=np.concatenate([g.walls for g in geometries]).astype(np.float32),
        wall_counts=np.array([len(g.walls) for g in geometries], np.int32),
        lights=np.concatenate([g.lights for g in geometries]).astype(np.float32),
        light_counts=np.array([len(g.lights) for g in geometries], np.int32),
        spawns=np.stack([spawn_points(g) for g in geometries]),
        mask_bits=np.packbits(np.concatenate([m.ravel() for m in masks])),
        mask_shapes=np.array([m.shape for m in masks], np.int64),
        origins=np.stack([g.origin for g in geometries]).astype(np.float32),
        resolutions=np.array([g.resolution for g in geometries], np.float32),
        names=np.array([g.name for g in geometries], dtype=str),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.savez_compressed(file, **arrays)
    os.replace(temporary, path)
    return path
