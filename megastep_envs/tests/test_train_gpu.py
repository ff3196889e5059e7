"""On a GPU: rollouts replayed from CUDA graphs act and earn exactly as eager ones, and never wait on the device;
collected beside an update on another stream, as one collected alone."""
import dataclasses

import pytest
import torch

from megastep_envs.registry import make
from megastep_envs.train.model import Agent
from megastep_envs.train.rollout import GOAL_TARGET, Collector
from megastep_envs.train.selfplay import SelfPlay


def collect(name: str, graphed: bool, rollouts: int, geometry, lstm: bool = True, opponents: float = 0.0,
            goal_target: bool = False, dense_strips: bool = False):
    """``rollouts`` rollouts of 8 steps of 16 envs, seeded; the actions, rewards and ends of each (and with
    ``goal_target`` the goals the rollout stores for ``goal_prediction``)."""
    torch.manual_seed(0)
    env = make(name, 16, geometries=[geometry], device="cuda", lifespan=(5, 9), cuda_graph=graphed, seed=3)
    model = Agent(env.observation_space, env.action_space, hidden=32, lstm=lstm, dense_strips=dense_strips).cuda()
    selfplay = None
    if opponents:
        selfplay = SelfPlay(env, model, opponents)
        torch.manual_seed(1)
        selfplay.pool.add("other", Agent(env.observation_space, env.action_space, hidden=32, lstm=lstm).state_dict())
        selfplay.pool.current_probability = 0.0  # always the other network
        selfplay.choose(model)
    collector = Collector(env, model, name, env.reset().obs, steps=8, gamma=0.99,
                          generator=torch.Generator("cuda").manual_seed(1), bf16=False, selfplay=selfplay,
                          goal_target=goal_target)
    if not graphed:
        collector.eager_reason = "the test's eager reference"
    seen = []
    for r in range(rollouts):
        rollout, _ = collector.collect()
        seen.append([rollout.actions.clone(), rollout.rewards.clone(), rollout.dones.clone(),
                     rollout.logprobs.clone(), rollout.next_value.clone(),
                     *([rollout.obs[GOAL_TARGET].clone()] if goal_target else [])])
        # as an update would, change the weights in place: the graphs must act with the new ones
        noise = torch.Generator("cuda").manual_seed(7 + r)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, device="cuda", generator=noise))
    return seen, collector


@pytest.mark.gpu
@pytest.mark.parametrize("name, dense_strips", [("minimal", False), ("explorer", False), ("explorer", True),
                                                ("deathmatch", False)])
def test_a_graphed_rollout_acts_and_earns_as_an_eager_one(name, dense_strips, pillar_room):
    eager, _ = collect(name, False, 3, pillar_room, dense_strips=dense_strips)
    graphed, collector = collect(name, True, 3, pillar_room, dense_strips=dense_strips)
    assert collector.graphed, collector.eager_reason
    for r, (a, b) in enumerate(zip(eager, graphed)):
        for what, x, y in zip(["actions", "rewards", "dones", "logprobs", "next values"], a, b):
            assert torch.allclose(x.float(), y.float(), atol=1e-5), f"rollout {r}: the {what} differ"


@pytest.mark.gpu
def test_a_graphed_rollout_never_waits_for_the_device(pillar_room):
    _, collector = collect("explorer", True, 2, pillar_room)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        collector.collect()
    finally:
        torch.cuda.set_sync_debug_mode(0)


@pytest.mark.gpu
def test_a_graphed_self_play_rollout_acts_as_an_eager_one(pillar_room):
    """With opponents: their network's rows are replaced inside the captured act graph too."""
    eager, _ = collect("deathmatch", False, 3, pillar_room, opponents=0.5)
    graphed, collector = collect("deathmatch", True, 3, pillar_room, opponents=0.5)
    assert collector.graphed, collector.eager_reason
    for r, (a, b) in enumerate(zip(eager, graphed)):
        for what, x, y in zip(["actions", "rewards", "dones", "logprobs", "next values"], a, b):
            assert torch.allclose(x.float(), y.float(), atol=1e-5), f"rollout {r}: the {what} differ"
    assert collector.statistics[5] > 0  # games against the opponent were counted


@pytest.mark.gpu
def test_a_graphed_rollout_stores_the_goals_an_eager_one_does(pillar_room):
    """``goal_prediction``'s targets are read from the env inside the captured observe graph too."""
    eager, _ = collect("pointgoal", False, 3, pillar_room, goal_target=True)
    graphed, collector = collect("pointgoal", True, 3, pillar_room, goal_target=True)
    assert collector.graphed, collector.eager_reason
    for r, (a, b) in enumerate(zip(eager, graphed)):
        for what, x, y in zip(["actions", "rewards", "dones", "logprobs", "next values", "goals"], a, b):
            assert torch.allclose(x.float(), y.float(), atol=1e-5), f"rollout {r}: the {what} differ"


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["explorer", "deathmatch"])
def test_a_rollout_collected_while_learning_is_the_one_collected_alone(name, pillar_room):
    """Running ahead (``act_while_learning``), each rollout is collected on its own stream while an update runs on
    another: it must act and earn exactly as a rollout collected alone, in turn, by the same weights from the same
    envs. A kernel of either stream that read what the other writes would break it."""
    from torch.nn.utils import parameters_to_vector

    from megastep_envs.train.distributed import Process
    from megastep_envs.train.hyperparameters import defaults
    from megastep_envs.train.ppo import build

    def parts_of(ahead: bool):
        config = dataclasses.replace(defaults(name, "cuda"), envs=16, steps=8, hidden=32, channels=8, epochs=2,
                                     minibatches=2, seed=0, device="cuda", act_while_learning=ahead)
        options = {"geometries": [pillar_room], "lifespan": (5, 9)}
        return build(name, config, options, Process(device=torch.device("cuda")))

    ahead = parts_of(True)
    actors, rollouts = [], []
    for _ in range(3):  # the third update replays the captured one, beside a replayed rollout
        ahead.pipeline.update()
        rollout = ahead.collector.rollout
        actors.append(parameters_to_vector(ahead.collector.model.parameters()).clone())
        rollouts.append([rollout.actions.clone(), rollout.rewards.clone(), rollout.dones.clone(),
                         rollout.logprobs.clone(), rollout.next_value.clone()])
    actor_parameters = list(ahead.collector.model.parameters())
    assert ahead.collector.graphed and ahead.learner.graphed, (ahead.collector.eager_reason, ahead.learner.eager_reason)
    alone = parts_of(False)
    alone.collector.collect()  # the first rollout, which the pipeline collected before its first update
    for k, (weights, expected) in enumerate(zip(actors, rollouts)):
        with torch.no_grad():  # in place: the captured graphs read the parameters where they are
            for parameter, own in zip(alone.model.parameters(), weights.split([p.numel() for p in actor_parameters])):
                parameter.copy_(own.view_as(parameter))
        rollout = alone.collector.collect()[0]
        seen = [rollout.actions, rollout.rewards, rollout.dones, rollout.logprobs, rollout.next_value]
        for what, x, y in zip(["actions", "rewards", "dones", "logprobs", "next values"], expected, seen):
            assert torch.allclose(x.float(), y.float(), atol=1e-5), f"rollout {k + 1}: the {what} differ"
