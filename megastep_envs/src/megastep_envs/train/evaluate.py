"""Running a trained agent: its returns over fresh episodes, and a video of env 0.

The video has the frames of ``megastep demo`` (the plan of env 0 beside its
agents' observation strips, :mod:`megastep_envs.tools.plotting`), with the trained
policy choosing the actions.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch

from megastep_core.world import resolve_device

from . import checkpoint
from .hyperparameters import Hyperparameters, TrainError
from .model import Agent
from .ppo import make_env
from .rollout import METRIC_NAMES, episode_metric, observe, per_agent, sample, unsqueeze

EVAL_SEED_OFFSET = 10_000
"""Evaluation envs are seeded apart from the training ones, so their episodes are new to the agent."""

MAX_EVAL_ENVS = 64
"""Envs an evaluation runs by default (fewer if the run trained on fewer)."""


def load_agent(state: dict[str, Any], env, device, path="the checkpoint") -> Agent:
    """The network of a loaded checkpoint ``state``, built for ``env``'s spaces, on ``device``."""
    model = Agent.of(state["hyperparameters"], env.observation_space, env.action_space).to(device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise TrainError(f"the network in {path} does not fit the {env.name} env: {error}") from None
    return model.eval()


def evaluate(
    env_name: str,
    path: str | Path,
    steps: int = 300,
    video: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Runs the agent of checkpoint ``path`` for ``steps`` steps of fresh envs.

    :param overrides: hyperparameter fields to change for the run (``envs``, ``seed``, ``device``, ...).
    :returns: ``envs``, ``episodes`` finished, and their mean ``return`` and ``length`` (and the task's
        ``success_rate`` or ``coverage``) as floats, NaN where no episode finished; ``reward_per_step``,
        the mean reward of an agent in a step, over every step run.
    """
    saved = checkpoint.load(path)
    if saved["env"] != env_name:
        raise TrainError(f"checkpoint {path} trained {saved['env']!r}, not {env_name!r}")
    known = {field.name for field in dataclasses.fields(Hyperparameters)}
    config = Hyperparameters(**{k: v for k, v in saved["hyperparameters"].items() if k in known})
    overrides = dict(overrides or {})
    overrides.setdefault("envs", min(config.envs, MAX_EVAL_ENVS))
    overrides.setdefault("seed", config.seed + EVAL_SEED_OFFSET)
    config = dataclasses.replace(config, **overrides)
    device = resolve_device(config.device)
    env = make_env(env_name, config, config.seed, device, saved.get("env_options"))
    model = load_agent(saved, env, device, f"checkpoint {path}")
    generator = torch.Generator(device).manual_seed(config.seed)

    obs = observe(env, env.reset().obs)
    rows = env.n_envs * env.n_agents
    memory = model.initial_state(rows, device)
    starts = torch.ones(rows, dtype=torch.bool, device=device)
    totals = torch.zeros(4, device=device)  # episodes, returns, lengths, task metric
    rewards = torch.zeros((), device=device)  # summed over every agent and step
    writer = figure = None
    if video is not None:
        import imageio.v2 as imageio

        from megastep_envs.tools.demo import VIDEO_FPS

        Path(video).parent.mkdir(parents=True, exist_ok=True)
        writer = imageio.get_writer(video, fps=VIDEO_FPS, codec="libx264", pixelformat="yuv420p",
                                    macro_block_size=16, ffmpeg_log_level="error")
    try:
        from tqdm import tqdm

        with torch.no_grad():
            for _ in tqdm(range(steps), desc=f"{env_name} eval", unit="step", disable=not progress, file=sys.stderr):
                logits, _, memory = model(unsqueeze(obs), memory, starts[None])
                step = env.step(sample(logits[0], generator).reshape(env.batch))
                rewards += step.reward.float().mean()
                obs, starts = observe(env, step.obs), per_agent(env, step.terminated | step.truncated)
                done = step.info["_episode"]
                returns = step.info["episode"]["r"]
                returns = returns.mean(-1) if returns.dim() == 2 else returns
                metric = episode_metric(env_name, env, step.terminated, returns)
                totals += torch.stack([done.sum(), (returns * done).sum(), (step.info["episode"]["l"] * done).sum(),
                                       (metric * done).sum() if metric is not None else done.sum() * 0]).float()
                if writer is not None:
                    from megastep_envs.tools.plotting import figure_to_array, plot_state

                    figure = plot_state(env.state(0), figure)
                    writer.append_data(figure_to_array(figure))
    finally:
        if writer is not None:
            writer.close()
    episodes, returns, lengths, metric = totals.tolist()
    mean = lambda total: total / episodes if episodes else float("nan")
    report: dict[str, Any] = {"envs": env.n_envs, "episodes": int(episodes), "return": mean(returns),
                              "length": mean(lengths), "reward_per_step": rewards.item() / steps}
    if env_name in METRIC_NAMES:
        report[METRIC_NAMES[env_name].split("/")[-1]] = mean(metric)
    return report
