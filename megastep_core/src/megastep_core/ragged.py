"""Ragged arrays: a batch of variable-length lists packed into one tensor.

Every env has its own number of walls, lights and texels. Rather than pad them
to the longest, megastep packs them end to end in one tensor ``vals`` and keeps
``widths``, the length of each list. A kernel then finds list ``b`` at
``vals[starts[b]:ends[b]]`` and the list that element ``i`` belongs to at
``inverse[i]``.
"""
from __future__ import annotations

import copy

import attrs
import torch


def _as_widths(widths) -> torch.Tensor:
    widths = torch.as_tensor(widths)
    if widths.ndim != 1:
        raise ValueError(f"Ragged widths must be 1D, got shape {tuple(widths.shape)}")
    if widths.dtype.is_floating_point or widths.dtype == torch.bool:
        raise ValueError(f"Ragged widths must be integers, got {widths.dtype}")
    return widths.long()


@attrs.define(eq=False)
class Ragged:
    """A batch of ``B`` lists, packed end to end.

    :ivar vals: ``(N, ...)`` the elements of every list, list 0 first.
    :ivar widths: ``(B,)`` int64, the length of each list; ``widths.sum() == N``.
    """

    vals: torch.Tensor
    widths: torch.Tensor = attrs.field(converter=_as_widths)
    _starts: torch.Tensor | None = attrs.field(init=False, default=None, repr=False)
    _inverse: torch.Tensor | None = attrs.field(init=False, default=None, repr=False)

    def __attrs_post_init__(self):
        self.widths = self.widths.to(self.vals.device)
        if len(self.widths) and int(self.widths.min()) < 0:
            raise ValueError("Ragged widths must be non-negative")
        total = int(self.widths.sum())
        if total != self.vals.shape[0]:
            raise ValueError(
                f"Ragged widths sum to {total} but vals has {self.vals.shape[0]} rows"
            )

    # starts, ends and inverse are computed on first use: a texture Ragged has
    # hundreds of millions of texels, and an eager int64 ``inverse`` would cost
    # gigabytes that most code never reads.
    @property
    def ends(self) -> torch.Tensor:
        """``(B,)`` int64, one past the last element of each list."""
        return self.starts + self.widths

    @property
    def starts(self) -> torch.Tensor:
        """``(B,)`` int64, the first element of each list."""
        if self._starts is None:
            self._starts = self.widths.cumsum(0) - self.widths
        return self._starts

    @property
    def inverse(self) -> torch.Tensor:
        """``(N,)`` int64, the list each element belongs to."""
        if self._inverse is None:
            batch = torch.arange(len(self.widths), device=self.vals.device)
            self._inverse = torch.repeat_interleave(batch, self.widths, output_size=self.vals.shape[0])
        return self._inverse

    @classmethod
    def from_lists(cls, lists, dtype=None, device=None) -> Ragged:
        """Packs a sequence of tensors (or arrays) whose first dimensions differ."""
        tensors = [torch.as_tensor(x, dtype=dtype, device=device) for x in lists]
        if not tensors:
            raise ValueError("Ragged.from_lists needs at least one list")
        widths = [t.shape[0] for t in tensors]
        return cls(torch.cat(tensors), torch.tensor(widths, device=tensors[0].device))

    @property
    def batch_size(self) -> int:
        return len(self.widths)

    @property
    def local(self) -> torch.Tensor:
        """``(N,)`` each element's index within its own list."""
        return torch.arange(len(self.inverse), device=self.vals.device) - self.starts[self.inverse]

    def __len__(self) -> int:
        return len(self.widths)

    def __getitem__(self, index):
        """``ragged[b]`` is list ``b`` as a tensor; ``ragged[i:j]`` is a Ragged of lists i to j."""
        if isinstance(index, slice):
            first, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("Ragged slices must have step 1")
            stop = max(stop, first)
            start = int(self.starts[first]) if first < len(self) else int(self.vals.shape[0])
            end = int(self.ends[stop - 1]) if stop > first else start
            return Ragged(self.vals[start:end], self.widths[first:stop])
        if isinstance(index, (int, torch.SymInt)) or (torch.is_tensor(index) and index.ndim == 0):
            index = int(index)
            if not -len(self) <= index < len(self):
                raise IndexError(f"list {index} out of range for a Ragged of {len(self)} lists")
            index %= len(self)
            return self.vals[int(self.starts[index]) : int(self.ends[index])]
        raise TypeError(f"Ragged indices must be ints or slices, not {type(index).__name__}")

    def to(self, device) -> Ragged:
        return Ragged(self.vals.to(device), self.widths.to(device))

    def clone(self) -> Ragged:
        return Ragged(self.vals.clone(), self.widths.clone())

    def with_vals(self, vals: torch.Tensor) -> Ragged:
        """A Ragged of the same widths whose elements are ``vals``, sharing cached indices."""
        if vals.shape[0] != self.vals.shape[0]:
            raise ValueError(f"expected {self.vals.shape[0]} rows, got {vals.shape[0]}")
        new = copy.copy(self)
        new.vals = vals
        return new

    def __repr__(self) -> str:
        shape, dtype, device = tuple(self.vals.shape), self.vals.dtype, self.vals.device
        return f"Ragged(lists={len(self)}, vals={shape}, dtype={dtype}, device={device})"
