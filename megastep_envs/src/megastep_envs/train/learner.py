"""PPO's update (Schulman et al. 2017): epochs of clipped-objective minibatch steps over one rollout.

The learner is meant to be bound by arithmetic, not by launches: the LSTM runs
each minibatch's sequences in one cuDNN call (:mod:`.sequences`), advantages
come from one vectorised pass (:mod:`.advantages`), the network runs under
bfloat16 autocast on a GPU (its heads and the loss in float32), Adam is fused,
and gradients are dropped (``set_to_none``) rather than zeroed. The minibatch
order is drawn on the host from a generator of the learner's own, so choosing
minibatches never waits on the GPU; the episode starts are copied to the host
once per update, for the LSTM's segments.

**Non-finite updates.** A NaN or infinite gradient norm anywhere in an update
would leave NaN weights, which then act (and would be checkpointed). So the
learner keeps a copy of the weights and of Adam's state from before each
update, and :meth:`Learner.restore` puts it back when the caller, having read
the update's figures, finds it was not finite (``losses[-1] > 0``).
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch

from .advantages import gae
from .rollout import Rollout
from .sequences import Segments

LOSSES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "nonfinite")
"""What :meth:`Learner.update` returns, in order: the means over its minibatches of the first five, and the
count of minibatches whose gradient norm was not finite."""


def _columns(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Whole sequences of a ``(T, N, ...)`` rollout tensor: ``(T, B, ...)``."""
    return x.index_select(1, indices)


def _samples(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Single samples of a ``(T, N, ...)`` rollout tensor, by flat index, as one step: ``(1, B, ...)``."""
    return x.reshape(-1, *x.shape[2:]).index_select(0, indices)[None]


class Learner:
    """Updates a network from rollouts with PPO.

    :param model: the network (or its DDP wrapper, whose backward averages the gradients across processes).
    :param config: the :class:`~megastep_envs.train.hyperparameters.Hyperparameters`.
    :param device: where the network is.
    :param seed: seeds the minibatch order.
    :param learned: ``(N,)`` bool on the CPU, the rollout's rows to learn from (all by default; self-play's
        opponents are left out).
    """

    def __init__(self, model: torch.nn.Module, config, device: torch.device, seed: int,
                 learned: torch.Tensor | None = None):
        self.model, self.config, self.device = model, config, device
        self.columns = learned.nonzero().squeeze(-1) if learned is not None else None
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, eps=1e-5,
                                          fused=device.type == "cuda")
        self.generator = torch.Generator().manual_seed(seed)
        self.autocast = config.bf16 and device.type == "cuda"
        self._saved: list[torch.Tensor] | None = None

    # the optimizer's state, for checkpoints --------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = value

    # an update -------------------------------------------------------------------------------------

    def _network(self):
        return torch.autocast("cuda", torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def _minibatches(self, steps: int, rows: int, starts: np.ndarray | None):
        """Index sets of one epoch: whole columns with an LSTM (with their segments), else single samples."""
        config = self.config
        columns = self.columns if self.columns is not None else torch.arange(rows)
        if config.lstm:
            order = columns[torch.randperm(len(columns), generator=self.generator)]
            size = max(1, len(columns) // config.minibatches)
            for i in range(0, len(columns) - size + 1, size):
                chosen = order[i:i + size]
                yield chosen.to(self.device, non_blocking=True), Segments.of(starts[:, chosen.numpy()], self.device)
        else:
            count = steps * len(columns)
            order = torch.randperm(count, generator=self.generator)
            order = order // len(columns) * rows + columns[order % len(columns)]  # flat (t, n) of learned rows
            size = max(1, count // config.minibatches)
            for i in range(0, count - size + 1, size):
                yield order[i:i + size].to(self.device, non_blocking=True), None

    def update(self, rollout: Rollout) -> torch.Tensor:
        """``epochs`` passes of minibatch steps over ``rollout``.

        :returns: ``(6,)`` on the device: :data:`LOSSES`, and after it the explained variance of the rollout's
            values, ``(7,)`` in all.
        """
        config = self.config
        self._saved = [t.detach().clone() for t in self._tensors()]
        steps, rows = rollout.actions.shape
        advantages, targets = gae(rollout.rewards, rollout.values, rollout.dones, rollout.next_value,
                                  config.gamma, config.gae_lambda)
        starts = rollout.starts.cpu().numpy() if config.lstm else None  # the update's one wait
        losses = torch.zeros(len(LOSSES), device=self.device)
        count = 0
        for _ in range(config.epochs):
            for indices, segments in self._minibatches(steps, rows, starts):
                take = functools.partial(_columns if segments is not None else _samples, indices=indices)
                memory = tuple(take(m) for m in rollout.initial_memory) if segments is not None else ()
                losses += self._step(rollout, take, memory, segments, take(advantages), take(targets))
                count += 1
        values = rollout.values.flatten()
        explained = 1 - (targets.flatten() - values).var() / targets.flatten().var().clamp_min(1e-8)
        scale = torch.ones(len(LOSSES), device=self.device)
        scale[:-1] = 1 / count
        return torch.cat([losses * scale, explained[None]])

    def _step(self, rollout, take, memory, segments, advantage, target) -> torch.Tensor:
        config = self.config
        observations = {key: take(tensor) for key, tensor in rollout.obs.items()}
        with self._network():
            logits, value, _ = self.model(observations, memory, take(rollout.starts), segments=segments)
        logprobs = torch.log_softmax(logits, -1)
        new_logprob = logprobs.gather(-1, take(rollout.actions)[..., None]).squeeze(-1)
        log_ratio = new_logprob - take(rollout.logprobs)
        ratio = log_ratio.exp()
        # normalised per minibatch; a minibatch of one sample has a spread of 0, not NaN
        advantage = (advantage - advantage.mean()) / (advantage.std(correction=0) + 1e-8)
        policy_loss = torch.max(-advantage * ratio, -advantage * ratio.clamp(1 - config.clip, 1 + config.clip)).mean()
        old_value = take(rollout.values)
        clipped = old_value + (value - old_value).clamp(-config.clip, config.clip)
        value_loss = 0.5 * torch.max((value - target) ** 2, (clipped - target) ** 2).mean()
        entropy = -(logprobs.exp() * logprobs).sum(-1).mean()
        loss = policy_loss + config.value_weight * value_loss - config.entropy * entropy

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.parameters, config.max_grad_norm, foreach=True)
        self.optimizer.step()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clipfrac = ((ratio - 1).abs() > config.clip).float().mean()
            return torch.stack([policy_loss, value_loss, entropy, approx_kl, clipfrac,
                                (~torch.isfinite(norm)).float()]).detach()

    # non-finite updates ----------------------------------------------------------------------------------

    def _tensors(self) -> list[torch.Tensor]:
        """The parameters and every tensor of Adam's state, in a fixed order."""
        state = [t for p in self.parameters for t in self.optimizer.state.get(p, {}).values()
                 if isinstance(t, torch.Tensor)]
        return [*self.parameters, *state]

    def restore(self) -> None:
        """Puts back the weights and Adam's state from before the last :meth:`update`."""
        if self._saved is None:
            raise RuntimeError("restore() undoes an update: call update() first")
        current = self._tensors()
        if len(current) == len(self._saved):
            with torch.no_grad():
                for tensor, saved in zip(current, self._saved):
                    tensor.copy_(saved)
        else:  # the first update created Adam's state: back to none
            with torch.no_grad():
                for tensor, saved in zip(self.parameters, self._saved):
                    tensor.copy_(saved)
            self.optimizer.state.clear()
