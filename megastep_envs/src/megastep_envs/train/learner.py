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
the update's figures, finds it was not finite (its ``nonfinite`` count above 0).

**Captured steps.** On a GPU with ``graph_update`` on, each minibatch
step is replayed from a CUDA graph (:mod:`.captured`), captured at the first
update that finds Adam's state made; the first update, and any minibatch that
does not fit the graph, runs eagerly, and after an update with such a
minibatch the next captures again, with room for its rollout's episodes.
Under data-parallel training the steps run eagerly: DDP's gradient averaging
is not captured.
"""
from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import torch

from .advantages import gae
from .captured import CapturedStep, column_segments, slots_for
from .rollout import GOAL_TARGET, Rollout
from .sequences import Segments, SegmentSlots

LOSSES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "goal_loss", "nonfinite")
"""What :meth:`Learner.update` returns, in order: the means over its minibatches of all but the last (the goal
prediction's loss 0 without ``goal_prediction``), and the count of minibatches whose gradient norm was not
finite."""


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
        self.eager_reason: str | None = None
        """Why minibatch steps are not replayed from a CUDA graph, where they are not."""
        if device.type != "cuda":
            self.eager_reason = "not on a GPU"
        elif not config.graph_update:
            self.eager_reason = "graph_update is off"
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            self.eager_reason = "data-parallel training (DDP's gradient averaging is not captured)"
        capturable = self.eager_reason is None
        # a captured Adam reads its learning rate from the GPU, where the schedule changes it in place
        rate = torch.tensor(config.learning_rate, device=device) if capturable else config.learning_rate
        self.optimizer = torch.optim.Adam(self.parameters, lr=rate, eps=1e-5, fused=device.type == "cuda",
                                          capturable=capturable)
        self._learning_rate = float(config.learning_rate)
        self.generator = torch.Generator().manual_seed(seed)
        # a feed-forward epoch's order of samples is drawn on the device, seeded from the generator above (the one a
        # checkpoint keeps): on a GPU, permuting hundreds of thousands of samples on the host took longer than the
        # update's kernels did, and the update waited for it
        self._sample_generator = torch.Generator(device)
        self._learned_samples = self.columns.to(device) if self.columns is not None else None
        self.autocast = config.bf16 and device.type == "cuda"
        self._saved: list[torch.Tensor] | None = None
        self._captured: CapturedStep | None = None
        self._refit = False  # a minibatch of the last update did not fit the captured step's slots

    @property
    def graphed(self) -> bool:
        """Whether minibatch steps replay from a captured CUDA graph (from the second update on)."""
        return self._captured is not None and self._captured.graph is not None

    # the optimizer's state, for checkpoints --------------------------------------------------------------

    def state_dict(self) -> dict:
        optimizer = self.optimizer.state_dict()
        # a plain learning rate and no device-bound options: the checkpoint may resume on another device
        optimizer["param_groups"] = [{**group, "lr": self._learning_rate, "fused": None, "capturable": False}
                                     for group in optimizer["param_groups"]]
        return {"optimizer": optimizer, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        optimizer = state["optimizer"]
        mine = self.optimizer.param_groups
        optimizer = {**optimizer, "param_groups": [
            {**group, "fused": own["fused"], "capturable": own["capturable"]}
            for group, own in zip(optimizer["param_groups"], mine)]}
        rate = float(optimizer["param_groups"][0]["lr"])
        own_rates = [group["lr"] for group in mine]  # a tensor where a captured step reads it: keep that one
        self.optimizer.load_state_dict(optimizer)
        for group, own_rate in zip(self.optimizer.param_groups, own_rates):
            group["lr"] = own_rate
        self._captured = None  # Adam's state tensors are new: a graph would read the old ones
        self.learning_rate = rate
        self.generator.set_state(state["generator"])

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = float(value)
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(value)
            else:
                group["lr"] = float(value)

    # an update -------------------------------------------------------------------------------------

    def _network(self):
        # no cache of the weights' casts: a captured step would keep stale ones
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast("cuda", torch.bfloat16, cache_enabled=False)

    def _minibatches(self, steps: int, rows: int, starts: np.ndarray | None, shuffle: bool = True):
        """Index sets of one epoch: with an LSTM whole columns, on the CPU, with their ``(T, B)`` episode starts;
        else single samples on the device (flat ``t * N + n``), and None. In order where not ``shuffle``, which
        draws nothing."""
        config = self.config
        columns = self.columns if self.columns is not None else torch.arange(rows)
        if config.lstm:
            order = columns[torch.randperm(len(columns), generator=self.generator) if shuffle else slice(None)]
            size = max(1, len(columns) // config.minibatches)
            for i in range(0, len(columns) - size + 1, size):
                chosen = order[i:i + size]
                yield chosen, starts[:, chosen.numpy()]
        else:
            count = steps * len(columns)
            if shuffle:
                self._sample_generator.manual_seed(int(torch.randint(2**62, (), generator=self.generator)))
                order = torch.randperm(count, generator=self._sample_generator, device=self.device)
            else:
                order = torch.arange(count, device=self.device)
            if self._learned_samples is not None:  # the flat (t, n) of the learned rows alone
                order = order // len(columns) * rows + self._learned_samples[order % len(columns)]
            size = max(1, count // config.minibatches)
            for i in range(0, count - size + 1, size):
                yield order[i:i + size], None

    def update(self, rollout: Rollout) -> torch.Tensor:
        """``epochs`` passes of minibatch steps over ``rollout``.

        :returns: ``(8,)`` on the device: :data:`LOSSES`, and after it the explained variance of the rollout's
            values.
        """
        config = self.config
        self._saved = [t.detach().clone() for t in self._tensors()]
        steps, rows = rollout.actions.shape
        advantages, targets = gae(rollout.rewards, rollout.values, rollout.dones, rollout.next_value,
                                  config.gamma, config.gae_lambda)
        starts = rollout.starts.cpu().numpy() if config.lstm else None  # the update's one wait
        captured = self._captured_step(rollout, advantages, targets, steps, rows, starts)
        losses = torch.zeros(len(LOSSES), device=self.device)
        count = misfits = 0
        for _ in range(config.epochs):
            for chosen, chosen_starts in self._minibatches(steps, rows, starts):
                if captured is not None and captured.load(chosen, chosen_starts):
                    losses += captured.replay()
                else:
                    misfits += captured is not None
                    indices = chosen.to(self.device, non_blocking=True)
                    segments = Segments.of(chosen_starts, self.device) if chosen_starts is not None else None
                    losses += self._step(rollout, advantages, targets, indices, segments)
                count += 1
        self._refit = misfits > 0
        values = rollout.values.flatten()
        explained = 1 - (targets.flatten() - values).var() / targets.flatten().var().clamp_min(1e-8)
        scale = torch.ones(len(LOSSES), device=self.device)
        scale[:-1] = 1 / count
        return torch.cat([losses * scale, explained[None]])

    def _captured_step(self, rollout, advantages, targets, steps, rows, starts) -> CapturedStep | None:
        """The graph to replay this update's minibatch steps from, captured if need be; None to step eagerly."""
        if self.eager_reason is not None:
            return None
        if self._captured is not None and self._captured.rollout is rollout and not self._refit:
            self._captured.load_update(advantages, targets)
            return self._captured
        if any(p not in self.optimizer.state for p in self.parameters):
            return None  # Adam makes its state at its first step: the graph must read that state
        # a minibatch in order, so that the draws of the minibatches that follow are those of an eager run
        chosen, chosen_starts = next(self._minibatches(steps, rows, starts, shuffle=False))
        slots = None
        if starts is not None:
            # never fewer slots than the last capture had (episodes that shorten as a policy learns cost a few
            # captures), and room for the minibatch captured
            before = self._captured.slots.slots if self._captured is not None else 0
            slots = slots_for(starts, len(chosen), at_least=max(before, int(column_segments(chosen_starts).sum())))
        captured = CapturedStep(rollout, len(chosen), slots)
        captured.load_update(advantages, targets)
        captured.load(chosen, chosen_starts)
        try:
            captured.capture(functools.partial(self._step, rollout), self.optimizer)
        except RuntimeError as error:
            self.eager_reason = f"capture failed: {error}"
            warnings.warn(f"PPO's minibatch steps run eagerly: {self.eager_reason}", RuntimeWarning, stacklevel=3)
            captured = None
        self._restore_saved()  # the warm-ups stepped the weights
        self._captured = captured
        return captured

    def _step(self, rollout: Rollout, advantages: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor,
              segments: Segments | SegmentSlots | None) -> torch.Tensor:
        """One minibatch step on the columns (with ``segments``) or flat samples ``indices``; the step's losses."""
        config = self.config
        take = functools.partial(_columns if segments is not None else _samples, indices=indices)
        memory = tuple(take(m) for m in rollout.initial_memory) if segments is not None else ()
        advantage, target = take(advantages), take(targets)
        observations = {key: take(tensor) for key, tensor in rollout.obs.items()}
        with self._network():
            logits, value, _, *goal = self.model(observations, memory, take(rollout.starts), segments=segments,
                                                 with_goal=bool(config.goal_prediction))
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
        # Huber, not squared: a far goal (metres off) should not outweigh learning to keep track of near ones
        goal_loss = (torch.nn.functional.smooth_l1_loss(goal[0], observations[GOAL_TARGET]) if goal
                     else torch.zeros((), device=loss.device))
        loss = loss + config.goal_prediction * goal_loss

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.parameters, config.max_grad_norm, foreach=True)
        self.optimizer.step()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clipfrac = ((ratio - 1).abs() > config.clip).float().mean()
            return torch.stack([policy_loss, value_loss, entropy, approx_kl, clipfrac, goal_loss,
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
        self._restore_saved()

    def _restore_saved(self) -> None:
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
