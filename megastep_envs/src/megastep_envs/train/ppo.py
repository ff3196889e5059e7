"""Proximal Policy Optimisation for megastep's envs, in one loop that reads top to bottom.

:func:`train` collects a rollout of ``steps`` steps from ``envs`` envs (every
agent of every env acts with one shared network, :mod:`.rollout`), and runs
``epochs`` passes of clipped-objective minibatch updates over it
(:mod:`.learner`); then again, until ``total_steps`` env steps are done. With
``torchrun``, every process does this on its own envs and DDP averages the
gradients (:mod:`.distributed`).

Episodes end in two ways (see :mod:`megastep_envs.step.env`): *terminated*,
where the value of what follows is zero, and *truncated* by the env's random
lifespan, where the agent could have gone on. For a truncated episode the
value of its final observation is added to the last reward, discounted once,
so the advantage does not pretend that time-outs are deaths.

A run never loses work: it refuses to write over another run's folder unless
told to start over; SIGINT (Ctrl-C) and SIGTERM (what schedulers send) stop it
at the end of the update in progress, with a checkpoint; a second signal stops
it at once, keeping the last checkpoint. An update whose gradients are not
finite is undone and skipped, and :data:`MAX_NONFINITE_UPDATES` of them in a
row stop the run with the last good checkpoint kept: non-finite weights are
never written. With ``act_while_learning`` (:mod:`.pipeline`), a rollout
collected ahead is learned from before a checkpoint or the stop. Under
``torchrun`` a checkpoint that any process's clock finds due is written at the
same update by all of them: its check that their parameters agree is a
collective call, which a process that did not join would leave waiting.

Logged keys (TensorBoard and ``metrics.jsonl``), stable across versions:
``charts/episodic_return``, ``charts/episodic_length``, ``charts/success_rate``
(PointGoal), ``charts/coverage`` (Explorer), ``charts/learning_rate``,
``charts/SPS`` (agent-steps collected per second, end to end),
``charts/env_agent_steps_per_s`` (of the rollouts, acting included; these two
are left out of an update that collected nothing, as a run with
``act_while_learning`` makes to learn from its last rollout),
``charts/learner_samples_per_s``, ``losses/policy_loss``, ``losses/value_loss``,
``losses/entropy``, ``losses/approx_kl``, ``losses/clipfrac``,
``losses/explained_variance``, and with ``goal_prediction`` ``losses/goal_loss``.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from megastep_core.world import resolve_device

from . import checkpoint, distributed, runs
from .envstate import EnvState
from .hyperparameters import Hyperparameters, TrainError
from .hyperparameters import env_options as options_for
from .learner import LOSSES, Learner
from .logger import Logger
from .model import Agent
from .pipeline import Pipeline, Timing
from .rollout import METRIC_NAMES, STATISTICS, Collector
from .runs import RESUMABLE, RUN_FILES, StopSignals, resumed_hyperparameters  # noqa: F401 (their old home)
from .selfplay import SelfPlay

__all__ = ["MAX_NONFINITE_UPDATES", "Parts", "Result", "build", "make_env", "train"]

MAX_NONFINITE_UPDATES = 3
"""Updates in a row with non-finite gradients after which a run stops (each one is undone and skipped)."""


def make_env(env_name: str, config: Hyperparameters, seed: int, device: torch.device, options=None):
    """The env to train on; ``options`` are further keywords of its class (``lifespan``, ``pixels``, ...)."""
    from megastep_envs.registry import make

    options = {"cuda_graph": device.type == "cuda", **(options or {})}
    return make(env_name, config.envs, device=device, physics=config.physics, renderer=config.renderer, seed=seed,
                **options)


@dataclass
class Parts:
    """What a run is made of: the env, the network, the collector, the learner, the pipeline between them and
    self-play's opponents."""

    env: Any
    model: Agent
    collector: Collector
    learner: Learner
    pipeline: Pipeline
    selfplay: SelfPlay | None = None


