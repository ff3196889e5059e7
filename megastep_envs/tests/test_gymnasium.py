"""The Gymnasium adapter: registration, make_vec, spaces, same-step autoreset, episode statistics,
and Gymnasium's own checks."""
import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium", reason="the Gymnasium adapter needs the 'gymnasium' extra")
adapter = pytest.importorskip("megastep_envs.adapters.gymnasium")

from gymnasium.utils.env_checker import check_env, data_equivalence  # noqa: E402
from gymnasium.utils.passive_env_checker import check_obs  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402
from gymnasium.vector.utils import batch_space  # noqa: E402

SHORT = {"device": "cpu", "lifespan": (4, 8)}


def numpy(tree):
    return {key: numpy(value) for key, value in tree.items()} if isinstance(tree, dict) else tree.cpu().numpy()


@pytest.fixture
def room():
    from megastep_geometry import toys

    return [toys.box(3.0, 3.0)]


def test_make_vec_with_the_vector_entry_point():
    envs = gymnasium.make_vec("megastep/Minimal-v0", num_envs=3, vectorization_mode="vector_entry_point",
                              device="cpu")
    assert isinstance(envs.unwrapped, adapter.MegastepVectorEnv) and envs.num_envs == 3
    assert envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert envs.spec.id == "megastep/Minimal-v0"
    # the module can be named in the id, for code that did not import it
    named = gymnasium.make_vec("megastep_envs.adapters.gymnasium:megastep/Minimal-v0", num_envs=2, device="cpu")
    assert named.num_envs == 2
    assert set(adapter.IDS.values()) <= set(gymnasium.registry)


@pytest.mark.parametrize("name, num_envs", [("minimal", 3), ("pointgoal", 2), ("deathmatch", 4)])
def test_spaces_describe_what_it_returns(name, num_envs, room):
    envs = adapter.MegastepVectorEnv(name, num_envs, geometries=room, n_agents=2, **SHORT) \
        if name == "deathmatch" else adapter.MegastepVectorEnv(name, num_envs, geometries=room, **SHORT)
    assert envs.observation_space == batch_space(envs.single_observation_space, num_envs)
    assert envs.action_space == batch_space(envs.single_action_space, num_envs)
    obs, info = envs.reset(seed=1)
    assert all(value.device.type == "cpu" and torch.is_tensor(value) for value in obs.values())
    check_obs(numpy(obs), envs.observation_space, "reset")
    for _ in range(10):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        check_obs(numpy(obs), envs.observation_space, "step")
        assert reward.shape == terminated.shape == truncated.shape == (num_envs,)
        assert terminated.dtype == truncated.dtype == torch.bool


def test_same_step_autoreset_and_episode_statistics(room):
    envs = adapter.MegastepVectorEnv("minimal", 4, geometries=room, **SHORT)
    obs, _ = envs.reset(seed=0)
    returns, lengths, finished = torch.zeros(4), torch.zeros(4, dtype=torch.int64), 0
    for _ in range(20):
        obs, reward, terminated, truncated, info = envs.step(torch.ones(4, dtype=torch.int64))  # forward
        returns += reward
        lengths += 1
        done = terminated | truncated
        assert torch.equal(info["_episode"], done) and torch.equal(info["_final_obs"], done)
        if done.any():
            episode = info["episode"]
            assert torch.allclose(episode["r"][done], returns[done], atol=1e-5)
            assert torch.equal(episode["l"][done], lengths[done])
            assert (episode["t"][done] >= 0).all()
            # the obs is already the next episode's first; final_obs is where the finished one ended
            assert not torch.equal(obs["rgb"][done], info["final_obs"]["rgb"][done])
            returns[done], lengths[done] = 0.0, 0
            finished += int(done.sum())
    assert finished >= 4  # lifespans of 4 to 8 steps: every env finished at least once


def test_a_seed_gives_the_same_episodes(room):
    envs = adapter.MegastepVectorEnv("minimal", 3, geometries=room, **SHORT)
    actions = [torch.randint(7, (3,), generator=torch.Generator().manual_seed(t)) for t in range(6)]

    def episode(seed):
        obs, _ = envs.reset(seed=seed)
        return [numpy(obs)] + [numpy(envs.step(a)[0]) for a in actions]

    first, again, other = episode(5), episode(5), episode(6)
    assert data_equivalence(first, again, exact=True)
    assert not data_equivalence(first, other)


def test_numpy_actions_and_bad_actions(room):
    envs = adapter.MegastepVectorEnv("minimal", 2, geometries=room, **SHORT)
    envs.reset()
    envs.step(np.array([1, 5]))
    with pytest.raises(ValueError, match=r"actions must have shape \(2,\)"):
        envs.step(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="multiple of the 4 agents"):
        adapter.MegastepVectorEnv("deathmatch", 6, geometries=room, **SHORT)


