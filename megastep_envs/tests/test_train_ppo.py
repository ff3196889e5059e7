"""PPO: hyperparameters, advantages, exact resume, and that an agent learns Minimal on the CPU."""
import dataclasses

import pytest
import torch

from megastep_envs.registry import make
from megastep_envs.train import distributed, ppo
from megastep_envs.train.advantages import gae
from megastep_envs.train.hyperparameters import DEFAULTS, Hyperparameters, TrainError, defaults
from megastep_envs.train.learner import LOSSES
from megastep_envs.train.model import Agent, ModelError
from megastep_envs.train.rollout import GOAL_TARGET, observe, sample, unsqueeze

# short lifespans so that episodes end (and envs reset) within the few steps of a test
SHORT = {"lifespan": (8, 16)}



def tiny(**changes) -> Hyperparameters:
    """Four updates of 4 envs x 8 steps with a small network."""
    fields = {"envs": 4, "steps": 8, "total_steps": 4 * 8 * 4, "hidden": 16, "device": "cpu", **changes}
    return dataclasses.replace(defaults("minimal"), **fields)


@pytest.mark.parametrize("field, value", [("envs", 0), ("steps", -1), ("gamma", 1.5), ("learning_rate", 0.0),
                                          ("entropy", -0.1), ("minibatches", 2.5)])
def test_hyperparameters_out_of_range_are_refused(field, value):
    with pytest.raises(TrainError, match=field):
        dataclasses.replace(Hyperparameters(), **{field: value}).check()


def test_every_env_has_defaults():
    from megastep_envs.registry import ENVS

    assert set(DEFAULTS) == set(ENVS)
    assert defaults("pointgoal").lstm  # its goal is shown once: it needs memory


def test_advantages_match_a_hand_computation():
    gamma, lam = 0.9, 0.8
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [0.4], [0.3]])
    dones = torch.tensor([[False], [True], [False]])  # the episode ends after step 1
    next_value = torch.tensor([0.7])
    advantages, targets = gae(rewards, values, dones, next_value, gamma, lam)
    delta2 = 2.0 + gamma * 0.7 - 0.3
    delta1 = 0.0 - 0.4  # nothing follows the end of an episode
    delta0 = 1.0 + gamma * 0.4 - 0.5
    expected = torch.tensor([delta0 + gamma * lam * delta1, delta1, delta2])
    assert torch.allclose(advantages[:, 0], expected)
    assert torch.allclose(targets[:, 0], expected + values[:, 0])


@pytest.mark.parametrize("lstm", [False, True])
def test_resume_continues_exactly(tmp_path, lstm, one_thread):
    config = tiny(lstm=lstm)
    straight = ppo.train("minimal", config, out=tmp_path / "straight", progress=False, env_options=SHORT)
    half = ppo.train("minimal", config, out=tmp_path / "split", progress=False, updates=2, env_options=SHORT)
    assert half.updates == 2
    resumed = ppo.train("minimal", config, out=tmp_path / "split", resume=tmp_path / "split" / "checkpoint.pt",
                        progress=False)
    assert (straight.updates, resumed.updates, resumed.env_steps) == (4, 4, straight.env_steps)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming"
    # and the halves really trained: the parameters moved from where the first half left them
    assert not torch.equal(half.model.policy.weight, resumed.model.policy.weight)


def test_resume_refuses_another_env(tmp_path, one_thread):
    ppo.train("minimal", tiny(total_steps=32), out=tmp_path, progress=False)
    with pytest.raises(TrainError, match="trained 'minimal', not 'pointgoal'"):
        ppo.train("pointgoal", tiny(), resume=tmp_path / "checkpoint.pt", progress=False)


def test_env_options_must_fit_in_a_checkpoint(tmp_path):
    from megastep_geometry import toys

    with pytest.raises(TrainError, match="env_options must hold only numbers"):
        ppo.train("minimal", tiny(), out=tmp_path, env_options={"geometries": [toys.box(3.0, 3.0)]})


