"""PPO's update: the captured minibatch step computes what the eager one does, and its checkpoints move between
devices."""
import dataclasses
import math
import types

import numpy as np
import pytest
import torch

from megastep_envs.train import distributed
from megastep_envs.train.advantages import gae
from megastep_envs.train.captured import HEADROOM, CapturedStep, slots_for
from megastep_envs.train.hyperparameters import defaults
from megastep_envs.train.learner import Learner
from megastep_envs.train.ppo import build
from megastep_envs.train.sequences import Segments, SegmentSlots

SHORT = {"lifespan": (3, 6)}  # several episodes begin inside every column of a rollout


def parts_of(device: str, lstm: bool, env: str = "minimal", **changes):
    config = dataclasses.replace(defaults(env, device), envs=8, steps=12, hidden=16, channels=4, lstm=lstm,
                                 minibatches=2, epochs=2, device=device, seed=0, **changes)
    return build(env, config, SHORT, distributed.Process(device=torch.device(device)))


def weights(learner: Learner) -> list[torch.Tensor]:
    return [t.detach().clone() for t in learner._tensors()]


def test_a_step_on_segments_in_slots_is_a_step_on_packed_segments(one_thread):
    """The captured step's body, run eagerly: an LSTM minibatch step on fixed slots moves the weights and Adam's
    state as one on packed segments does."""
    parts = parts_of("cpu", lstm=True)
    learner, rollout = parts.learner, parts.collector.collect()[0]
    learner.update(rollout)  # Adam's state made, as at capture
    rollout = parts.collector.collect()[0]
    advantages, targets = gae(rollout.rewards, rollout.values, rollout.dones, rollout.next_value, 0.99, 0.95)
    starts = rollout.starts.numpy()
    chosen = torch.tensor([1, 6, 3, 4])
    assert starts[1:, chosen.numpy()].any(), "the test needs episodes that begin inside the rollout"
    before = weights(learner)
    packed = learner._step(rollout, advantages, targets, chosen, Segments.of(starts[:, chosen.numpy()]))
    after_packed = weights(learner)
    for tensor, saved in zip(learner._tensors(), before):
        tensor.data.copy_(saved)
    slots = SegmentSlots(12, 4, 12 * 4)  # room for an episode beginning at every step
    assert slots.fill(starts[:, chosen.numpy()])
    in_slots = learner._step(rollout, advantages, targets, chosen, slots)
    assert torch.allclose(packed, in_slots, atol=1e-5)
    for a, b in zip(after_packed, weights(learner)):
        assert torch.allclose(a, b, atol=1e-5)


def test_the_slots_of_a_capture_hold_every_minibatch_of_its_rollout(one_thread):
    """Episodes of 3-6 steps in rollouts of 12 begin 2-4 times in each column: the slots sized from the rollout
    hold each of its minibatches, so the captured step is the one that runs."""
    parts = parts_of("cpu", lstm=True)
    rollout = parts.collector.collect()[0]
    starts = rollout.starts.numpy()
    batch = 4
    slots = slots_for(starts, batch)
    assert slots >= 2 * batch, "the test needs columns of several segments"
    holder = SegmentSlots(12, batch, slots)
    for _ in range(20):
        chosen = torch.randperm(8)[:batch].numpy()
        assert holder.fill(starts[:, chosen])
    no_starts = np.zeros((12, 8), dtype=bool)  # each column one segment
    assert slots_for(no_starts, batch) == batch  # no more than the fullest minibatch
    one_start = no_starts.copy()
    one_start[5, 0] = True  # one column of two segments: room for the expected minibatch and some spread
    expected = batch * 9 / 8 + 4 * math.sqrt(batch * 7 / 64)
    assert slots_for(one_start, batch) == min(batch + 1, math.ceil(HEADROOM * expected)) == batch + 1
    assert slots_for(no_starts, batch, at_least=3 * batch) == 3 * batch


