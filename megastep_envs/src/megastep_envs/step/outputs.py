"""What a step and a reset return (:class:`Step`, :class:`Reset`): see :doc:`/explanations/step` for the meaning
of each field, the same-step autoreset and how a learner bootstraps from ``info["final_obs"]``."""
from __future__ import annotations

from typing import Any, NamedTuple

import torch


def cloned(value, tensors: bool = True):
    """``value`` with its dicts copied, and its tensors too if ``tensors``."""
    if isinstance(value, dict):
        return {key: cloned(item, tensors) for key, item in value.items()}
    return value.clone() if tensors and torch.is_tensor(value) else value


class Step(NamedTuple):
    """What :meth:`Env.step` returns; see :doc:`/explanations/step` for each field."""

    obs: dict[str, torch.Tensor]
    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    info: dict[str, Any]

    def clone(self) -> Step:
        """A copy of every tensor: what to keep from an env with ``cuda_graph=True``, whose next step
        overwrites these."""
        return Step(*(cloned(field) for field in self))


class Reset(NamedTuple):
    """What :meth:`Env.reset` returns: the first observations and an (empty) info dict."""

    obs: dict[str, torch.Tensor]
    info: dict[str, Any]
