"""Running an LSTM over a rollout in one cuDNN call, with its memory cleared exactly where episodes begin.

A rollout holds ``T`` steps of ``N`` agents, and an agent's episode may end and
a new one begin anywhere inside it. Stepping the LSTM one step at a time and
clearing the memory where an episode starts is exact but costs ``T`` calls (and
their backward) per minibatch. One call over all ``T`` steps cannot clear a
memory half-way. So each column is cut where its episodes begin, into
*segments*: the first continues the memory the rollout began with, every other
starts from zero. The segments, longest first, become one
:class:`~torch.nn.utils.rnn.PackedSequence`, which cuDNN runs in one call with
an initial state per segment; the outputs are put back in ``(T, N)`` order.

Every ``(t, n)`` belongs to exactly one segment, so the packing is a
permutation of the rollout's rows, computed once on the host from the
``starts`` flags (which the learner copies there once per update, not once per
minibatch).

A CUDA graph replays fixed shapes, and a packed batch's shape follows its
episodes. So :class:`SegmentSlots` lays the segments out differently for a
captured update: each in a slot of its own, all ``T`` steps long, its steps
from row 0 on and zeros after its end, in a fixed number of slots. cuDNN then
runs ``T`` steps of every slot, wasting the rows past each segment's end (the
outputs read back skip them), and only the slots' index tensors change from one
minibatch to the next.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


def _boundaries(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the segments of ``starts`` ``(T, N)`` begin: their columns and first steps, by column then step, and
    the ``(T, N)`` flags of those beginnings (an episode's start, or step 0)."""
    boundary = starts.copy()
    boundary[0] = True
    column, first = np.nonzero(boundary.T)
    return column, first, boundary