def build(env_name: str, config: Hyperparameters, env_options, process: distributed.Process) -> Parts:
    """The env (seeded apart in every process), the network (the same everywhere) and the two loops' objects."""
    device = process.device
    if device.type == "cuda":
        # every shape a run sees is fixed (acting, bootstrap, minibatches), so cuDNN's timing of its algorithms,
        # once per shape, pays: its heuristic picks slow kernels for these narrow, very long convolutions
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)  # the same initial network in every process; DDP makes sure of it
    env = make_env(env_name, config, config.seed + 1000 * process.rank, device, env_options)
    first = env.reset().obs
    model = Agent.of(dataclasses.asdict(config), env.observation_space, env.action_space).to(device)
    generator = torch.Generator(device).manual_seed(config.seed + 7919 * (process.rank + 1))
    selfplay = None
    if config.opponents:
        if not env.multi_agent:
            raise TrainError(f"opponents is self-play against snapshots, for envs of several agents; {env_name} has "
                             f"one: leave it at 0")
        selfplay = SelfPlay(env, model, config.opponents, seed=config.seed + 101 * process.rank)
        selfplay.snapshot("update-0", model)
    if config.goal_prediction and not callable(getattr(env, "goal_now", None)):
        raise TrainError(f"goal_prediction teaches the network where its goal lies, in an env that gives each agent "
                         f"a goal (pointgoal); {env_name} gives none: leave it at 0")
    actor = model.frozen_copy() if config.act_while_learning else model
    collector = Collector(env, actor, env_name, first, config.steps, config.gamma, generator, config.bf16, selfplay,
                          goal_target=config.goal_prediction > 0)
    learner = Learner(distributed.data_parallel(process, model), config, device, config.seed + 31 * process.rank,
                      learned=selfplay.learned if selfplay is not None else None)
    pipeline = Pipeline(collector, learner, model, ahead=config.act_while_learning)
    return Parts(env, model, collector, learner, pipeline, selfplay)


@dataclass
class Result:
    """What :func:`train` returns: the trained network and the last logged figures.

    :ivar interrupted: the signal that stopped the run early (``"SIGINT"``, ``"SIGTERM"``), or None.
    """

    model: Agent
    env_steps: int
    updates: int
    metrics: dict[str, float]
    checkpoint: Path | None
    interrupted: str | None = None


