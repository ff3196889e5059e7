"""Evaluating a trained policy beside the baselines, on envs it has not trained on.

:func:`evaluate_checkpoint` (behind ``megastep eval``) measures a checkpoint's
policy and every baseline of its env (:mod:`.baselines`) on the same envs:
each policy runs on a fresh env built with the same layouts and seed, so
each meets the same episodes (the same starts, goals and lifespans; see
:mod:`.navigation`). By default the layouts are the *test* split of the
procedural homes, which training never sees; any layouts file may be given
instead. :func:`evaluate_policy` measures one network, for a trainer to call
every so often and log under ``eval/``.

What each env reports (:mod:`.navigation`, :mod:`.exploration`, :mod:`.combat`):

==========  ==============================================================================
env         measures
==========  ==============================================================================
PointGoal   ``success_rate``, ``spl`` over ``episodes`` episodes
Explorer    ``coverage@T`` at each step count ``T``, and ``return``, one episode per env
Deathmatch  ``hits_given``, ``hits_taken`` per agent per 1,000 steps against random actions
            (or ``--opponent``), ``hit_ratio``, ``win_rate``
Minimal     ``return`` over ``episodes`` episodes
==========  ==============================================================================
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from megastep_core import Geometry
from megastep_core.world import resolve_device

from ..registry import ENVS, env_class
from .baselines import Policy, baselines_for, random_policy
from .combat import measure_deathmatch
from .exploration import measure_explorer
from .navigation import ShortestPaths, measure_pointgoal
from .policies import EvaluationError, NetworkPolicy, Sides, load_checkpoint, network_for
from .recording import Recorder
from .tournament import Player
from .tournament import tournament as play_tournament

DEFAULT_SEED = 10_000
"""Evaluation envs are seeded apart from training's (which start at 0), so every episode is new to the agent."""

MAX_ENVS = 64
"""Most envs a PointGoal or Minimal evaluation steps together; more episodes are played in turn."""

STEP_COUNTS = (250, 500, 1000)
"""Steps after which Explorer's coverage is read."""

DEATHMATCH_STEPS = 1000
"""Steps of each Deathmatch evaluation."""

TRAINED = "trained"
"""The trained policy's name in a report."""

# set by the evaluation for every env it builds: a checkpoint's own values of these are replaced
_OWN_OPTIONS = ("geometries", "split", "seed", "device", "cuda_graph")


