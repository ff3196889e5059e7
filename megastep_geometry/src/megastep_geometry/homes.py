"""Thousands of procedural homes, generated once and cached on disk.

Each seed names a pool of :data:`POOL_SIZE` homes, home ``i`` being
:func:`megastep_geometry.floorplans.generate` ``(seed, i)``. The split is fixed:
every tenth home (``i % 10 == 9``) is a test home, the rest are training
homes. :func:`sample` returns the first ``n`` homes of a split, so the same
arguments always give the same homes and a larger ``n`` only adds homes.

Homes are generated in chunks of :data:`CHUNK` and each chunk is cached as one
``.npz`` file under :func:`cache_dir`. A chunk file records a fingerprint of
the generator's source code and a checksum of its arrays; a file that does not
load, whose checksum does not match (corrupt) or whose fingerprint differs
(written by another version of the generator: stale) is regenerated and
rewritten, never used.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from megastep_core import Geometry

from . import floorplans, masks, walls
from .masks import DEFAULT_RESOLUTION

POOL_SIZE = 5000
"""Homes per seed."""

CHUNK = 100
"""Homes per cache file."""

TEST_EVERY = 10
"""Home ``i`` is a test home when ``i % TEST_EVERY == TEST_EVERY - 1``: a 90/10 split."""

SPLITS = ("training", "test", "all")

_ARRAYS = ("walls", "wall_counts", "lights", "light_counts", "mask_bits", "mask_shapes", "origins")


def _fingerprint(resolution: float) -> str:
    """Changes whenever the code that draws homes changes, so old cache files read as stale."""
    digest = hashlib.sha256(f"resolution={resolution!r};".encode())
    for module in (floorplans, masks, walls):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def cache_dir(path=None) -> Path:
    """Where homes are cached: ``path`` if given, else ``$MEGASTEP_CACHE``, else
    ``$XDG_CACHE_HOME/megastep``, else ``~/.cache/megastep``; each with ``homes/`` appended."""
    if path is None:
        path = os.environ.get("MEGASTEP_CACHE") or Path(
            os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        ) / "megastep"
    return Path(path).expanduser() / "homes"


def split_indices(split: str = "training", pool_size: int = POOL_SIZE) -> np.ndarray:
    """``(N,)`` int64: the indices of a split's homes in the pool, ascending."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    indices = np.arange(pool_size)
    test = indices % TEST_EVERY == TEST_EVERY - 1
    return {"training": indices[~test], "test": indices[test], "all": indices}[split]


def _checksum(arrays: dict) -> str:
    digest = hashlib.sha256()
    for key in _ARRAYS:
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def _generate_chunk(seed: int, chunk: int, resolution: float) -> dict:
    """The arrays of one cache file: homes ``chunk * CHUNK`` up to ``(chunk + 1) * CHUNK``."""
    geometries = [floorplans.generate(seed, i, resolution).geometry for i in range(chunk * CHUNK, (chunk + 1) * CHUNK)]
    return dict(
        walls=np.concatenate([g.walls for g in geometries]),
        wall_counts=np.array([len(g.walls) for g in geometries], np.int64),
        lights=np.concatenate([g.lights for g in geometries]),
        light_counts=np.array([len(g.lights) for g in geometries], np.int64),
        mask_bits=np.packbits(np.concatenate([g.mask.ravel() for g in geometries])),
        mask_shapes=np.array([g.mask.shape for g in geometries], np.int64),
        origins=np.stack([g.origin for g in geometries]),
    )


def _chunk_path(directory: Path, seed: int, chunk: int) -> Path:
    return directory / f"seed{seed}" / f"chunk{chunk:04d}.npz"


