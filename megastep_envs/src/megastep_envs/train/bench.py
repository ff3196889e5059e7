"""``megastep train ENV --bench``: end-to-end training throughput, and where its time goes.

For each size asked, builds a run exactly as :func:`~megastep_envs.train.ppo.train`
does, runs a few updates to warm up (CUDA graphs captured, cuDNN's choices
made, kernels compiled), then times ``updates`` more. Each figure is measured,
not derived from the engine's benchmark:

- *agent-steps/s*: agent-steps collected over the wall time of rollouts and
  updates together, as ``charts/SPS`` logs it;
- *env*, *acting*, *learning*: shares of that wall time. Env steps and acting
  (the network's forward, sampling, storing) are GPU time between CUDA events
  recorded around each part of every step; learning is the update's wall
  time; *other* is what is left, time the GPU waited on the host;
- *learner samples/s*: samples times epochs over the update's wall time.

With ``--act-while-learning`` each timed update also collects the next rollout
beside it (:mod:`~megastep_envs.train.pipeline`): *acting* (env steps
included) and *learning* are then each CUDA stream's time, which overlap, so
their shares may add up to more than the whole; *env* and *other* are not
measured apart ("-").
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from megastep_core.checks import synchronize
from megastep_core.world import resolve_device

from . import distributed
from .hyperparameters import Hyperparameters


def benchmark(env_name: str, config: Hyperparameters, updates: int = 5, warmup: int = 3, env_options=None) -> dict:
    """Times ``updates`` PPO updates after ``warmup`` of them; returns the figures (see the module docs)."""
    from .ppo import build

    device = resolve_device(config.device)
    process = distributed.Process(device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    parts = build(env_name, config, env_options, process)
    for _ in range(warmup):
        parts.pipeline.update()
    synchronize(device)
    timed = _ahead(parts.pipeline, updates) if config.act_while_learning else _in_turn(parts, updates)
    samples = updates * config.steps * parts.collector.n_rows
    total = timed["seconds"]
    share = lambda seconds: seconds / total if seconds is not None else None
    return {
        "env": env_name, "envs": config.envs, "agents": parts.env.n_agents, "steps": config.steps,
        "updates": updates, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "graphed": parts.collector.graphed, "learner_graphed": parts.learner.graphed,
        "hyperparameters": dataclasses.asdict(config),
        "agent_steps_per_s": samples / total,
        "env_share": share(timed["env"]), "acting_share": share(timed["acting"]),
        "learning_share": share(timed["learning"]), "other_share": share(timed["other"]),
        "env_agent_steps_per_s": samples / timed["env"] if timed["env"] is not None else None,
        "learner_samples_per_s": samples * config.epochs / timed["learning"],
        "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def _in_turn(parts, updates: int) -> dict:
    """Seconds of ``updates`` rollouts and updates taken in turn: env steps and acting from CUDA events around
    each part of every step, learning from the update's wall time."""
    device = parts.collector.device
    env_seconds = act_seconds = rollout_seconds = learn_seconds = 0.0
    for _ in range(updates):
        started = time.perf_counter()
        rollout, times = parts.collector.collect(timed=True)  # waits for its events
        collected = time.perf_counter()
        parts.learner.update(rollout)
        synchronize(device)
        learn_seconds += time.perf_counter() - collected
        rollout_seconds += collected - started
        env_seconds += times.env
        act_seconds += times.act + times.observe
    return {"seconds": rollout_seconds + learn_seconds, "env": env_seconds, "acting": act_seconds,
            "learning": learn_seconds, "other": max(0.0, rollout_seconds - env_seconds - act_seconds)}


def _ahead(pipeline, updates: int) -> dict:
    """Seconds of ``updates`` updates, each collecting the next rollout beside it (``act_while_learning``):
    acting (env steps included) and learning are each stream's GPU time, which overlap in the wall time."""
    seconds = acting = learning = 0.0
    for _ in range(updates):
        _, timing = pipeline.update()
        seconds, acting, learning = seconds + timing.seconds, acting + timing.acting, learning + timing.learning
    return {"seconds": seconds, "env": None, "acting": acting, "learning": learning, "other": None}


HEADER = (f"{'env':<11} {'envs':>7} {'x A':>4} {'T':>4} {'agent-steps/s':>14} {'env':>6} {'acting':>7} "
          f"{'learning':>9} {'other':>6} {'learner samples/s':>18} {'graphed':>8}")
"""The columns :func:`run` prints; throughputs are per second, shares of the timed wall time; *graphed*: whether
acting (then learning) replayed CUDA graphs."""


def row(figures: dict) -> str:
    """One line of the table :func:`run` prints."""
    share = lambda key: f"{100 * figures[key]:.0f}%" if figures[key] is not None else "-"
    return (f"{figures['env']:<11} {figures['envs']:>7,} {figures['agents']:>4} {figures['steps']:>4} "
            f"{figures['agent_steps_per_s']:>14,.0f} {share('env_share'):>6} {share('acting_share'):>7} "
            f"{share('learning_share'):>9} {share('other_share'):>6} {figures['learner_samples_per_s']:>18,.0f} "
            f"{_yes(figures['graphed']) + '/' + _yes(figures.get('learner_graphed')):>8}")


def _yes(flag) -> str:
    return "yes" if flag else "no"


def run(env_name: str, configs: list[Hyperparameters], updates: int, json_path: str | None,
        env_options=None) -> list[dict]:
    """Benchmarks each config in turn, printing a row as each finishes; writes them all to ``json_path``."""
    print(HEADER, flush=True)
    results = []
    for config in configs:
        figures = benchmark(env_name, config, updates=updates, env_options=env_options)
        results.append(figures)
        print(row(figures), flush=True)
        if json_path is not None:  # after every size, so that a run cut short keeps what it measured
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
        del figures
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return results
