"""Gymnasium's vector wrappers on megastep's vector env: one test per wrapper of
:mod:`gymnasium.wrappers.vector` that applies to Box and Dict spaces, each run with NumPy arrays
(``ArrayConversion`` under the wrapper) and with torch tensors (``NumpyToTorch`` above it too)."""
import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium", reason="the Gymnasium adapter needs the 'gymnasium' extra")
pytest.importorskip("array_api_compat", reason="Gymnasium's array conversion needs gymnasium[torch]")
adapter = pytest.importorskip("megastep_envs.adapters.gymnasium")

from gymnasium.spaces import Box  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402
from gymnasium.wrappers import vector as wrappers  # noqa: E402

STEPS = 10


def make(env="minimal", **options):
    """3 sub-envs in NEXT_STEP mode, as NumPy arrays; episodes of 2-4 steps, so that some end in a test."""
    options = {"device": "cpu", "lifespan": (2, 4), "autoreset_mode": AutoresetMode.NEXT_STEP, **options}
    envs = adapter.MegastepVectorEnv(env, 3, **options)
    return wrappers.ArrayConversion(envs, env_xp=torch, target_xp=np, env_device=envs.device)


def run(envs, library: str, steps: int = STEPS):
    """Resets and steps ``envs`` (wrapped in ``NumpyToTorch`` for ``library == "torch"``); checks that what
    comes out is of that library and lies in the wrapped observation space; returns every step's results."""
    if library == "torch":
        envs = wrappers.NumpyToTorch(envs, device="cpu")
    array = torch.Tensor if library == "torch" else np.ndarray
    obs, _ = envs.reset(seed=0)
    results = [(obs, None, None, None, {})]
    for _ in range(steps):
        results.append(envs.step(envs.action_space.sample()))
    for obs, reward, terminated, truncated, _ in results:
        leaves = list(obs.values()) if isinstance(obs, dict) else [obs]
        assert all(isinstance(leaf, array) for leaf in leaves)
        numpy_obs = {k: np.asarray(v) for k, v in obs.items()} if isinstance(obs, dict) else np.asarray(obs)
        assert envs.observation_space.contains(numpy_obs), f"{numpy_obs} outside {envs.observation_space}"
        if reward is not None:
            assert isinstance(reward, array) and isinstance(terminated, array) and isinstance(truncated, array)
    return results


libraries = pytest.mark.parametrize("library", ["numpy", "torch"])


@libraries
def test_record_episode_statistics(library):
    envs = wrappers.RecordEpisodeStatistics(make(episode_statistics=False))
    results = run(envs, library)
    finished = [info for *_, info in results if "episode" in info]
    assert finished, "no episode ended"
    for info in finished:
        lengths = np.asarray(info["episode"]["l"])[np.asarray(info["_episode"])]
        assert ((2 <= lengths) & (lengths <= 4)).all()


def test_record_episode_statistics_needs_the_envs_own_statistics_off():
    with pytest.raises(ValueError, match="already exists in info"):
        run(wrappers.RecordEpisodeStatistics(make()), "numpy")


@libraries
def test_dict_info_to_list(library):
    results = run(wrappers.DictInfoToList(make()), library)
    info = results[-1][-1]
    assert isinstance(info, list) and len(info) == 3


@libraries
def test_transform_observation(library):
    envs = make()
    space = Box(0.0, 2.0, envs.single_observation_space["rgb"].shape, np.float32)
    envs = wrappers.TransformObservation(envs, lambda obs: {"rgb": 2 * obs["rgb"]},
                                         single_observation_space=gymnasium.spaces.Dict({"rgb": space}))
    assert np.asarray(run(envs, library)[-1][0]["rgb"]).max() > 1.0


@libraries
def test_vectorize_transform_observation(library):
    envs = make()
    single = gymnasium.spaces.Dict({"rgb": Box(0.0, 1.0, (3,), np.float32)})
    envs = wrappers.VectorizeTransformObservation(
        envs, gymnasium.wrappers.TransformObservation,
        func=lambda obs: {"rgb": obs["rgb"].mean(axis=(0, 2))}, observation_space=single)
    assert np.asarray(run(envs, library)[-1][0]["rgb"]).shape == (3, 3)


@libraries
def test_filter_observation(library):
    envs = wrappers.FilterObservation(make("pointgoal"), ["rgb", "goal"])
    assert set(run(envs, library)[-1][0]) == {"rgb", "goal"}