def test_the_single_env_passes_gymnasiums_check_env():
    env = gymnasium.make("megastep/Minimal-v0", device="cpu", render_mode="rgb_array")
    check_env(env.unwrapped)
    with pytest.raises(ValueError, match="make_vec"):
        gymnasium.make("megastep/Deathmatch-v0", device="cpu")


def rollout(envs, steps, seed=0):
    """``steps`` steps of forward actions after a reset: every step's ``(obs, reward, terminated, truncated,
    info)``, the reset's first."""
    obs, info = envs.reset(seed=seed)
    forward = torch.ones(envs.num_envs, dtype=torch.int64)
    return [(obs, None, None, None, info)] + [envs.step(forward) for _ in range(steps)]


def test_next_step_autoreset_returns_the_last_observation_then_the_first(room):
    envs = adapter.MegastepVectorEnv("minimal", 4, geometries=room, autoreset_mode="NextStep", **SHORT)
    twin = adapter.MegastepVectorEnv("minimal", 4, geometries=room, **SHORT)  # same seed, SAME_STEP
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    steps, same = rollout(envs, 30), rollout(twin, 30)
    ended = [t for t in range(1, 31) if (steps[t][2] | steps[t][3]).any()]
    first = ended[0]
    for t in range(1, first + 1):  # up to the first end, the two modes differ only in what they show
        done = same[t][2] | same[t][3]
        expected = torch.where(done[:, None, None, None], same[t][4]["final_obs"]["rgb"], same[t][0]["rgb"])
        assert torch.equal(steps[t][0]["rgb"], expected)
    restarts = 0
    for t in ended:
        done = steps[t][2] | steps[t][3]
        assert "final_obs" not in steps[t][4]
        after = steps[t + 1] if t + 1 < len(steps) else None
        if after is None:
            continue
        # the step after an end ignores the action: no pay, no end, and a fresh episode whose length is 0
        assert (after[1][done] == 0).all() and not (after[2][done] | after[3][done]).any()
        restarts += int(done.sum())
    assert restarts >= 4
    # episodes are counted as Gymnasium's own RecordEpisodeStatistics counts them in NEXT_STEP mode
    lengths = [int(length) for *_, info in steps[1:] if "episode" in info
               for length in info["episode"]["l"][info["_episode"]]]
    assert lengths and all(4 <= length <= 8 for length in lengths)


def test_next_step_statistics_agree_with_gymnasiums_wrapper(room):
    pytest.importorskip("array_api_compat", reason="Gymnasium's array conversion needs gymnasium[torch]")
    from gymnasium.wrappers.vector import ArrayConversion, RecordEpisodeStatistics

    ours = adapter.MegastepVectorEnv("minimal", 3, geometries=room, autoreset_mode="next_step", **SHORT)
    theirs = RecordEpisodeStatistics(ArrayConversion(adapter.MegastepVectorEnv(
        "minimal", 3, geometries=room, autoreset_mode="next_step", episode_statistics=False, **SHORT),
        env_xp=torch, target_xp=np))
    finished = 0
    for (*_, mine), (*_, gymnasiums) in zip(rollout(ours, 25)[1:], rollout(theirs, 25)[1:]):
        assert ("episode" in mine and bool(mine["_episode"].any())) == ("episode" in gymnasiums)
        if "episode" in gymnasiums:
            done = np.asarray(gymnasiums["_episode"])
            assert np.array_equal(mine["_episode"].numpy(), done)
            assert np.array_equal(mine["episode"]["l"].numpy()[done], gymnasiums["episode"]["l"][done])
            assert np.allclose(mine["episode"]["r"].numpy()[done], gymnasiums["episode"]["r"][done], atol=1e-5)
            finished += int(done.sum())
    assert finished >= 3


def test_disabled_autoreset_resets_what_the_caller_asks(room):
    envs = adapter.MegastepVectorEnv("minimal", 3, geometries=room, autoreset_mode=AutoresetMode.DISABLED,
                                     device="cpu", lifespan=(50, 60))
    envs.reset(seed=0)
    for _ in range(3):
        envs.step(torch.ones(3, dtype=torch.int64))
    obs, _ = envs.reset(options={"reset_mask": np.array([False, True, False])})
    assert envs.env.lengths.tolist() == [3, 0, 3] and obs["rgb"].shape == (3, 1, 3, 16)
    with pytest.raises(ValueError, match=r"reset_mask'\] must be a \(3,\) bool array"):
        envs.reset(options={"reset_mask": np.array([1, 0, 0])})
    with pytest.raises(ValueError, match="only 'reset_mask'"):
        envs.reset(options={"other": 1})
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        adapter.MegastepVectorEnv("minimal", 3, autoreset_mode="sometimes", device="cpu")
