"""Does ``goal_prediction`` help an agent told its goal only at spawn? A CPU-sized comparison.

    python3 benchmarks/goal_prediction_cpu.py --updates 200 --seeds 0 1 2 --weights 0 1

PointGoal in a 4 x 4 m open room (episodes of 48-64 steps, the ``goal_progress`` reward), 16 envs x 32 steps a
rollout, an LSTM of 64: for each seed and loss weight, trains ``--updates`` updates, then counts the goals reached
per env in 96 steps of 64 fresh envs (and random actions' on the same envs). ``--sensor every_step`` gives the
ceiling: the goal re-told every step. ``--act-while-learning`` trains with each rollout collected one update behind
(:mod:`megastep_envs.train.pipeline`), to compare what that lag costs in learning. Prints one JSON line a run. One
thread a run: start two at once on two cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from megastep_envs.registry import make
from megastep_envs.train import ppo
from megastep_envs.train.hyperparameters import defaults
from megastep_envs.train.rollout import observe, sample, unsqueeze


def goals_per_env(model, options: dict, seed: int, steps: int = 96, envs: int = 64) -> float:
    """Goals reached per env in ``steps`` steps of fresh envs, by ``model`` (random actions for None)."""
    env = make("pointgoal", envs, device="cpu", seed=seed, **options)
    generator = torch.Generator().manual_seed(seed)
    obs, starts = observe(env, env.reset().obs), torch.ones(envs, dtype=torch.bool)
    memory = model.initial_state(envs, "cpu") if model is not None else ()
    reached = 0
    with torch.no_grad():
        for _ in range(steps):
            if model is None:
                actions = env.sample_actions()
            else:
                logits, _, memory = model(unsqueeze(obs), memory, starts[None])
                actions = sample(logits[0], generator)
            step = env.step(actions)
            reached += int(step.terminated.sum())
            obs, starts = observe(env, step.obs), step.terminated | step.truncated
    return reached / envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0], help="goal_prediction values")
    parser.add_argument("--sensor", default="at_spawn", choices=["at_spawn", "every_step"])
    parser.add_argument("--hidden", type=int, default=64, help="width of the LSTM")
    parser.add_argument("--steps", type=int, default=32, help="steps a rollout, the LSTM's training window; the env "
                        "steps in all stay those of --updates rollouts of 32")
    parser.add_argument("--act-while-learning", action="store_true", help="collect each rollout one update behind")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from megastep_geometry import toys

    options = {"geometries": [toys.box(4.0, 4.0)], "goal_sensor": args.sensor, "reward": "goal_progress",
               "lifespan": (48, 64)}
    for weight in args.weights:
        for seed in args.seeds:
            config = dataclasses.replace(defaults("pointgoal", "cpu"), envs=16, steps=args.steps,
                                         total_steps=args.updates * 512, learning_rate=1e-3, hidden=args.hidden,
                                         channels=8, lstm=True, goal_prediction=weight, seed=seed, device="cpu",
                                         act_while_learning=args.act_while_learning)
            started = time.perf_counter()
            model = ppo.train("pointgoal", config, progress=False, env_options=options).model
            print(json.dumps({"sensor": args.sensor, "goal_prediction": weight, "seed": seed, "updates": args.updates,
                              "steps": args.steps, "hidden": args.hidden,
                              "act_while_learning": args.act_while_learning,
                              "goals_per_env": goals_per_env(model, options, 700 + seed),
                              "random": goals_per_env(None, options, 700 + seed),
                              "seconds": round(time.perf_counter() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
