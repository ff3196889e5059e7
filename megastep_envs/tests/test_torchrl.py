"""The TorchRL adapter: specs with the batch dimension, TorchRL's own spec check, partial resets."""
import pytest
import torch

pytest.importorskip("torchrl", reason="the TorchRL adapter needs the 'torchrl' extra")
adapter = pytest.importorskip("megastep_envs.adapters.torchrl")

from tensordict import TensorDict  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402

SHORT = {"device": "cpu", "lifespan": (4, 8)}


@pytest.fixture
def room():
    from megastep_geometry import toys

    return [toys.box(3.0, 3.0)]


@pytest.mark.parametrize("name", ["minimal", "pointgoal", "explorer"])
def test_single_agent_envs_pass_check_env_specs(name, room):
    env = adapter.MegastepTorchRLEnv(name, 3, geometries=room, **SHORT)
    assert env.batch_size == (3,)
    assert env.action_spec.shape == (3,) and env.reward_spec.shape == (3, 1)
    assert env.full_done_spec["truncated"].shape == (3, 1)
    check_env_specs(env)


def test_multi_agent_entries_are_nested_with_batch_envs_by_agents(room):
    env = adapter.MegastepTorchRLEnv("deathmatch", 3, geometries=room, n_agents=2, **SHORT)
    assert env.observation_spec["agents"].shape == (3, 2)
    assert env.observation_spec["agents", "rgb"].shape[:2] == (3, 2)
    assert env.full_action_spec["agents", "action"].shape == (3, 2)
    assert env.full_reward_spec["agents", "reward"].shape == (3, 2, 1)
    check_env_specs(env)
    rollout = env.rollout(5, break_when_any_done=False)
    assert rollout["next", "agents", "reward"].shape == (3, 5, 2, 1)


def test_partial_resets_hand_over_the_next_episode(room):
    env = adapter.MegastepTorchRLEnv("minimal", 4, geometries=room, **SHORT)
    rollout = env.rollout(24, break_when_any_done=False)  # TorchRL resets the finished envs as it goes
    done = rollout["next", "done"][..., 0]
    assert done.sum() >= 4 and not done.all()
    following = rollout["rgb"][:, 1:]
    final = rollout["next", "rgb"][:, :-1]
    same = (following == final).flatten(2).all(-1)
    # within an episode the next observation is the following step's; after an end it is the final one
    assert torch.equal(same, ~done[:, :-1])
    assert torch.equal(rollout["next", "done"], rollout["next", "terminated"] | rollout["next", "truncated"])


def test_a_running_env_asked_to_reset_starts_again(room):
    env = adapter.MegastepTorchRLEnv("minimal", 3, geometries=room, device="cpu", lifespan=(50, 60))
    state = env.reset()
    for _ in range(3):
        state = env.step_mdp(env.step(env.rand_action(state)))
    assert (env.env.lengths == 3).all()
    mask = torch.tensor([[False], [True], [False]])
    env.reset(state.set("_reset", mask))
    assert env.env.lengths.tolist() == [3, 0, 3]


def test_a_seed_gives_the_same_episodes(room):
    env = adapter.MegastepTorchRLEnv("minimal", 2, geometries=room, **SHORT)

    def episode(seed):
        env.set_seed(seed)
        torch.manual_seed(0)  # rollout's random actions
        return env.rollout(10, break_when_any_done=False)

    assert torch.equal(episode(3)["next", "rgb"], episode(3)["next", "rgb"])
    assert not torch.equal(episode(3)["next", "rgb"], episode(4)["next", "rgb"])


def test_the_adapter_uses_the_envs_public_api_only():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(adapter))
    private = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                      and isinstance(node.value, ast.Attribute) and node.value.attr == "env"
                      and node.attr.startswith("_")})
    assert not private, f"the TorchRL adapter calls the env's private {private}"


@pytest.mark.gpu
def test_partial_resets_wait_for_nothing_on_the_gpu(room):
    # the adapter's own _step and _reset: TorchRL's checks around them are TorchRL's business
    env = adapter.MegastepTorchRLEnv("minimal", 8, geometries=room, device="cuda", lifespan=(2, 4))
    state = env.reset()
    action = TensorDict({"action": torch.ones(8, dtype=torch.int64, device="cuda")}, batch_size=(8,))
    some = TensorDict({"_reset": torch.arange(8, device="cuda")[:, None] % 2 == 0}, batch_size=(8,))
    env._step(action)
    env._reset(some)  # first-use setup may synchronise once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(6):  # through several ends of episodes
            state = env._step(action)
            state = env._reset(some)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert state["rgb"].shape[0] == 8
