"""On a GPU: rollouts replayed from CUDA graphs act and earn exactly as eager ones, and never wait on the device."""
import pytest
import torch

from megastep_envs.registry import make
from megastep_envs.train.model import Agent
from megastep_envs.train.rollout import Collector


def collect(name: str, graphed: bool, rollouts: int, geometry, lstm: bool = True):
    """``rollouts`` rollouts of 8 steps of 16 envs, seeded; the actions, rewards and ends of each."""
    torch.manual_seed(0)
    env = make(name, 16, geometries=[geometry], device="cuda", lifespan=(5, 9), cuda_graph=graphed, seed=3)
    model = Agent(env.observation_space, env.action_space, hidden=32, lstm=lstm).cuda()
    collector = Collector(env, model, name, env.reset().obs, steps=8, gamma=0.99,
                          generator=torch.Generator("cuda").manual_seed(1), bf16=False)
    if not graphed:
        collector.eager_reason = "the test's eager reference"
    seen = []
    for _ in range(rollouts):
        rollout, _ = collector.collect()
        seen.append([rollout.actions.clone(), rollout.rewards.clone(), rollout.dones.clone(),
                     rollout.logprobs.clone(), rollout.next_value.clone()])
    return seen, collector


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["minimal", "explorer", "deathmatch"])
def test_a_graphed_rollout_acts_and_earns_as_an_eager_one(name, pillar_room):
    eager, _ = collect(name, False, 3, pillar_room)
    graphed, collector = collect(name, True, 3, pillar_room)
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
