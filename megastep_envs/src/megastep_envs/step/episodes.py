"""Each env's episode so far: its length, its return, and when it must end.

Every step counts one more step and the reward in every env, ends the
episodes that terminated or reached their lifespan, reports their length and
return, and starts the count anew. That is a dozen tiny tensor operations,
and inside a CUDA-graph-captured step every one is a launch replayed on every
step whatever the batch: at a thousand envs each costs about as much as the
work itself. On a GPU the fused kernel of ``episodes.cu`` does it all in
one launch, new lifespans drawn in it; the torch code here is the
reference and the CPU path, and both give the same numbers.
"""
from __future__ import annotations

import numpy as np
import torch

from megastep_core.kernels import load_kernels

from .lifespans import Lifespans


class Episodes:
    """The lengths and returns of each env's current episode, and its :class:`Lifespans`.

    :param n_envs: ``E``.
    :param n_agents: ``A``.
    :param lifespans: each episode's limit in steps.
    :param backend: ``"auto"``, ``"torch"`` or ``"cuda"``: the fused kernel where the
        device is CUDA and CuPy can run (``"auto"``), or the torch code.
    :ivar lengths: ``(E,)`` int64, steps taken this episode.
    :ivar returns: ``(E, A)`` float32, reward summed this episode.
    """

    def __init__(self, n_envs: int, n_agents: int, lifespans: Lifespans, backend: str = "auto"):
        device = lifespans.limits.device
        self.lifespans = lifespans
        self.lengths = torch.zeros(n_envs, dtype=torch.int64, device=device)
        self.returns = torch.zeros(n_envs, n_agents, device=device)
        kernels = load_kernels("megastep_envs.step", "episodes.cu", ["step_episodes"], device=device,
                               implementation=backend, what="episodes option backend").as_dict()
        self._kernel = None if kernels is None else kernels["step_episodes"]

    def restart(self, mask: torch.Tensor) -> None:
        """Starts a new episode, with a new lifespan, in the envs where ``mask`` (``(E,)`` bool) is True."""
        if mask.device.type == "cpu" and not bool(mask.any()):
            return  # free to ask on a CPU, and it leaves the lifespans' generator where it was
        self.lifespans.reset(mask)
        self.lengths.masked_fill_(mask, 0)
        self.returns.masked_fill_(mask[:, None], 0.0)

    def step(self, reward: torch.Tensor, terminated: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """Counts a step that earned ``reward`` (``(E, A)``) and ended the envs where ``terminated`` (``(E,)`` bool,
        or None where the task never terminates); restarts every episode that is over.

        :returns: ``terminated`` (``(E,)`` bool: ``terminated``, or all False for None), ``truncated`` and ``done``
            (``(E,)`` bool: the lifespan ran out; the episode is over), and the length ``(E,)`` and return
            ``(E, A)`` each episode had reached, meaningful where it is done.
        """
        n_envs, n_agents = self.returns.shape
        task_terminates = terminated is not None
        if not task_terminates:  # the kernel writes it
            terminated = torch.empty(n_envs, dtype=torch.bool, device=reward.device)
        if self._kernel is None:
            if not task_terminates:
                terminated.fill_(False)
            self.lengths += 1
            self.returns += reward
            truncated = self.lifespans.expired(self.lengths) & ~terminated
            done = terminated | truncated
            lengths, returns = self.lengths.clone(), self.returns.clone()
            self.restart(done)
            return terminated, truncated, done, lengths, returns
        truncated, done = (torch.empty(n_envs, dtype=torch.bool, device=reward.device) for _ in range(2))
        lengths, returns = torch.empty_like(self.lengths), torch.empty_like(self.returns)
        spans = self.lifespans
        self._kernel(
            -(-n_envs // 256), 256, self.lengths, self.returns, spans.limits, spans.random.counters,
            reward.float().contiguous(), terminated.contiguous(), int(task_terminates), truncated, done, lengths,
            returns, n_envs, n_agents, np.uint32(spans.random.key), spans.low, spans.high,
        )
        return terminated, truncated, done, lengths, returns