def train(
    env_name: str,
    config: Hyperparameters | dict[str, Any] | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    updates: int | None = None,
    env_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    wandb: bool = False,
) -> Result:
    """Trains an agent on ``env_name`` with PPO.

    :param env_name: ``minimal``, ``explorer``, ``pointgoal`` or ``deathmatch``.
    :param config: the hyperparameters; or a dict of changes to the env's :func:`defaults`. When resuming,
        the checkpoint's hyperparameters are kept, but for those of :data:`~megastep_envs.train.runs.RESUMABLE`
        that ``config`` gives (a dict gives only what it names; a :class:`Hyperparameters` gives all of them).
    :param out: the run's folder: ``checkpoint.pt``, ``metrics.jsonl`` and TensorBoard events.
        ``None`` writes nothing.
    :param resume: a checkpoint to continue from, exactly where it stopped.
    :param progress: show a progress bar (on rank 0).
    :param updates: stop after this many updates in this call (for tests and resumable chunks),
        writing a checkpoint as at any stop.
    :param env_options: keywords for the env's class over its training defaults
        (:data:`~megastep_envs.train.hyperparameters.ENV_OPTIONS`): numbers, strings, and lists or tuples of
        them, since they are saved in the checkpoint, like ``{"lifespan": (64, 128)}``.
    :param overwrite: start over in an ``out`` that holds another run, deleting it; without, that is refused.
    :param wandb: also log to Weights & Biases (:class:`~megastep_envs.train.logger.Logger`).
    """
    started = time.perf_counter()
    config, state = runs.resolve(env_name, config, resume)
    env_options = state["env_options"] if state is not None else options_for(env_name, env_options)
    config.check()
    if out is not None and not runs.plain(env_options or {}):
        raise TrainError(f"env_options must hold only numbers, strings and lists of them, to be saved in the "
                         f"checkpoint, got {env_options!r}")
    out = Path(out) if out is not None else None
    runs.claim_folder(out, overwrite, state is not None)
    process = distributed.start(resolve_device(config.device))
    device = process.device
    completed, logger, written = False, None, None
    with runs.StopSignals() as signals:
        try:
            parts = build(env_name, config, env_options, process)
            env, model, collector, learner = parts.env, parts.model, parts.collector, parts.learner
            pipeline, selfplay = parts.pipeline, parts.selfplay
            env_state = EnvState(env)
            env_steps, update = 0, 0
            if state is not None:
                env_steps, update = runs.restore(state, parts, env_state, process, resume)
            batch_env_steps = config.envs * config.steps * process.world_size
            total_updates = max(1, config.total_steps // batch_env_steps)
            stop_after = min(total_updates, update + updates if updates is not None else total_updates)

            logger = Logger(out, config, env_name, enabled=process.is_main and out is not None,
                            progress=progress and process.is_main, total=config.total_steps, initial=env_steps,
                            wandb=wandb)
            path = out / "checkpoint.pt" if out is not None else None

            def save() -> Path | None:
                if path is None or not process.is_main:
                    return None
                if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                    raise TrainError("the weights are not finite; the last checkpoint written is kept")
                return checkpoint.save(path, {
                    "env": env_name, "env_options": dict(env_options or {}),
                    "hyperparameters": dataclasses.asdict(config),
                    "world_size": process.world_size, "device": device.type,
                    "update": update, "env_steps": env_steps, "model": model.state_dict(),
                    "learner": learner.state_dict(), "generator": collector.generator.get_state(),
                    "env_state": env_state.state_dict() if process.world_size == 1 else {},
                    "carry": collector.state_dict(),
                    "selfplay": selfplay.state_dict() if selfplay is not None else None,
                })

            def evaluate() -> dict[str, float]:
                """The policy on unseen homes (rank 0 alone; the others wait for it at the next update)."""
                if not process.is_main or not config.eval_minutes:
                    return {}
                from megastep_envs.evaluation import evaluate_policy

                video = out / f"eval-{update:06d}.mp4" if out is not None else None
                model.eval()
                try:
                    return evaluate_policy(model, env_name, env_options, config.eval_episodes, device,
                                           home_seed=config.seed, video=video)
                finally:
                    model.train()

            # snapshots say how long the policy had trained: counted from here, after the start-up (the envs built,
            # the graphs captured), which takes from seconds to a minute and would blur "the one-minute snapshot"
            training_started = last_checkpoint = last_evaluation = last_snapshot = time.perf_counter()
            nonfinite, metrics, elapsed = 0, {}, 0.0
            samples = config.steps * collector.n_rows
            finishing = False  # learning from a rollout collected ahead, before a checkpoint or the stop
            while update < stop_after:
                if config.anneal_learning_rate:
                    learner.learning_rate = config.learning_rate * (1.0 - schedule_progress(
                        update, total_updates, elapsed, config.time_limit_minutes))

                # 1. a rollout: T steps of every env, acting with the current policy (and some with an opponent),
                # 2. and epochs of clipped-objective minibatch updates on it; with act_while_learning, learning from
                # the rollout collected during the last update while collecting the next
                if selfplay is not None:
                    selfplay.choose(model)
                losses, timing = pipeline.update(collect_next=update + 1 < stop_after and not finishing)
                update += 1
                env_steps += batch_env_steps

                # 3. figures (the update's one read of the device), logging, checkpoints
                # a stop asked of any process stops all of them at this update, a checkpoint that any process's clock
                # finds due is written by all (its parameter check is collective), and they share one clock (the
                # mean of theirs), so the time limit and the schedule agree across processes: all ride with the sums
                now = time.perf_counter()
                asked = torch.tensor([float(signals.requested is not None),
                                      float(now - last_checkpoint > 60 * config.checkpoint_minutes), now - started],
                                     device=device)
                statistics = distributed.sum_over_processes(process, torch.cat([collector.statistics, asked]))
                losses = distributed.mean_over_processes(process, losses)
                *values, askers, due, clocks = torch.cat([statistics[:-3], losses, statistics[-3:]]).tolist()
                figures = dict(zip([*STATISTICS, *LOSSES, "explained"], values))
                stop, checkpoint_due = askers > 0, due > 0
                elapsed = clocks / process.world_size
                collector.statistics.zero_()
                if figures["nonfinite"] > 0 or not all(map(math.isfinite, figures.values())):
                    learner.restore()
                    nonfinite += 1
                    warnings.warn(f"update {update}: the gradients were not finite in {figures['nonfinite']:.0f} "
                                  f"minibatches; the update was undone and skipped", stacklevel=2)
                    if nonfinite >= MAX_NONFINITE_UPDATES:
                        raise TrainError(f"{nonfinite} updates in a row had non-finite gradients (last at update "
                                         f"{update}); stopped, keeping the last checkpoint. Are the rewards finite? "
                                         f"Try a lower --learning-rate or --max-grad-norm")
                else:
                    nonfinite = 0
                metrics = _metrics(env_name, figures, learner.learning_rate, samples * process.world_size,
                                   config.epochs, timing)
                if selfplay is not None:
                    metrics |= selfplay.record(figures["games"], figures["wins"], figures["draws"])
                    if time.perf_counter() - last_snapshot > 60 * config.snapshot_minutes:
                        selfplay.snapshot(f"update-{update}", model,
                                          minutes=(time.perf_counter() - training_started) / 60)
                        last_snapshot = time.perf_counter()
                now = time.perf_counter()
                last = stop or update == stop_after or (config.time_limit_minutes
                                                        and elapsed > 60 * config.time_limit_minutes)
                # the last evaluation waits for the update that learns from a rollout still pending
                if config.eval_minutes and (last or now - last_evaluation > 60 * config.eval_minutes) and not (
                        last and pipeline.pending):
                    metrics |= evaluate()
                    last_evaluation = now = time.perf_counter()
                logger.log(metrics, env_steps=env_steps, agent_steps=env_steps * env.n_agents,
                           seconds=time.perf_counter() - started)
                # a checkpoint holds no rollout collected ahead, and a stop leaves none unlearned: learn from it first
                finishing = pipeline.pending and (last or checkpoint_due)
                if finishing:
                    continue
                if last:
                    break
                if checkpoint_due and not nonfinite:  # only after a good update
                    distributed.check_parameters_agree(process, model)
                    save()
                    last_checkpoint = now
            distributed.check_parameters_agree(process, model)
            written = save()
            completed = True
        finally:
            if logger is not None:
                logger.close()
            # the learner's DDP wrapper holds the process group: let it go here, so that the group's gloo threads end
            # in stop() rather than whenever a garbage collection finds the wrapper, perhaps as the interpreter exits
            parts = learner = collector = None
            distributed.stop(process, completed)
    if signals.requested is not None and written is not None:
        print(f"{signals.requested}: checkpoint written to {written}; continue with --resume", flush=True)
    return Result(model=model, env_steps=env_steps, updates=update, metrics=metrics, checkpoint=written,
                  interrupted=signals.requested)


def schedule_progress(update: int, total_updates: int, elapsed: float, time_limit_minutes: float) -> float:
    """How far a run is through its budget, in [0, 1]: the share of its updates done, or of its time limit spent
    (``elapsed`` seconds since this process started), whichever is further, so that the learning rate reaches
    zero when the run ends, whether steps or time end it."""
    progress = update / total_updates
    if time_limit_minutes:
        progress = max(progress, elapsed / (60 * time_limit_minutes))
    return min(progress, 1.0)


def _metrics(env_name: str, figures: dict[str, float], learning_rate: float, samples: int, epochs: int,
             timing: Timing) -> dict[str, float]:
    """The logged figures of an update (see the module docs for the keys)."""
    metrics = {
        "charts/learning_rate": learning_rate,
        "charts/learner_samples_per_s": samples * epochs / timing.learning,
        **{f"losses/{name}": figures[name] for name in LOSSES[:-1] if name != "goal_loss" or figures[name]},
        "losses/explained_variance": figures["explained"],
    }
    if timing.rollouts:  # the agent-steps collected: none where a run ahead learns from its pending rollout alone
        metrics["charts/SPS"] = samples * timing.rollouts / timing.seconds
        metrics["charts/env_agent_steps_per_s"] = samples * timing.rollouts / timing.acting
    episodes = figures["episodes"]
    if episodes > 0:
        metrics["charts/episodic_return"] = figures["returns"] / episodes
        metrics["charts/episodic_length"] = figures["lengths"] / episodes
        if env_name in METRIC_NAMES:
            metrics[METRIC_NAMES[env_name]] = figures["metric"] / episodes
    metrics["charts/episodes"] = episodes
    if figures["unbootstrapped"]:
        metrics["charts/unbootstrapped"] = figures["unbootstrapped"]
    return metrics
