"""A pool of policy snapshots to play against in self-play, and how opponents are drawn from it.

Playing only against the current policy, self-play can chase its own tail:
a policy learns to beat its latest self and forgets how to beat older ones.
Drawing opponents from past snapshots as well keeps old strategies in play.
:class:`SnapshotPool` keeps up to ``capacity`` snapshots (the network's
weights, copied to the CPU, oldest dropped first) and draws an opponent: the
current policy with probability ``current_probability``, else a past snapshot,
uniformly or weighted towards the strongest by their Elo ratings
(:mod:`.ratings`).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch

from .ratings import Elo

CURRENT = "current"
"""What :meth:`SnapshotPool.sample` returns for the current policy."""

SAMPLINGS = ("uniform", "rating")


class SnapshotPool:
    """Past snapshots of a policy, named, with their ratings.

    :param capacity: snapshots kept; adding one more drops the oldest.
    :param current_probability: chance that :meth:`sample` picks the current policy.
    :param sampling: ``"uniform"`` over the snapshots, or ``"rating"``: in proportion to
        ``10 ** (rating / temperature)``, so a snapshot 400 points stronger is drawn 10 times as often at the
        default temperature.
    :param temperature: rating points per factor of 10 in the ``"rating"`` weights.
    :param seed: seeds the draws.
    :param elo: the ratings (a new :class:`~.ratings.Elo` by default); snapshots enter it when added.
    """

    def __init__(self, capacity: int = 16, current_probability: float = 0.5, sampling: str = "uniform",
                 temperature: float = 400.0, seed: int = 0, elo: Elo | None = None):
        if isinstance(capacity, bool) or int(capacity) != capacity or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        if not 0 <= current_probability <= 1:
            raise ValueError(f"current_probability must be in [0, 1], got {current_probability!r}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be positive rating points, got {temperature!r}")
        self.capacity, self.current_probability = int(capacity), float(current_probability)
        self.sampling, self.temperature = sampling, float(temperature)
        self.elo = elo if elo is not None else Elo()
        self.snapshots: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.snapshots)

    def add(self, name: str, state_dict: dict[str, Any], rating: float | None = None) -> None:
        """Keeps a copy of ``state_dict`` (on the CPU) as snapshot ``name``, entered in the ratings at ``rating``
        (default: the current policy's rating if it has one, else the initial one); drops the oldest beyond
        ``capacity``. A snapshot leaves the pool but keeps its rating."""
        if name == CURRENT or name in self.snapshots:
            raise ValueError(f"name must be new and not {CURRENT!r}, got {name!r}")
        if rating is None and CURRENT in self.elo:
            rating = self.elo[CURRENT]
        self.snapshots[name] = {key: value.detach().to("cpu", copy=True) for key, value in state_dict.items()}
        self.elo.add(name, rating)
        while len(self.snapshots) > self.capacity:
            self.snapshots.popitem(last=False)

    def weights(self) -> dict[str, float]:
        """The chance of each opponent, :data:`CURRENT` included, summing to 1."""
        names = list(self.snapshots)
        if not names:
            return {CURRENT: 1.0}
        if self.sampling == "uniform":
            shares = [1.0] * len(names)
        else:
            ratings = [self.elo[name] for name in names]
            top = max(ratings)  # subtracted so that no power overflows
            shares = [10.0 ** ((r - top) / self.temperature) for r in ratings]
        total = sum(shares)
        past = 1.0 - self.current_probability
        return {CURRENT: self.current_probability, **{n: past * s / total for n, s in zip(names, shares)}}

    def sample(self) -> str:
        """An opponent's name: :data:`CURRENT` or a snapshot's, drawn by :meth:`weights`."""
        weights = self.weights()
        names = list(weights)
        index = torch.multinomial(torch.tensor([weights[n] for n in names], dtype=torch.float64), 1,
                                  generator=self.generator)
        return names[int(index)]

    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """The weights of snapshot ``name``."""
        if name not in self.snapshots:
            raise KeyError(f"no snapshot {name!r} in the pool; it holds {list(self.snapshots)}")
        return self.snapshots[name]
