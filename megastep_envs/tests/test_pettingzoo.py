"""The PettingZoo adapter: PettingZoo's own API and seed tests, and how agents map onto the batch."""
import numpy as np
import pytest
import torch

pytest.importorskip("pettingzoo", reason="the PettingZoo adapter needs the 'pettingzoo' extra")
adapter = pytest.importorskip("megastep_envs.adapters.pettingzoo")

from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402


@pytest.fixture
def room():
    from megastep_geometry import toys

    return [toys.box(4.0, 4.0)]


def deathmatch(room, **options):
    return adapter.MegastepParallelEnv("deathmatch", geometries=room, device="cpu", lifespan=(6, 10),
                                       pixels=64, **options)


def test_deathmatch_passes_pettingzoos_parallel_api_test(room):
    env = deathmatch(room)
    assert env.possible_agents == ["agent_0", "agent_1", "agent_2", "agent_3"]
    parallel_api_test(env, num_cycles=30)


def test_a_single_agent_env_is_one_agent(room):
    env = adapter.MegastepParallelEnv("minimal", geometries=room, device="cpu", lifespan=(4, 6))
    assert env.possible_agents == ["agent_0"]
    parallel_api_test(env, num_cycles=12)


def test_the_same_seed_gives_the_same_episodes(room):
    parallel_seed_test(lambda: deathmatch(room, n_agents=2), num_cycles=10)


def test_agents_are_rows_of_the_agent_axis_and_leave_together(room):
    env = deathmatch(room, n_agents=3)
    observations, _ = env.reset(seed=1)
    first = env.env.last_obs
    for a, agent in enumerate(env.agents):
        assert np.array_equal(observations[agent]["rgb"], first["rgb"][0, a].numpy())
    steps = 0
    while env.agents:
        actions = {agent: a + 1 for a, agent in enumerate(env.agents)}
        observations, rewards, terminations, truncations, _ = env.step(actions)
        steps += 1
        reward = env.env.last_reward[0]
        assert [rewards[agent] for agent in env.possible_agents] == pytest.approx(reward.tolist())
    assert 6 <= steps <= 10 and all(truncations.values()) and set(terminations) == set(env.possible_agents)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})


def test_bad_actions_name_the_agents(room):
    env = deathmatch(room, n_agents=2)
    env.reset()
    with pytest.raises(ValueError, match=r"one entry for each agent in env.agents \['agent_0', 'agent_1'\]"):
        env.step({"agent_0": 1})


def test_render_draws_the_home(room):
    env = deathmatch(room, n_agents=2, render_mode="rgb_array")
    env.reset()
    env.step({agent: 0 for agent in env.agents})
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env.close()
    assert torch.is_tensor(env.env.last_obs["rgb"])
