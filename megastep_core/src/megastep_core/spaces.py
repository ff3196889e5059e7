"""Observation and action spaces: shapes and ranges of batched tensors.

Shapes here are *per agent*; an env's tensors add the ``(E, A)`` batch
dimensions in front (``(E,)`` for single-agent envs that say so). The
Gymnasium and TorchRL adapters translate these to their libraries' spaces.
"""
from __future__ import annotations

import attrs
import torch


@attrs.define(frozen=True)
class Box:
    """Real values in ``[low, high]`` of a fixed shape.

    :ivar shape: per-agent shape, e.g. ``(C, 3, W)`` for an RGB strip.
    :ivar low: lowest value (a scalar bound for every element).
    :ivar high: highest value.
    """

    shape: tuple[int, ...] = attrs.field(converter=tuple)
    low: float = -float("inf")
    high: float = float("inf")
    dtype: torch.dtype = torch.float32

    def sample(self, batch: tuple[int, ...], device="cpu", generator=None) -> torch.Tensor:
        low = max(self.low, -1.0)
        high = min(self.high, 1.0)
        u = torch.rand(*batch, *self.shape, device=device, generator=generator)
        return (low + (high - low) * u).to(self.dtype)


@attrs.define(frozen=True)
class Discrete:
    """One integer in ``[0, n)`` per agent: the index of a discrete action."""

    n: int
    shape: tuple[int, ...] = ()
    dtype: torch.dtype = torch.int64

    def sample(self, batch: tuple[int, ...], device="cpu", generator=None) -> torch.Tensor:
        return torch.randint(self.n, batch, device=device, generator=generator)


@attrs.define(frozen=True)
class Dict:
    """A dictionary of named spaces, like an observation of ``rgb``, ``depth`` and ``imu``."""

    spaces: dict = attrs.field(converter=dict)

    def __getitem__(self, key):
        return self.spaces[key]

    def keys(self):
        return self.spaces.keys()

    def items(self):
        return self.spaces.items()

    def sample(self, batch: tuple[int, ...], device="cpu", generator=None) -> dict:
        return {k: s.sample(batch, device, generator) for k, s in self.spaces.items()}