def _positive_integer(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EvaluationError(f"{argument} must be a positive integer, got {value!r}")
    return int(value)


def load_geometries(path: str | Path, argument: str = "--layouts") -> list[Geometry]:
    """The layouts of a layouts file, each checked to have free space where an agent can stand."""
    from megastep_core import GeometryError
    from megastep_geometry.layouts import load_layouts

    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{argument}: no such layouts file {str(path)!r}")
    try:
        geometries = load_layouts(path)
    except (GeometryError, ValueError, OSError) as error:
        raise EvaluationError(f"{argument}: {error}") from None
    if not geometries:
        raise EvaluationError(f"{argument}: {path} holds no layouts")
    from megastep_geometry.layouts import SPAWN_CLEARANCE
    from megastep_geometry.spawners import safe_points

    for geometry in geometries:
        # a free cell is not enough: an agent needs its radius, and a margin, clear of every wall
        if len(safe_points(geometry, SPAWN_CLEARANCE)) == 0:
            raise EvaluationError(f"{argument}: layout {geometry.name!r} of {path} has no free space for an agent: "
                                  f"no point is {SPAWN_CLEARANCE:.3f} m from every wall")
    return geometries


def env_for(env_name: str, n_envs: int, env_options: dict[str, Any] | None = None, *, seed: int = DEFAULT_SEED,
            device="cpu", split: str = "test", geometries: Sequence[Geometry] | None = None, steps: int = 0,
            home_seed: int = 0):
    """A fresh env to evaluate on: ``env_options`` (a checkpoint's), on ``geometries`` or else the ``split`` of the
    procedural homes of pool ``home_seed``, with episodes that outlast ``steps`` where the measure needs whole runs
    (Explorer and Deathmatch); never replayed from a CUDA graph (policies here read the env between steps).

    The homes come from the pool of the training run's seed (an env draws its homes from the pool of its own
    seed, and training's is ``home_seed``), so that the test split holds exactly the homes that training left
    out; the envs themselves are seeded with ``seed``, apart from training's, so every spawn and goal is new."""
    cls = env_class(env_name)
    options = {k: v for k, v in dict(env_options or {}).items() if k not in _OWN_OPTIONS}
    if isinstance(options.get("lifespan"), list):
        options["lifespan"] = tuple(options["lifespan"])
    parameters = inspect.signature(cls.__init__).parameters
    if geometries is not None:
        options["geometries"] = list(geometries)
    elif "split" in parameters:
        from megastep_geometry.env_homes import sample_homes

        options["geometries"] = sample_homes(n_envs, split, int(home_seed))
    if env_name in ("explorer", "deathmatch"):
        options["lifespan"] = (steps + 1, steps + 1)  # one episode per env, outlasting the measure
        if env_name == "explorer":
            options["patience"] = steps + 1
    try:
        return cls(n_envs, seed=seed, device=device, cuda_graph=False, **options)
    except (TypeError, ValueError) as error:
        raise EvaluationError(f"env_options: the {env_name} env cannot be built with {options}: {error}") from None


def _quota(episodes: int, n_envs: int) -> torch.Tensor:
    """``(E,)`` episodes per env, summing to ``episodes``."""
    return torch.tensor([episodes // n_envs + (e < episodes % n_envs) for e in range(n_envs)])


def measure(env_name: str, make_env: Callable[[int, int], Any], policy: Policy, episodes: int,
            opponent: Policy | None = None, shortest: ShortestPaths | None = None,
            step_counts: Sequence[int] = STEP_COUNTS, steps: int = DEATHMATCH_STEPS) -> dict[str, float]:
    """One policy's measures on its env.

    :param make_env: ``make_env(n_envs, steps)``, a fresh env built by :func:`env_for`.
    :param episodes: PointGoal's and Minimal's episodes in all; Explorer's and Deathmatch's envs (one episode each).
    :param opponent: Deathmatch's other side (default: random actions).
    :param shortest: PointGoal's shortest paths, shared between the policies of one run.
    """
    if env_name == "pointgoal":
        n_envs = min(episodes, MAX_ENVS)
        return measure_pointgoal(make_env(n_envs, 0), policy, _quota(episodes, n_envs), shortest)
    if env_name == "explorer":
        return measure_explorer(make_env(episodes, max(step_counts)), policy, step_counts)
    if env_name == "deathmatch":
        env = make_env(episodes, steps)
        return measure_deathmatch(env, Sides([policy, opponent or random_policy]), steps)
    n_envs = min(episodes, MAX_ENVS)
    return _measure_returns(make_env(n_envs, 0), policy, _quota(episodes, n_envs))


def _measure_returns(env, policy: Policy, quota: torch.Tensor) -> dict[str, float]:
    """The mean return and length of each env's first ``quota[e]`` episodes (any env)."""
    env.reset()
    counted = torch.zeros(env.n_envs, dtype=torch.int64)
    returns, lengths = [], []
    while bool((counted < quota).any()):
        step = env.step(policy(env))
        done = step.info["_episode"].cpu()
        keep = done & (counted < quota)
        episode_returns = step.info["episode"]["r"].cpu()
        returns += (episode_returns.mean(-1) if episode_returns.dim() == 2 else episode_returns)[keep].tolist()
        lengths += step.info["episode"]["l"].cpu()[keep].float().tolist()
        counted += done
    return {"episodes": float(len(returns)), "return": float(np.mean(returns)), "length": float(np.mean(lengths))}


def _check_fits(model, env, argument: str) -> None:
    """Refuses a network built for other observations or actions than ``env``'s, naming ``argument``."""
    boxes = getattr(model, "boxes", None)
    wanted = {key: tuple(box.shape) for key, box in env.observation_space.items()}
    have = None if boxes is None else {key: tuple(box.shape) for key, box in boxes.items()}
    actions = model.policy.out_features if hasattr(model, "policy") else None
    if have != wanted or actions != env.action_space.n:
        raise EvaluationError(f"{argument}: the network takes observations {have} and {actions} actions, but the "
                              f"{env.name} env gives {wanted} and {env.action_space.n}: is it another env's?")


def evaluate_policy(model, env_name: str, env_options: dict[str, Any] | None = None, episodes: int = 64,
                    device="cpu", *, seed: int = DEFAULT_SEED, split: str = "test",
                    layouts: str | Path | None = None, home_seed: int = 0, deterministic: bool = False,
                    prefix: str = "eval/", video: str | Path | None = None, video_steps: int = 200
                    ) -> dict[str, float]:
    """Measures a network on unseen envs: what a trainer logs every so often.

    :param model: a :class:`~megastep_envs.train.model.Agent` for ``env_name``'s spaces (left in eval mode; its
        parameters are not changed).
    :param env_name: ``pointgoal``, ``explorer``, ``deathmatch`` or ``minimal``.
    :param env_options: the env's keywords, as the run trained with (a checkpoint's ``env_options``).
    :param episodes: PointGoal's and Minimal's episodes; Explorer's and Deathmatch's envs (one long episode each).
    :param device: where the envs and the network run.
    :param seed: seeds the envs and the policy's sampling; the same seed gives the same episodes.
    :param split: which procedural homes (``"test"``: unseen in training) when ``layouts`` is None.
    :param layouts: a layouts ``.npz`` to evaluate on instead.
    :param home_seed: the training run's seed, whose pool of homes the split is taken from.
    :param deterministic: act by the most likely action instead of sampling.
    :param prefix: put before every key (``"eval/success_rate"``).
    :param video: an ``.mp4`` path: records env 0's first ``video_steps`` steps (the plan and the agents'
        views, as ``megastep demo`` draws them).
    :returns: the env's measures (see the module docs), as floats, keyed ``prefix + name``.
    """
    episodes = _positive_integer(episodes, "episodes")
    if env_name not in ENVS:
        raise EvaluationError(f"env_name must be one of {sorted(ENVS)}, got {env_name!r}")
    device = resolve_device(device)
    geometries = load_geometries(layouts, "layouts") if layouts is not None else None

    def make_env(n_envs: int, steps: int):
        env = env_for(env_name, n_envs, env_options, seed=seed, device=device, split=split, geometries=geometries,
                      steps=steps, home_seed=home_seed)
        _check_fits(model, env, "model")
        return env

    was_training = model.training
    policy: Policy = NetworkPolicy(model, deterministic=deterministic, seed=seed)
    recorder = Recorder(video, video_steps) if video is not None else None
    try:
        measures = measure(env_name, make_env, recorder.wrap(policy) if recorder else policy, episodes)
    finally:
        if recorder is not None:
            recorder.close()
        model.train(was_training)
    return {prefix + key: value for key, value in measures.items()}


def evaluate_checkpoint(path: str | Path, episodes: int = 64, device="cpu", *, seed: int = DEFAULT_SEED,
                        split: str = "test", layouts: str | Path | None = None, opponent: str | Path | None = None,
                        env_name: str | None = None, include_baselines: bool = True, deterministic: bool = False,
                        step_counts: Sequence[int] = STEP_COUNTS, steps: int = DEATHMATCH_STEPS,
                        video: str | Path | None = None, tournament: bool = False) -> dict[str, Any]:
    """Measures a checkpoint's policy and its env's baselines on the same envs: what ``megastep eval`` prints.

    Reads the checkpoint and never writes it.

    :param path: a training checkpoint (``megastep train``'s ``checkpoint.pt``).
    :param env_name: if given, the env the checkpoint must have trained.
    :param opponent: Deathmatch only: a second checkpoint, played head to head against the first (one more row).
    :param include_baselines: measure the baselines too (random, and the env's scripted one).
    :param tournament: Deathmatch, trained with self-play: also play the baselines, every snapshot of the run's
        pool and the final policy against each other, ``episodes`` games a pair (:mod:`.tournament`).
    :returns: ``env``, ``checkpoint``, ``layouts`` (``"test split"`` or the file), ``episodes``, ``seed``, and
        ``policies``: each policy's measures by name (the baselines first, then :data:`TRAINED`, then
        ``trained vs opponent``); with ``tournament``, ``tournament``: :func:`.tournament.tournament`'s result.
    """
    episodes = _positive_integer(episodes, "--episodes")
    step_counts = sorted({_positive_integer(t, "--step-counts") for t in step_counts})
    steps = _positive_integer(steps, "--steps")
    saved = load_checkpoint(path, "CHECKPOINT")
    trained_env = saved["env"]
    if env_name is not None and trained_env != env_name:
        raise EvaluationError(f"CHECKPOINT: {path} trained the {trained_env!r} env, not {env_name!r}")
    if trained_env not in ENVS:
        raise EvaluationError(f"CHECKPOINT: {path} trained {trained_env!r}, which is not an env of megastep_envs")
    rival = None
    if opponent is not None:
        if trained_env != "deathmatch":
            raise EvaluationError(f"--opponent: head-to-head play is for deathmatch; {path} trained {trained_env!r}")
        rival = load_checkpoint(opponent, "--opponent")
        if rival["env"] != trained_env:
            raise EvaluationError(f"--opponent: {opponent} trained the {rival['env']!r} env, not {trained_env!r}")
    snapshots = _snapshots(saved, path) if tournament else {}
    device = resolve_device(device)
    geometries = load_geometries(layouts) if layouts is not None else None
    env_options = saved.get("env_options") or {}
    home_seed = int(saved["hyperparameters"].get("seed", 0))  # training's homes are the pool of its seed

    def make_env(n_envs: int, run_steps: int):
        return env_for(trained_env, n_envs, env_options, seed=seed, device=device, split=split,
                       geometries=geometries, steps=run_steps, home_seed=home_seed)

    probe = make_env(1, max(step_counts[-1], steps))
    model = network_for(saved, probe, "CHECKPOINT")
    rival_model = network_for(rival, probe, "--opponent") if rival is not None else None
    snapshot_models = {name: (network_for({**saved, "model": weights}, probe, "CHECKPOINT"), minutes)
                       for name, (weights, minutes) in snapshots.items()}
    del probe

    shortest = ShortestPaths()
    run = lambda policy, against=None: measure(trained_env, make_env, policy, episodes, against, shortest,
                                               step_counts, steps)
    policies: dict[str, dict[str, float]] = {}
    if include_baselines:
        for name, policy in baselines_for(trained_env, seed).items():
            policies[name] = run(policy)
    recorder = Recorder(video) if video is not None else None
    trained = NetworkPolicy(model, deterministic, seed)
    try:
        policies[TRAINED] = run(recorder.wrap(trained) if recorder else trained)
    finally:
        if recorder is not None:
            recorder.close()
    if rival_model is not None:
        rival_policy = NetworkPolicy(rival_model, deterministic, seed + 1)
        policies[f"{TRAINED} vs opponent"] = run(NetworkPolicy(model, deterministic, seed), rival_policy)
    report = {
        "env": trained_env, "checkpoint": str(path), "opponent": None if opponent is None else str(opponent),
        "layouts": str(layouts) if layouts is not None else f"the {split} split of the homes of seed {home_seed}",
        "episodes": episodes, "seed": seed, "device": str(device), "policies": policies,
    }
    if tournament:
        players = [Player(name, policy) for name, policy in baselines_for(trained_env, seed).items()]
        for index, (name, (network, minutes)) in enumerate(snapshot_models.items()):
            players.append(Player(name, NetworkPolicy(network, deterministic, seed + 2 + index), minutes))
        players.append(Player("final", NetworkPolicy(model, deterministic, seed + 1), math.inf))
        report["tournament"] = play_tournament(make_env, players, episodes, steps)
    return report


def _snapshots(saved: dict[str, Any], path) -> dict[str, tuple[dict, float | None]]:
    """The self-play pool of a Deathmatch checkpoint: each snapshot's weights and minutes, oldest first."""
    if saved["env"] != "deathmatch":
        raise EvaluationError(f"--tournament: rating snapshots is for deathmatch; {path} trained {saved['env']!r}")
    pool = saved.get("selfplay") or {}
    if not pool.get("snapshots"):
        raise EvaluationError(f"--tournament: {path} holds no self-play snapshots: it was trained without "
                              f"opponents (train with --opponents 0.5, the deathmatch preset)")
    minutes = pool.get("minutes", {})
    return {name: (weights, minutes.get(name)) for name, weights in pool["snapshots"].items()}


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return value if isinstance(value, float) and math.isfinite(value) else None
