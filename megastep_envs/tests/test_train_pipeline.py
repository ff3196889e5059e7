"""Acting while learning (``act_while_learning``) on the CPU: which weights collect each rollout, which rollout each
update learns from, and that a run learns from every rollout it collects before it stops or writes a checkpoint."""
import dataclasses

import pytest
import torch
from torch.nn.utils import parameters_to_vector

from megastep_envs.train import distributed, ppo
from megastep_envs.train.hyperparameters import TrainError, defaults
from megastep_envs.train.learner import Learner
from megastep_envs.train.pipeline import Pipeline
from megastep_envs.train.ppo import build
from megastep_envs.train.rollout import Collector, Rollout


def config(**changes):
    fields = {"envs": 8, "steps": 8, "hidden": 16, "channels": 4, "epochs": 2, "minibatches": 2, "device": "cpu",
              "seed": 0, "act_while_learning": True, **changes}
    return dataclasses.replace(defaults("minimal", "cpu"), **fields)


class Recorded:
    """Wraps a run's collector and learner: the weights that acted in each rollout and what it did, and the
    weights and rollout of each update."""

    def __init__(self, parts):
        self.collected, self.learned = [], []
        collect, update = parts.collector.collect, parts.learner.update

        def collecting(*args, **kwargs):
            weights = parameters_to_vector(parts.collector.model.parameters()).clone()
            rollout, times = collect(*args, **kwargs)
            self.collected.append((weights, rollout.actions.clone(), rollout.rewards.clone()))
            return rollout, times

        def updating(rollout):
            self.learned.append((parameters_to_vector(parts.model.parameters()).clone(), rollout.actions.clone(),
                                 rollout.rewards.clone()))
            return update(rollout)

        parts.collector.collect, parts.learner.update = collecting, updating


@pytest.mark.parametrize("lstm", [False, True])
def test_running_ahead_acts_one_update_behind_and_learns_every_rollout_once(lstm, one_thread):
    parts = build("minimal", config(lstm=lstm), {"lifespan": (3, 6)}, distributed.Process())
    assert parts.collector.model is not parts.model  # the actor, a copy
    recorded = Recorded(parts)
    collected = []  # rollouts collected in each update, which its logged agent-steps per second count
    for _ in range(4):
        collected.append(parts.pipeline.update()[1].rollouts)
        assert parts.pipeline.pending
    collected.append(parts.pipeline.update(collect_next=False)[1].rollouts)
    assert not parts.pipeline.pending
    assert collected == [2, 1, 1, 1, 0]
    # five updates learned from five rollouts, in the order collected, each once
    assert len(recorded.collected) == len(recorded.learned) == 5
    for k, ((_, actions, rewards), (_, learned_actions, learned_rewards)) in enumerate(
            zip(recorded.collected, recorded.learned)):
        assert torch.equal(actions, learned_actions) and torch.equal(rewards, learned_rewards), f"update {k}"
    weights_before = [weights for weights, _, _ in recorded.learned]
    assert not torch.equal(weights_before[0], weights_before[1])  # the updates moved the weights
    # the first rollout with the first weights; rollout k (from 1) with the weights from before update k - 1
    assert torch.equal(recorded.collected[0][0], weights_before[0])
    for k in range(1, 5):
        assert torch.equal(recorded.collected[k][0], weights_before[k - 1]), f"rollout {k}"


def test_in_turn_the_collector_acts_with_the_model_itself(one_thread):
    parts = build("minimal", config(act_while_learning=False), None, distributed.Process())
    assert parts.collector.model is parts.model and parts.pipeline.learned is parts.collector.rollout
    recorded = Recorded(parts)
    for _ in range(3):
        assert parts.pipeline.update()[1].rollouts == 1
        assert not parts.pipeline.pending
    for (weights, actions, _), (learned_weights, learned_actions, _) in zip(recorded.collected, recorded.learned):
        assert torch.equal(weights, learned_weights) and torch.equal(actions, learned_actions)
    with pytest.raises(ValueError, match="copy of the model"):
        Pipeline(parts.collector, parts.learner, parts.model, ahead=True)


def test_a_rollouts_copy_is_its_own(one_thread):
    parts = build("minimal", config(lstm=True), None, distributed.Process())
    rollout = parts.collector.collect()[0]
    copy = Rollout.like(rollout).copy_(rollout)
    mine, theirs = copy._tensors(), rollout._tensors()
    assert len(mine) == len(theirs) == len(rollout.obs) + 7 + 2
    for a, b in zip(mine, theirs):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def counted(monkeypatch, cls, name: str) -> list[int]:
    """Counts the calls of ``cls.name`` from now on, on every object of the class."""
    calls, method = [], getattr(cls, name)

    def counting(self, *args, **kwargs):
        calls.append(1)
        return method(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counting)
    return calls


def test_a_run_ahead_learns_the_pending_rollout_before_its_time_limit_stops_it(tmp_path, monkeypatch, one_thread):
    """The time limit, passed at the first update, finds a rollout collected ahead: the run learns from it in one
    more update, then stops with a checkpoint, so every rollout it collected was learned from."""
    collects = counted(monkeypatch, Collector, "collect")
    result = ppo.train("minimal", config(time_limit_minutes=1e-9), out=tmp_path, progress=False)
    assert result.updates == 2 and len(collects) == 2
    assert result.checkpoint is not None


def test_a_run_ahead_writes_checkpoints_with_no_rollout_pending_and_resumes(tmp_path, monkeypatch, one_thread):
    from megastep_envs.train import checkpoint

    collects, updates = counted(monkeypatch, Collector, "collect"), counted(monkeypatch, Learner, "update")
    saved_after, save = [], checkpoint.save

    def saving(path, state):
        saved_after.append((len(collects), len(updates)))
        return save(path, state)

    monkeypatch.setattr(checkpoint, "save", saving)
    # a checkpoint due after every update: an update that collected ahead is followed by one that learns from it
    first = ppo.train("minimal", config(checkpoint_minutes=1e-9), out=tmp_path, progress=False, updates=4)
    assert first.updates == 4 and len(collects) == 4
    resumed = ppo.train("minimal", None, out=tmp_path, resume=tmp_path / "checkpoint.pt", progress=False,
                        updates=3)
    assert resumed.updates == 7 and len(collects) == len(updates) == 7
    assert resumed.env_steps == 7 * 8 * 8
    # every checkpoint was written with every rollout collected so far learned from
    assert len(saved_after) >= 4 and all(collected == learned for collected, learned in saved_after)


def test_acting_while_learning_cannot_change_when_resuming(tmp_path, one_thread):
    ppo.train("minimal", config(), out=tmp_path, progress=False, updates=1)
    with pytest.raises(TrainError, match="act_while_learning"):
        ppo.train("minimal", {"act_while_learning": False}, out=tmp_path, resume=tmp_path / "checkpoint.pt",
                  progress=False, updates=1)