@dataclass(frozen=True)
class Segments:
    """The episodes' segments of ``N`` sequences of ``T`` steps, packed longest first.

    :ivar steps: ``T``. :ivar columns: ``N``.
    :ivar source: ``(T * N,)`` int64, for each row of the packed data, its row ``t * N + n`` of the rollout.
    :ivar inverse: ``(T * N,)`` int64, the inverse permutation: rollout row to packed row.
    :ivar batch_sizes: ``(L,)`` int64 on the CPU, segments at least ``l + 1`` steps long, for ``l < L``
        (``L`` the longest segment), as :class:`~torch.nn.utils.rnn.PackedSequence` wants them.
    :ivar column: ``(S,)`` int64, each segment's column, in packed order.
    :ivar keep: ``(S,)`` float, 1 where the segment continues the memory given to :meth:`run` (it starts at
        step 0 with no episode beginning there), 0 where it starts from zero.
    :ivar last: ``(N,)`` int64, the packed index of each column's last segment, whose final state is the
        column's memory after step ``T - 1``.
    """

    steps: int
    columns: int
    source: torch.Tensor
    inverse: torch.Tensor
    batch_sizes: torch.Tensor
    column: torch.Tensor
    keep: torch.Tensor
    last: torch.Tensor

    @classmethod
    def of(cls, starts: torch.Tensor | np.ndarray, device=None) -> Segments:
        """The segments of ``starts``, ``(T, N)`` bool, True where an episode begins at that step.

        :param device: where the index tensors go (by default, that of ``starts``).
        """
        if device is None:
            device = starts.device if isinstance(starts, torch.Tensor) else "cpu"
        starts = starts.cpu().numpy() if isinstance(starts, torch.Tensor) else np.asarray(starts)
        steps, columns = starts.shape
        column, first, _ = _boundaries(starts)
        same_column_next = np.zeros(len(column), dtype=bool)
        same_column_next[:-1] = column[1:] == column[:-1]
        following = np.empty_like(first)
        following[:-1] = first[1:]
        lengths = np.where(same_column_next, following, steps) - first
        order = np.argsort(-lengths, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        last = np.empty(columns, dtype=np.int64)
        last[column[~same_column_next]] = rank[~same_column_next]
        lengths, first, column = lengths[order], first[order], column[order]
        keep = ~starts[first, column]  # only a segment at step 0 can continue; later ones begin an episode
        longest = int(lengths[0])
        batch_sizes = (lengths[None, :] > np.arange(longest)[:, None]).sum(1)
        rows = (first[None, :] + np.arange(longest)[:, None]) * columns + column[None, :]
        source = rows[np.arange(longest)[:, None] < lengths[None, :]]  # step-major: PackedSequence's order
        inverse = np.empty_like(source)
        inverse[source] = np.arange(len(source))
        to = lambda a, dtype=torch.int64: torch.as_tensor(a, dtype=dtype).to(device, non_blocking=True)
        return cls(steps, columns, to(source), to(inverse), torch.as_tensor(batch_sizes, dtype=torch.int64),
                   to(column), to(keep, torch.float32), to(last))

    def run(self, lstm: nn.LSTM, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
            ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``lstm`` over ``inputs`` ``(T, N, H_in)`` from ``state`` (``(h, c)``, each ``(1, N, H)``).

        :returns: outputs ``(T, N, H)``, and the memory after step ``T - 1``, ``(h, c)`` each ``(1, N, H)``.
        """
        steps, columns, width = inputs.shape
        if (steps, columns) != (self.steps, self.columns):
            raise ValueError(f"segments of {self.steps} x {self.columns} sequences cannot cut inputs of "
                             f"{steps} x {columns}")
        data = inputs.reshape(steps * columns, width).index_select(0, self.source)
        keep = self.keep.view(1, -1, 1)
        initial = tuple(s.index_select(1, self.column) * keep for s in state)
        packed, (h, c) = lstm(PackedSequence(data, self.batch_sizes), initial)
        outputs = packed.data.index_select(0, self.inverse).reshape(steps, columns, -1)
        return outputs, (h.index_select(1, self.last), c.index_select(1, self.last))


class SegmentSlots:
    """The episodes' segments of ``B`` sequences of ``T`` steps, each in one of ``S`` slots of ``T`` steps:
    :meth:`Segments.run`'s cut in a shape that does not depend on where episodes begin.

    The index tensors are allocated once and refilled by :meth:`fill`, so that a CUDA graph that read them at
    capture reads each minibatch's segments when replayed.

    :ivar steps: ``T``. :ivar columns: ``B``. :ivar slots: ``S``, at least ``B``.
    :ivar scatter: ``(T * B,)`` int64, for each row ``t * B + b``, where it lies among the slots' ``T * S`` rows.
    :ivar column: ``(S,)`` int64, each slot's column (0 in unused slots).
    :ivar keep: ``(S,)`` float, 1 where the slot continues the memory given to :meth:`run`, 0 where it starts from
        zero (and in unused slots).
    """

    def __init__(self, steps: int, columns: int, slots: int, device=None):
        if slots < columns:
            raise ValueError(f"{columns} sequences need at least {columns} slots, got {slots}")
        self.steps, self.columns, self.slots = steps, columns, slots
        self.scatter = torch.zeros(steps * columns, dtype=torch.int64, device=device)
        self.column = torch.zeros(slots, dtype=torch.int64, device=device)
        self.keep = torch.zeros(slots, device=device)

    def fill(self, starts: np.ndarray) -> bool:
        """Lays out the segments of ``starts``, ``(T, B)`` bool, True where an episode begins at that step.

        :returns: whether they fit in the slots; where they do not, the index tensors are left as they were.
        """
        steps, columns = starts.shape
        if (steps, columns) != (self.steps, self.columns):
            raise ValueError(f"slots for {self.steps} x {self.columns} sequences cannot hold starts of shape "
                             f"{starts.shape}")
        column, first, boundary = _boundaries(starts)
        if len(column) > self.slots:
            return False
        # each row's slot: the number of boundaries in the rows before it (flat, by column then step), less one
        slot_of = np.cumsum(boundary.T.reshape(-1)).reshape(columns, steps).T - 1  # (T, B)
        offset = np.arange(steps)[:, None] - first[slot_of]  # (T, B): the row's step within its segment
        scatter = offset * self.slots + slot_of
        used = np.zeros(self.slots, dtype=np.int64)
        used[:len(column)] = column
        keep = np.zeros(self.slots, dtype=np.float32)
        keep[:len(column)] = ~starts[first, column]  # only a segment at step 0 can continue
        for tensor, values in ((self.scatter, scatter.reshape(-1)), (self.column, used), (self.keep, keep)):
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(values)), non_blocking=True)
        return True

    def run(self, lstm: nn.LSTM, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
            ) -> tuple[torch.Tensor, None]:
        """``lstm`` over ``inputs`` ``(T, B, H_in)`` from ``state`` (``(h, c)``, each ``(1, B, H)``), in one call of
        a fixed shape.

        :returns: outputs ``(T, B, H)``, and None: the memory after step ``T - 1`` is not kept (a slot runs past
            its segment's end), which learning does not need.
        """
        steps, columns, width = inputs.shape
        if (steps, columns) != (self.steps, self.columns):
            raise ValueError(f"slots for {self.steps} x {self.columns} sequences cannot take inputs of "
                             f"{steps} x {columns}")
        # each row copied to its place among the slots, the rest zeros: the backward pass then gathers each row's
        # gradient from one place, where gathering the slots from the rows would add every empty place's gradient
        # into one row of zeros, all at once
        rows = inputs.reshape(steps * columns, width)
        data = rows.new_zeros(steps * self.slots, width).index_copy(0, self.scatter, rows)
        data = data.view(steps, self.slots, width)
        keep = self.keep.view(1, -1, 1)
        initial = tuple(s.index_select(1, self.column) * keep.to(s.dtype) for s in state)
        outputs, _ = lstm(data, initial)
        outputs = outputs.reshape(steps * self.slots, -1).index_select(0, self.scatter)
        return outputs.view(steps, columns, -1), None
