"""Saving an env's state and restoring it into a twin: the twin then steps exactly like the original."""
import pytest
import torch

from megastep_envs.registry import make
from megastep_envs.train.envstate import EnvState, EnvStateError


def make_env(name, room):
    options = {"n_agents": 2} if name == "deathmatch" else {}
    # short lifespans, so that envs reset within the few steps of a test
    return make(name, 4, geometries=[room], device="cpu", seed=3, lifespan=(8, 16), **options)


def run(env, steps):
    """The observations, rewards and flags of ``steps`` random steps."""
    record = []
    for _ in range(steps):
        step = env.step(env.sample_actions())
        record.append((step.obs, step.reward, step.terminated, step.truncated))
    return record


def same(a, b):
    """Whether two records of :func:`run` are identical, tensor for tensor."""
    return all(
        all(torch.equal(obs_a[k], obs_b[k]) for k in obs_a) and torch.equal(ra, rb) and torch.equal(ta, tb)
        and torch.equal(ua, ub)
        for (obs_a, ra, ta, ua), (obs_b, rb, tb, ub) in zip(a, b)
    )


@pytest.mark.parametrize("name", ["minimal", "pointgoal", "explorer", "deathmatch"])
def test_a_restored_twin_continues_exactly(name, room):
    env = make_env(name, room)
    env.reset()
    tracker = EnvState(env)
    run(env, 20)  # beyond the shortest lifespan: some envs have reset
    saved = tracker.state_dict()

    twin = make_env(name, room)
    twin.reset()
    EnvState(twin).load_state_dict(saved)
    assert same(run(env, 30), run(twin, 30))


def test_an_unrestored_twin_does_not(room):
    """The check above can fail: a twin that skips the restore steps differently."""
    env, twin = make_env("minimal", room), make_env("minimal", room)
    env.reset()
    twin.reset()
    run(env, 20)
    assert not same(run(env, 20), run(twin, 20))


def test_static_tensors_are_not_saved(room):
    env = make_env("explorer", room)
    env.reset()
    tracker = EnvState(env)
    run(env, 5)
    saved = tracker.state_dict()["tensors"]
    assert ".world.agents.positions" in saved and ".reward.stamps" in saved
    assert not any("textures" in name or "baked" in name for name in saved)


def test_a_state_of_another_env_is_refused(room):
    explorer = make_env("explorer", room)
    explorer.reset()
    tracker = EnvState(explorer)
    run(explorer, 5)
    saved = tracker.state_dict()
    minimal = make_env("minimal", room)
    minimal.reset()
    with pytest.raises(EnvStateError, match="another env"):
        EnvState(minimal).load_state_dict(saved)
