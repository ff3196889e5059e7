"""PPO's minibatch step replayed from a CUDA graph: the network's forward and backward, the clipping and Adam.

Eagerly, a minibatch step is a few hundred kernels, each launched from Python;
at the sizes that learn best (minibatches of about 16 k samples) each has
little to do, so launching them one by one may take longer than running
them. A CUDA graph launches the whole step at once. It replays fixed shapes and fixed addresses, so the step reads
everything from tensors that stay put:

- the rollout, which the collector refills in place;
- the advantages and targets, copied into buffers of this step once per update;
- the minibatch's columns (or samples), and with an LSTM its episodes' segments
  laid out in fixed slots (:class:`~.sequences.SegmentSlots`), copied in before
  each replay;
- the learning rate, a tensor on the GPU that Adam reads (``capturable``).

The slots are sized at capture for the minibatches of that rollout, with a
little room to spare (:func:`slots_for`): each slot runs the LSTM over ``T``
steps, used or not, so spare slots cost work in every replay. A minibatch
whose segments outnumber them is stepped eagerly instead, and the
learner then captures again from the next update's rollout, never with fewer
slots than before (:class:`~.learner.Learner`): so episodes that shorten as a
policy learns (PointGoal's) cost a few captures in a run, not eager steps
from then on.
Capturing needs a few warm-up steps, which move the weights; the learner puts
them back from the copy it keeps of each update's start.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .rollout import Rollout
from .sequences import SegmentSlots

HEADROOM = 1.1
"""Slots for this many times the segments a minibatch is expected to hold (:func:`slots_for`): room for rollouts a
little fuller than the one captured. Slots sized for the fullest minibatch a rollout could make, or for two segments
a column as before, ran the LSTM over nearly twice the rows it had: Explorer's episodes last 768-1,280 steps, so a
column of 32 steps holds about 1.03 segments."""

WARM_UPS = 2
"""Steps run on a side stream before capture, as CUDA graphs need: they make cuDNN choose its algorithms and the
allocator settle."""


def column_segments(starts: np.ndarray) -> np.ndarray:
    """``(B,)``: the segments of each column of ``(T, B)`` episode starts, the one at step 0 and one at each start
    after it."""
    return 1 + starts[1:].sum(0)


def slots_for(starts: np.ndarray, batch: int, at_least: int = 0) -> int:
    """Segment slots for minibatches of ``batch`` columns drawn from a rollout whose episodes begin at ``starts``
    (``(T, N)`` bool): :data:`HEADROOM` times the segments such a minibatch holds on average plus four standard
    deviations, but no more than the fullest minibatch the rollout could make, and at least ``at_least`` (the slots
    of an earlier capture). A minibatch that needs more is rare; it steps eagerly, and the learner captures again."""
    segments = column_segments(starts)
    fullest = int(np.sort(segments)[-batch:].sum())
    expected = batch * segments.mean() + 4 * math.sqrt(batch * segments.var())
    return max(min(fullest, math.ceil(HEADROOM * expected)), at_least)


class CapturedStep:
    """One minibatch step of :class:`~.learner.Learner`, captured once and replayed for every minibatch.

    :param rollout: the rollout the step learns from (its tensors are read in place).
    :param batch: columns of a minibatch with an LSTM, samples without.
    :param slots: with an LSTM, the segment slots of a minibatch (:func:`slots_for`); None without one.
    :ivar advantages: ``(T, N)``. :ivar targets: ``(T, N)``: the update's, copied in by :meth:`load_update`.
    :ivar indices: ``(batch,)`` int64, the minibatch's columns or flat samples, copied in by :meth:`load`.
    :ivar slots: the minibatch's segments, with an LSTM; else None.
    :ivar losses: what the last replay's step returned (:data:`~.learner.LOSSES`).
    """

    def __init__(self, rollout: Rollout, batch: int, slots: int | None):
        steps, rows = rollout.values.shape
        device = rollout.values.device
        self.rollout = rollout
        self.advantages = torch.zeros(steps, rows, device=device)
        self.targets = torch.zeros(steps, rows, device=device)
        self.indices = torch.zeros(batch, dtype=torch.int64, device=device)
        self.slots = SegmentSlots(steps, batch, slots, device) if slots is not None else None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.losses: torch.Tensor | None = None

    def load_update(self, advantages: torch.Tensor, targets: torch.Tensor) -> None:
        self.advantages.copy_(advantages)
        self.targets.copy_(targets)

    def load(self, chosen: torch.Tensor, starts: np.ndarray | None) -> bool:
        """Copies in a minibatch: ``chosen`` ``(batch,)`` int64 (columns on the CPU with an LSTM, else samples on
        the device), and with an LSTM the ``(T, batch)`` episode starts of its columns. Returns False, loading
        nothing, where the segments do not fit the slots."""
        if self.slots is not None and not self.slots.fill(starts):
            return False
        self.indices.copy_(chosen, non_blocking=True)
        return True

    def capture(self, step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, SegmentSlots | None], torch.Tensor],
                optimizer: torch.optim.Optimizer) -> None:
        """Captures ``step(advantages, targets, indices, slots)`` (of the minibatch last loaded). The warm-ups
        change the weights and Adam's state: the caller restores them."""
        arguments = (self.advantages, self.targets, self.indices, self.slots)
        side = torch.cuda.Stream(self.indices.device)
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARM_UPS):
                step(*arguments)
        torch.cuda.current_stream().wait_stream(side)
        # the gradients the graph writes are allocated in its own memory, during capture
        optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.losses = step(*arguments)
        self.graph = graph

    def replay(self) -> torch.Tensor:
        """Steps on the minibatch last loaded; returns :attr:`losses` (overwritten by the next replay)."""
        self.graph.replay()
        return self.losses