def play(env, model, seed: int, steps: int):
    """The steps of fresh ``env`` acted by ``model`` (random actions for ``None``), drawn from ``seed``."""
    obs = observe(env, env.reset().obs)
    generator = torch.Generator().manual_seed(seed)
    memory = model.initial_state(env.n_envs, "cpu") if model is not None else ()
    starts = torch.ones(env.n_envs, dtype=torch.bool)
    with torch.no_grad():
        for _ in range(steps):
            if model is None:
                actions = env.sample_actions()
            else:
                logits, _, memory = model(unsqueeze(obs), memory, starts[None])
                actions = sample(logits[0], generator)
            step = env.step(actions)
            obs, starts = observe(env, step.obs), step.terminated | step.truncated
            yield step


def mean_reward(model, seed: int, steps: int = 64, envs: int = 16) -> float:
    """Mean reward per step of ``model`` (or of random actions, for ``None``) on fresh Minimal envs."""
    env = make("minimal", envs, device="cpu", seed=seed)
    return sum(step.reward.mean().item() for step in play(env, model, seed, steps)) / steps


@pytest.mark.parametrize("seed, lstm", [(0, False), (1, False), (2, False), (0, True)])
def test_an_agent_learns_minimal(seed, lstm, one_thread):
    """Six updates of 512 env steps (a few seconds each) take an agent from standing about to running.

    Minimal pays metres per second moved forward: random actions earn about nothing (forward and back
    cancel out), a policy that runs and turns before walls earns a good part of its 1 m/s. With an LSTM,
    the update re-runs whole sequences through the memory, a different path through the code.
    """
    config = dataclasses.replace(defaults("minimal"), envs=16, steps=32, total_steps=6 * 512, seed=seed,
                                 device="cpu", lstm=lstm)
    trained = ppo.train("minimal", config, progress=False)
    learned, random = mean_reward(trained.model, 500 + seed), mean_reward(None, 500 + seed)
    assert learned > random + 0.1, f"seed {seed}: trained {learned:.3f} m/s, random {random:.3f} m/s"


def test_periodic_evaluation_is_logged_under_eval(tmp_path, one_thread):
    config = tiny(total_steps=4 * 8 * 2, eval_minutes=1e-9, eval_episodes=2)  # after every update
    ppo.train("minimal", config, out=tmp_path, progress=False, env_options=SHORT)
    import json

    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(any(key.startswith("eval/") for key in record) for record in records)
    assert sorted(p.name for p in tmp_path.glob("eval-*.mp4")) == ["eval-000001.mp4", "eval-000002.mp4"]


def successes(model, env_options: dict, seed: int, steps: int = 96, envs: int = 16) -> float:
    """Goals reached per env in ``steps`` steps of fresh PointGoal envs, by ``model`` (or random actions)."""
    env = make("pointgoal", envs, device="cpu", seed=seed, **env_options)
    return sum(int(step.terminated.sum()) for step in play(env, model, seed, steps)) / envs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_agent_learns_pointgoal_in_an_open_box(seed, open_room, one_thread):
    """With the goal re-told every step and paid for walking distance gained, a few updates take an agent from
    wandering to walking to its goals in a 4 x 4 m room. Random actions reach at most 0.13 goals per env here;
    trained runs of seeds 0-5 reached 0.56 to 1.5 (the spread of 40 updates), so a margin of 0.3 tells learning
    from chance for any seed."""
    options = {"geometries": [open_room], "goal_sensor": "every_step", "reward": "goal_progress",
               "lifespan": (48, 64)}
    config = dataclasses.replace(defaults("pointgoal", "cpu"), envs=16, steps=32, total_steps=40 * 512,
                                 learning_rate=1e-3, hidden=64, channels=8, lstm=False, seed=seed, device="cpu")
    trained = ppo.train("pointgoal", config, progress=False, env_options=options)
    learned, random = successes(trained.model, options, 700 + seed), successes(None, options, 700 + seed)
    assert learned > random + 0.3, f"seed {seed}: trained {learned:.2f} goals per env, random {random:.2f}"


def selfplay_config(**changes) -> Hyperparameters:
    fields = {"envs": 4, "steps": 8, "total_steps": 4 * 8 * 4, "hidden": 16, "channels": 8, "device": "cpu",
              "opponents": 0.5, "snapshot_minutes": 1e-9, **changes}  # a snapshot after every update
    return dataclasses.replace(defaults("deathmatch", "cpu"), **fields)


