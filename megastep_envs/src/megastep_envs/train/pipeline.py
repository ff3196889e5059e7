"""How a run's rollouts meet its learner: in turn, or the next rollout collected while the learner learns.

PPO as usually written takes turns: the learner waits for a rollout, then the
envs wait for the update. On a GPU both are chains of small kernels that leave
most of the card idle (Explorer's update computes at about 1% of an H100's
bfloat16 peak: :doc:`/explanations/performance`), so they can share it. With
``act_while_learning`` (:class:`~.hyperparameters.Hyperparameters`) each update
runs on one CUDA stream while the next rollout is collected on another, by a
copy of the network (the *actor*) that holds the weights from before the
update::

    update k:   learn from rollout k, weights k -> k + 1        (stream "learning")
                collect rollout k + 1 with weights k            (stream "acting")

So the policy that collects a rollout is one update older than the one that
first learns from it. PPO's probability ratio is taken against the
log-probabilities stored while acting, those of the policy that acted, so the
objective stays the same; its first minibatch's ratio starts one update away
from 1, which the clipping bounds, as in asynchronous PPO (Sample Factory,
Petrenko et al. 2020), whose learner lags its actors by about as much. The lag
costs learning per update where memory must be learned slowly: on the CPU,
PointGoal with its goal told once reached a quarter fewer goals after as many
updates, and with the goal told every step as many (``BENCHMARKS.md``,
"Training at engine speed"). So it pays only where running ahead makes
updates faster by more than that, which a GPU must measure; it is off by
default.

A rollout collected ahead and not yet learned from is *pending*. A run learns
from it before it stops or writes a checkpoint (:meth:`Pipeline.update` with
``collect_next=False``), so a checkpoint never holds one and no collected step
goes unlearned; after a checkpoint or a resume the next rollout is collected
with the current weights, and the pipeline runs ahead again from there.

On a CPU there is one stream: the same schedule runs in order, with the same
lag, so a CPU run learns as a GPU's would, and gains no time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from megastep_core.checks import synchronize

from .learner import Learner
from .model import Agent
from .rollout import Collector, Rollout


@dataclass
class Timing:
    """Seconds of one :meth:`Pipeline.update`.

    :ivar seconds: its wall time.
    :ivar acting: collecting rollouts: wall time in turn, GPU time on the acting stream when running ahead.
    :ivar learning: the update: wall time in turn, GPU time on the learning stream when running ahead.
    :ivar rollouts: collected in it: one in turn; running ahead, two where the pipeline starts, none where it learns
        from the pending rollout alone.
    """

    seconds: float
    acting: float
    learning: float
    rollouts: int = 1


class Pipeline:
    """Collects rollouts and learns from them, in turn or (``ahead``) one rollout ahead of the learner.

    :param collector: acts with ``model`` in turn, with its own copy (:meth:`~.model.Agent.frozen_copy`) when ``ahead``.
    :param learner: updates ``model``.
    :param model: the network learned (not a DDP wrapper).
    :param ahead: collect the next rollout while learning from the last (``act_while_learning``).
    :ivar pending: whether a rollout collected ahead waits to be learned from.
    """

    def __init__(self, collector: Collector, learner: Learner, model: Agent, ahead: bool = False):
        if ahead == (collector.model is model):
            raise ValueError("running ahead, the collector acts with a copy of the model (Agent.frozen_copy); in turn, "
                             "with the model itself")
        self.collector, self.learner, self.model, self.ahead = collector, learner, model, ahead
        self.device = collector.device
        self.pending = False
        # running ahead, the learner reads a copy of each rollout while the collector writes the next
        self.learned = collector.rollout if not ahead else Rollout.like(collector.rollout)
        cuda = ahead and self.device.type == "cuda"
        self._streams = (torch.cuda.Stream(self.device), torch.cuda.Stream(self.device)) if cuda else None

    def update(self, collect_next: bool = True) -> tuple[torch.Tensor, Timing]:
        """One PPO update, from a rollout collected now (in turn, or where none is pending) or ahead.

        :param collect_next: running ahead, also collect the next rollout, with the weights from before this
            update; False learns from the pending rollout and leaves none (before a checkpoint or a stop).
        :returns: the learner's figures (:meth:`~.learner.Learner.update`) and the update's times.
        """
        started = time.perf_counter()
        if not self.ahead:
            rollout, _ = self.collector.collect()
            synchronize(self.device)
            collected = time.perf_counter()
            losses = self.learner.update(rollout)
            synchronize(self.device)
            finished = time.perf_counter()
            return losses, Timing(finished - started, collected - started, finished - collected)
        acting, rollouts = 0.0, int(collect_next) + int(not self.pending)
        if not self.pending:  # the pipeline starts: the first rollout is collected with the current weights
            self._sync_actor()
            self.collector.collect()
            synchronize(self.device)
            acting = time.perf_counter() - started
        self.learned.copy_(self.collector.rollout)
        if collect_next:
            self._sync_actor()
        if self._streams is None:
            losses, seconds = self._in_order(collect_next)
        else:
            losses, seconds = self._side_by_side(collect_next)
        self.pending = collect_next
        acting += seconds[0] if collect_next else 0.0
        return losses, Timing(time.perf_counter() - started, acting, seconds[1], rollouts)

    def _sync_actor(self) -> None:
        """The actor takes the model's current weights (in place: the acting graphs read them)."""
        with torch.no_grad():
            torch._foreach_copy_([*self.collector.model.parameters(), *self.collector.model.buffers()],
                                 [*self.model.parameters(), *self.model.buffers()])

    def _in_order(self, collect_next: bool) -> tuple[torch.Tensor, tuple[float, float]]:
        """The CPU's way: the next rollout, then the update."""
        started = time.perf_counter()
        if collect_next:
            self.collector.collect()
        collected = time.perf_counter()
        losses = self.learner.update(self.learned)
        return losses, (collected - started, time.perf_counter() - collected)

    def _side_by_side(self, collect_next: bool) -> tuple[torch.Tensor, tuple[float, float]]:
        """The GPU's way: the next rollout on one stream, the update on another, both after what the current
        stream has enqueued (the actor's weights, the learner's copy of the rollout), joined back into it."""
        acting, learning = self._streams
        main = torch.cuda.current_stream(self.device)
        start = main.record_event(torch.cuda.Event(enable_timing=True))
        acting.wait_stream(main)
        learning.wait_stream(main)
        # the rollout is enqueued first: its host work is a few graph launches a step, so the acting stream runs
        # while the host works through the learner's minibatches
        with torch.cuda.stream(acting):
            if collect_next:
                self.collector.collect()
            acted = acting.record_event(torch.cuda.Event(enable_timing=True))
        with torch.cuda.stream(learning):
            losses = self.learner.update(self.learned)
            learned = learning.record_event(torch.cuda.Event(enable_timing=True))
        main.wait_stream(acting)
        main.wait_stream(learning)
        losses.record_stream(main)  # made on the learning stream, read on this one
        synchronize(self.device)
        return losses, (start.elapsed_time(acted) / 1000, start.elapsed_time(learned) / 1000)