def test_after_a_minibatch_that_did_not_fit_the_learner_captures_again_with_more_slots(one_thread, monkeypatch):
    """Captured on a rollout of long episodes, a step's slots cannot hold a rollout of short ones: those minibatches
    step eagerly, and the next update captures again, with room for them. On the CPU a "graph" that calls the step
    again on the same buffers stands in for a CUDA graph."""

    def capture(self, step, optimizer):
        arguments = (self.advantages, self.targets, self.indices, self.slots)
        self.graph = types.SimpleNamespace(replay=lambda: setattr(self, "losses", step(*arguments)))

    fits, load = [], CapturedStep.load

    def loading(self, chosen, starts):
        fits.append(load(self, chosen, starts))
        return fits[-1]

    monkeypatch.setattr(CapturedStep, "capture", capture)
    monkeypatch.setattr(CapturedStep, "load", loading)
    parts = parts_of("cpu", lstm=True)
    learner = parts.learner
    learner.eager_reason = None  # capture, on the CPU, with the stand-in above
    rollout = parts.collector.collect()[0]
    short_starts = rollout.starts.clone()  # episodes of 3-6 steps: 2-4 segments a column
    rollout.starts[1:] = False  # one segment a column
    learner.update(rollout)  # Adam makes its state: nothing captured
    learner.update(rollout)
    assert learner.graphed and all(fits)
    first = learner._captured
    assert first.slots.slots == 4  # minibatches of 4 columns of one segment each
    rollout.starts.copy_(short_starts)
    fits.clear()
    learner.update(rollout)
    assert learner._captured is first and not any(fits)  # stepped eagerly
    fits.clear()
    learner.update(rollout)
    assert learner._captured is not first and learner._captured.slots.slots > first.slots.slots
    assert fits and all(fits)  # captured again, with room: every minibatch replays
    again = learner._captured
    learner.update(rollout)
    assert learner._captured is again  # and stays
    rollout.starts.fill_(True)  # one rollout of episodes of one step: no minibatch fits
    learner.update(rollout)
    rollout.starts[1:] = False  # the next captures again, from a rollout of one segment a column,
    learner.update(rollout)
    assert learner._captured is not again and learner._captured.slots.slots == again.slots.slots  # with no fewer


@pytest.mark.parametrize("lstm", [False, True])
def test_an_epoch_takes_each_learned_sample_once_in_an_order_the_checkpoint_keeps(one_thread, lstm):
    """An epoch's minibatches hold every sample (column, with an LSTM) of the learned rows once and no other; the
    order comes from the generator a checkpoint keeps, so a resumed learner draws the order the first would have."""
    parts = parts_of("cpu", lstm=lstm)
    steps, rows = 12, 8
    learned = torch.tensor([True, False, True, True, False, True, True, True])  # 6: two minibatches of 3 columns
    learner = Learner(parts.model, parts.learner.config, torch.device("cpu"), seed=5, learned=learned)
    starts = np.zeros((steps, rows), dtype=bool)

    def epoch(of: Learner) -> torch.Tensor:
        return torch.cat([chosen for chosen, _ in of._minibatches(steps, rows, starts)])

    first = epoch(learner)
    expected = learned.nonzero().squeeze(-1)
    if not lstm:  # flat samples t * N + n of the learned rows
        expected = (torch.arange(steps)[:, None] * rows + expected).flatten()
    assert sorted(first.tolist()) == expected.tolist()
    state = learner.state_dict()
    second = epoch(learner)
    assert not torch.equal(first, second), "each epoch draws a new order"
    resumed = Learner(parts.model, parts.learner.config, torch.device("cpu"), seed=99, learned=learned)
    resumed.load_state_dict(state)
    assert torch.equal(epoch(resumed), second)


def test_a_checkpoint_of_a_captured_learner_resumes_anywhere(one_thread):
    """A GPU learner's optimizer holds its learning rate as a tensor and device options (fused, capturable); its
    checkpoint holds a plain number and neither, and a learner on the CPU takes it even where an older checkpoint
    still names them."""
    parts = parts_of("cpu", lstm=False)
    learner = parts.learner
    learner.update(parts.collector.collect()[0])
    learner.learning_rate = 1e-4
    state = learner.state_dict()
    group = state["optimizer"]["param_groups"][0]
    assert group["lr"] == 1e-4 and not group["capturable"] and group["fused"] is None
    # as a GPU learner of before wrote them
    group.update(lr=torch.tensor(2e-4), fused=True, capturable=True)
    other = parts_of("cpu", lstm=False).learner
    other.load_state_dict(state)
    assert other.learning_rate == pytest.approx(2e-4)
    other.update(parts.collector.collect()[0])  # steps on the CPU


@pytest.mark.gpu
@pytest.mark.parametrize("env, lstm", [("minimal", False), ("minimal", True), ("deathmatch", True),
                                       ("explorer", True)])
def test_a_captured_update_learns_as_an_eager_one(env, lstm):
    """Two learners from the same weights and the same rollouts, one replaying its minibatch steps from a CUDA
    graph: after three updates (the first eager, the graph captured at the second) their weights and Adam's state
    agree, and a new learning rate reaches the graph. Deathmatch's self-play learns from a subset of the rows
    (its preset's opponents play the others); Explorer's preset computes its strips as dense matrix products
    (in float32 here, as the others, so that the two agree to a tight tolerance)."""
    results = []
    for graph_update in (False, True):
        parts = parts_of("cuda", lstm=lstm, env=env, graph_update=graph_update, bf16=False)
        losses = []
        for update in range(3):
            if update == 2:
                parts.learner.learning_rate = 1e-3
            losses.append(parts.learner.update(parts.collector.collect()[0]))
        assert parts.learner.graphed == graph_update, parts.learner.eager_reason
        results.append((weights(parts.learner), torch.stack(losses)))
    (eager, eager_losses), (graphed, graphed_losses) = results
    assert torch.allclose(eager_losses, graphed_losses, atol=1e-4, rtol=1e-3)
    for a, b in zip(eager, graphed):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)