def test_self_play_rates_snapshots_and_learns_only_its_own_agents(tmp_path, pillar_room, one_thread):
    from megastep_envs.train import checkpoint
    from megastep_envs.train.distributed import Process
    from megastep_envs.train.ppo import build

    options = {"geometries": [pillar_room], "lifespan": (4, 6)}
    parts = build("deathmatch", selfplay_config(), options, Process())
    # the opponents are agents 1 and 3 of the first two of four envs: rows 1, 3, 5, 7 of 16
    assert parts.selfplay.rows.tolist() == [1, 3, 5, 7]
    assert parts.learner.columns.tolist() == [0, 2, 4, 6, *range(8, 16)]
    result = ppo.train("deathmatch", selfplay_config(), out=tmp_path, progress=False,
                       env_options={"lifespan": (4, 6)})
    import json

    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all("selfplay/elo" in r and r["selfplay/snapshots"] >= 1 for r in records)
    assert any("selfplay/win_rate" in r for r in records)
    saved = checkpoint.load(tmp_path / "checkpoint.pt")["selfplay"]
    assert len(saved["snapshots"]) == 1 + result.updates  # the first policy, then one after each update
    assert {p[0] for p in saved["elo"]["players"]} >= {"current", "update-0"}
    minutes = [saved["minutes"][name] for name in saved["snapshots"]]  # when each was taken, in order
    assert minutes[0] == 0 and minutes == sorted(minutes) and minutes[-1] > 0


def test_self_play_resumes_exactly(tmp_path, one_thread):
    options = {"lifespan": (4, 6)}
    straight = ppo.train("deathmatch", selfplay_config(), out=tmp_path / "a", progress=False, env_options=options)
    ppo.train("deathmatch", selfplay_config(), out=tmp_path / "b", progress=False, env_options=options, updates=2)
    resumed = ppo.train("deathmatch", None, out=tmp_path / "b", resume=tmp_path / "b" / "checkpoint.pt",
                        progress=False)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming"


def test_the_schedule_ends_with_whichever_budget_ends_first():
    from megastep_envs.train.ppo import schedule_progress

    assert schedule_progress(25, 100, elapsed=0.0, time_limit_minutes=0.0) == 0.25
    assert schedule_progress(25, 100, elapsed=30.0, time_limit_minutes=1.0) == 0.5  # the time limit is nearer
    assert schedule_progress(75, 100, elapsed=30.0, time_limit_minutes=1.0) == 0.75
    assert schedule_progress(10, 100, elapsed=90.0, time_limit_minutes=1.0) == 1.0  # past the limit: zero rate


def test_goal_prediction_learns_from_the_goal_the_env_knows(open_room, one_thread):
    """The goal target a rollout stores is the goal in the agent's current frame: with the goal re-told every
    step it is what the agent observed. The network's goal head learns it; envs without goals refuse the option."""
    options = {"geometries": [open_room], "goal_sensor": "every_step", "lifespan": (16, 24)}
    config = dataclasses.replace(defaults("pointgoal", "cpu"), envs=8, steps=16, hidden=32, channels=4, lstm=True,
                                 minibatches=2, goal_prediction=1.0, learning_rate=3e-3, device="cpu")
    parts = ppo.build("pointgoal", config, options, distributed.Process(device=torch.device("cpu")))
    rollout = parts.collector.collect()[0]
    assert torch.equal(rollout.obs[GOAL_TARGET], rollout.obs["goal"].reshape(16, 8, 2))
    first = parts.learner.update(rollout)[LOSSES.index("goal_loss")]
    for _ in range(15):
        last = parts.learner.update(parts.collector.collect()[0])[LOSSES.index("goal_loss")]
    assert 0 < last < 0.5 * first, f"goal loss {float(first):.3f} -> {float(last):.3f}"
    minimal = dataclasses.replace(tiny(), goal_prediction=1.0)
    with pytest.raises(TrainError, match="goal_prediction .* minimal gives none"):
        ppo.build("minimal", minimal, {}, distributed.Process(device=torch.device("cpu")))
    with pytest.raises(ModelError, match="goal_head=True"):
        Agent(parts.env.observation_space, parts.env.action_space, hidden=8)(
            {k: v[:1] for k, v in rollout.obs.items()}, (), rollout.starts[:1], with_goal=True)