@libraries
def test_flatten_observation(library):
    envs = wrappers.FlattenObservation(make("pointgoal"))
    size = gymnasium.spaces.flatdim(envs.env.single_observation_space)
    assert np.asarray(run(envs, library)[-1][0]).shape == (3, size)


def rgb_image(envs):
    """The ``rgb`` observation alone as a ``(C, W, 3)`` image, the layout Gymnasium's image wrappers take."""
    channels, _, pixels = envs.single_observation_space["rgb"].shape
    space = Box(0, 255, (channels, pixels, 3), np.uint8)
    return wrappers.TransformObservation(
        envs, lambda obs: (np.moveaxis(obs["rgb"], 2, 3) * 255).astype(np.uint8), single_observation_space=space)


@libraries
def test_grayscale_observation(library):
    envs = wrappers.GrayscaleObservation(rgb_image(make()))
    assert np.asarray(run(envs, library)[-1][0]).shape == (3, 1, 16)


@libraries
def test_resize_observation(library):
    pytest.importorskip("cv2", reason="Gymnasium's ResizeObservation needs opencv")
    envs = wrappers.ResizeObservation(rgb_image(make()), (2, 8))
    assert np.asarray(run(envs, library)[-1][0]).shape == (3, 2, 8, 3)


@libraries
def test_reshape_observation(library):
    envs = wrappers.ReshapeObservation(wrappers.FlattenObservation(make()), (3, 16))
    assert np.asarray(run(envs, library)[-1][0]).shape == (3, 3, 16)


@libraries
def test_rescale_observation(library):
    envs = wrappers.RescaleObservation(wrappers.FlattenObservation(make()), -1.0, 1.0)
    values = np.concatenate([np.asarray(obs).ravel() for obs, *_ in run(envs, library)])
    assert values.min() >= -1.0 and values.max() <= 1.0 and values.min() < 0.0


@libraries
def test_dtype_observation(library):
    envs = wrappers.DtypeObservation(wrappers.FlattenObservation(make()), np.float64)
    obs = run(envs, library)[-1][0]
    assert obs.dtype in (np.float64, torch.float64)


@libraries
def test_normalize_observation(library):
    envs = wrappers.NormalizeObservation(wrappers.FlattenObservation(make()))
    run(envs, library, steps=30)
    assert envs.obs_rms.count > 30 * 3 and np.isfinite(envs.obs_rms.var).all()


@libraries
def test_transform_action(library):
    taken = []

    def forward(actions):
        taken.append(actions)
        return np.ones_like(actions)

    run(wrappers.TransformAction(make(), forward), library)
    assert len(taken) == STEPS


@libraries
def test_vectorize_transform_action(library):
    envs = wrappers.VectorizeTransformAction(make(), gymnasium.wrappers.TransformAction, func=lambda action: 1,
                                             action_space=gymnasium.spaces.Discrete(7))
    run(envs, library)


@pytest.mark.parametrize("wrapper", [wrappers.ClipAction, wrappers.RescaleAction])
def test_box_action_wrappers_do_not_apply_to_discrete_actions(wrapper):
    # megastep's actions are Discrete: there is nothing to clip or rescale (the docs say so)
    arguments = () if wrapper is wrappers.ClipAction else (-1.0, 1.0)
    with pytest.raises(TypeError, match="requires a Box action space"):
        wrapper(make(), *arguments)


@libraries
def test_transform_reward(library):
    rewards = [reward for _, reward, *_ in run(wrappers.TransformReward(make(), lambda r: r + 100), library)[1:]]
    assert all((np.asarray(r) > 90).all() for r in rewards)


@libraries
def test_vectorize_transform_reward(library):
    envs = wrappers.VectorizeTransformReward(make(), gymnasium.wrappers.TransformReward, func=lambda r: r + 100)
    rewards = [reward for _, reward, *_ in run(envs, library)[1:]]
    assert all((np.asarray(r) > 90).all() for r in rewards)


@libraries
def test_clip_reward(library):
    rewards = [reward for _, reward, *_ in run(wrappers.ClipReward(make(), 0.0, 0.01), library)[1:]]
    assert all(((np.asarray(r) >= 0) & (np.asarray(r) <= 0.01)).all() for r in rewards)


@libraries
def test_normalize_reward(library):
    envs = wrappers.NormalizeReward(make())
    rewards = [reward for _, reward, *_ in run(envs, library, steps=30)[1:]]
    assert all(np.isfinite(np.asarray(r)).all() for r in rewards) and envs.return_rms.count > 1
