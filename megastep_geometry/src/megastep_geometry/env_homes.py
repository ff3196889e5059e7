"""The homes an env is built in when it is given none: a split's procedural homes, as many as there are envs up
to :data:`MAX_HOMES` or the split's size (larger batches repeat them in turn)."""
from __future__ import annotations

from megastep_core import Geometry

MAX_HOMES = 1024
"""Distinct homes built by default; larger batches repeat them in turn."""


def sample_homes(n_envs: int, split: str, seed: int) -> list[Geometry]:
    """``min(n_envs, MAX_HOMES, homes in the split)`` procedural homes of a split (``"training"``, ``"test"`` or
    ``"all"``), drawn from ``seed``: more envs than that repeat them (the test split holds 500)."""
    from . import homes

    if isinstance(n_envs, bool) or int(n_envs) != n_envs or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    return homes.sample(min(int(n_envs), MAX_HOMES, len(homes.split_indices(split))), split=split, seed=seed)
