"""Splitting ragged work into chunks of bounded size, so memory stays bounded."""
from __future__ import annotations

from collections.abc import Iterator

import torch


def expand(counts: torch.Tensor, total: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Enumerates ``counts[i]`` items for every ``i``.

    :param counts: ``(N,)`` int64, non-negative.
    :param total: ``counts.sum()``, if the caller knows it (saves a device sync).
    :returns: ``owner (T,)``, the ``i`` of each item, and ``rank (T,)``, its
        position among the items of its owner, where ``T = counts.sum()``.
    """
    if total is None:
        total = int(counts.sum())
    owner = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts, output_size=total)
    firsts = counts.cumsum(0) - counts
    rank = torch.arange(total, device=counts.device) - firsts[owner]
    return owner, rank


def spans(costs: torch.Tensor, budget: int) -> Iterator[tuple[int, int, int]]:
    """Consecutive ranges of items whose costs sum to at most ``budget``.

    A single item costlier than the budget gets a range of its own.

    :param costs: ``(N,)`` non-negative integers.
    :returns: ``(first, stop, cost)`` triples covering ``range(N)`` in order.
    """
    if budget < 1:
        raise ValueError(f"budget must be a positive number of elements, got {budget}")
    totals = costs.cumsum(0).cpu()
    n = len(totals)
    first, before = 0, 0
    while first < n:
        # the last item whose cumulative cost stays within budget of where we are
        stop = int(torch.searchsorted(totals, before + budget, right=True))
        stop = max(stop, first + 1)
        after = int(totals[stop - 1])
        yield first, stop, after - before
        first, before = stop, after
