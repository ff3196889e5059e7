"""``Env.reset(mask)``, the public partial reset adapters use, and the warning for ``cuda_graph=True`` on the CPU."""
import pytest
import torch

from megastep_envs import make


@pytest.fixture
def room():
    from megastep_geometry import toys

    return [toys.box(3.0, 3.0)]


@pytest.mark.parametrize("name", ["minimal", "pointgoal", "explorer"])
def test_reset_with_a_mask_restarts_those_envs_only(name, room):
    env = make(name, 3, geometries=room, device="cpu", lifespan=(50, 60))
    env.reset()
    for _ in range(3):
        step = env.step(env.sample_actions())
    before = {key: value.clone() for key, value in step.obs.items()}
    positions = env.world.agents.positions.clone()
    obs, info = env.reset(torch.tensor([False, True, False]))
    assert env.lengths.tolist() == [3, 0, 3] and info == {}
    assert torch.equal(env.world.agents.positions[[0, 2]], positions[[0, 2]])
    assert not torch.equal(env.world.agents.positions[1], positions[1])
    for key, value in obs.items():  # the others' observations are as they were; the reset env's are its new ones
        assert torch.equal(value[[0, 2]], before[key][[0, 2]])
    fresh = env._observe(env.world.render())  # what a full look at the state gives
    for key, value in obs.items():
        assert torch.allclose(value, fresh[key][:, 0] if not env.multi_agent else fresh[key])
    assert not torch.equal(obs["rgb"][1], before["rgb"][1])


def test_reset_with_an_empty_mask_changes_nothing(room):
    env = make("minimal", 2, geometries=room, device="cpu")
    env.reset()
    env.step(env.sample_actions())
    obs, _ = env.reset(torch.zeros(2, dtype=torch.bool))
    assert env.lengths.tolist() == [1, 1] and torch.equal(obs["rgb"], env.last_obs["rgb"][:, 0])


def test_reset_with_a_bad_mask_says_what_it_must_be(room):
    env = make("minimal", 2, geometries=room, device="cpu")
    with pytest.raises(RuntimeError, match="call reset"):
        env.reset(torch.ones(2, dtype=torch.bool))
    env.reset()
    with pytest.raises(ValueError, match=r"mask must be a \(2,\) bool tensor, got \(3,\)"):
        env.reset(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool tensor, got list"):
        env.reset([True, False])


def test_cuda_graph_on_the_cpu_warns(room):
    with pytest.warns(UserWarning, match="cuda_graph=True is ignored on the cpu"):
        env = make("minimal", 2, geometries=room, device="cpu", cuda_graph=True)
    assert not env.cuda_graph