def _read_chunk(path: Path, fingerprint: str) -> dict | None:
    """The arrays of a cache file, or ``None`` (with a warning saying why) when it must be rebuilt."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        problem = None
        if str(arrays.get("fingerprint")) != fingerprint:
            problem = "stale: written by another version of the home generator"
        elif str(arrays.get("checksum")) != _checksum(arrays):
            problem = "corrupt: its checksum does not match its contents"
    except Exception as error:
        problem = f"unreadable ({type(error).__name__}: {error})"
    if problem is None:
        return arrays
    warnings.warn(f"rebuilding the cached homes {path}, which are {problem}", stacklevel=4)
    return None


def _write_chunk(path: Path, arrays: dict, fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.savez(file, **arrays, fingerprint=np.array(fingerprint), checksum=np.array(_checksum(arrays)))
    os.replace(temporary, path)  # atomic: readers see the old file or the new one, never half of one


def _chunks(seed: int, chunks: list[int], directory: Path, resolution: float, workers: int) -> dict[int, dict]:
    fingerprint = _fingerprint(resolution)
    found = {}
    for c in chunks:  # a loop, not a comprehension, so that warnings point at the caller of sample()
        found[c] = _read_chunk(_chunk_path(directory, seed, c), fingerprint)
    missing = [c for c, arrays in found.items() if arrays is None]
    if len(missing) > 1 and workers > 1:
        # fresh interpreters, not forks: forking a process whose torch thread pools are running can hang
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(missing)), mp_context=spawn) as pool:
            made = pool.map(_generate_chunk, [seed] * len(missing), missing, [resolution] * len(missing))
            found.update(zip(missing, made))
    else:
        found.update((c, _generate_chunk(seed, c, resolution)) for c in missing)
    for c in missing:
        _write_chunk(_chunk_path(directory, seed, c), found[c], fingerprint)
    return found


def _unpack(arrays: dict, offsets: np.ndarray, seed: int, first: int, resolution: float) -> list[Geometry]:
    wall_starts = np.cumsum(arrays["wall_counts"]) - arrays["wall_counts"]
    light_starts = np.cumsum(arrays["light_counts"]) - arrays["light_counts"]
    sizes = arrays["mask_shapes"].prod(1)
    bit_starts = np.cumsum(sizes) - sizes
    out = []
    for k in offsets:
        w0, l0, b0 = wall_starts[k], light_starts[k], bit_starts[k]
        # each mask's bits start mid-byte in general: unpack from the enclosing bytes and shift
        shift = b0 % 8
        bits = np.unpackbits(arrays["mask_bits"][b0 // 8 : (b0 + sizes[k] + 7) // 8 + 1])[shift : shift + sizes[k]]
        out.append(Geometry(
            walls=arrays["walls"][w0 : w0 + arrays["wall_counts"][k]],
            lights=arrays["lights"][l0 : l0 + arrays["light_counts"][k]],
            mask=bits.view(bool).reshape(arrays["mask_shapes"][k]),
            resolution=resolution,
            origin=arrays["origins"][k],
            name=f"home(seed={seed}, index={first + k})",
        ))
    return out


def sample(
    n: int, split: str = "training", seed: int = 0, cache=None, workers: int = 1,
    resolution: float = DEFAULT_RESOLUTION,
) -> list[Geometry]:
    """The first ``n`` homes of a split of the pool of ``seed``: distinct, and the same for the same arguments.

    :param n: how many homes; at most 4,500 training, 500 test or 5,000 in all.
    :param split: ``"training"``, ``"test"`` or ``"all"``.
    :param seed: which pool.
    :param cache: the cache folder (see :func:`cache_dir`).
    :param workers: processes that generate missing chunks at once. More than one starts fresh
        interpreters, which import your ``__main__`` module: call from under ``if __name__ == "__main__":``.
    :param resolution: metres per mask cell.
    :returns: ``n`` validated geometries named ``home(seed=S, index=I)``.
    """
    indices = split_indices(split)
    if int(n) != n or not 1 <= n <= len(indices):
        raise ValueError(f"n must be an integer from 1 to {len(indices)} for the {split!r} split, got {n}")
    indices = indices[: int(n)]
    chunks = sorted(set((indices // CHUNK).tolist()))
    if int(workers) < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    found = _chunks(int(seed), chunks, cache_dir(cache), float(resolution), int(workers))
    homes = []
    for c in chunks:
        mine = indices[indices // CHUNK == c]
        homes += _unpack(found[c], mine - c * CHUNK, int(seed), c * CHUNK, float(resolution))
    return homes
