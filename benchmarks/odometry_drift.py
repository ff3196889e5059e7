"""How far from the truth an agent told its PointGoal goal once would be, carrying it along by its IMU alone.

    python3 benchmarks/odometry_drift.py --envs 64 --noise 0 0.2 0.5

On the test-split homes, the geodesic walker (which reads the true goal) walks, taking a random action instead in
a share ``--noise`` of its steps, so that it sometimes walks into walls. Beside it, the goal told at spawn is
carried along by the IMU's readings, as an agent told its goal once must (turned back by each turn, less each
move), and compared with where the goal truly lies in the agent's frame. Prints, per noise level: the share of
steps a wall stopped the agent part of the way, the mean error over all steps, and the error at the ends of the
episodes (metres; PointGoal's success radius is 0.15 m). With an IMU whose readings are the step's motion the
errors are float rounding; with one that read the physics' velocity, which a wall zeroes, they were not
(``BENCHMARKS.md``, "Agents that learn").
"""
from __future__ import annotations

import argparse
import json

import torch

from megastep_envs.evaluation.baselines import greedy_walker
from megastep_envs.evaluation.evaluate import env_for
from megastep_envs.modules.observations import to_agent_frame


def carried(goal: torch.Tensor, imu: torch.Tensor, dt: float) -> torch.Tensor:
    """``goal`` ``(E, 2)`` in each agent's frame before a step, in its frame after it, by the step's IMU ``(E, 3)``."""
    turn = -imu[:, 0] * dt
    cos, sin = turn.cos(), turn.sin()
    x, y = goal.unbind(-1)
    return torch.stack([cos * x - sin * y, sin * x + cos * y], -1) - imu[:, 1:] * dt


def drift(envs: int, noise: float, steps: int, seed: int) -> dict:
    env = env_for("pointgoal", envs, {"goal_sensor": "at_spawn", "reward": "goal_progress"}, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    goal = env.reset().obs["goal"].clone()
    errors, at_ends, stopped = [], [], 0
    before_end = torch.zeros(envs)
    for _ in range(steps):
        actions = torch.where(torch.rand(envs, generator=generator) < noise, env.sample_actions(), greedy_walker(env))
        step = env.step(actions)
        done = step.info["_episode"]
        progress = env.last_progress[:, 0]
        stopped += int(((progress > 0) & (progress < 1)).sum())
        goal = carried(goal, step.info["final_obs"]["imu"], env.world.dt)
        # the goal of an episode that just ended, from where it left its agent
        truth = to_agent_frame(env.goals - env.final_positions, env.world.agents.angles)[:, 0]
        error = (goal - truth).norm(dim=-1)
        at_ends += before_end[done].tolist()  # an ended episode's agent has respawned: its error one step earlier
        errors.append(error[~done])
        before_end = error
        goal = torch.where(done[:, None], step.obs["goal"], goal)
    ends = torch.tensor(at_ends)
    everything = torch.cat(errors)
    return {"noise": noise, "episodes": len(at_ends), "stopped_by_a_wall": stopped / (steps * envs),
            "error_mean": float(everything.mean()), "end_error_mean": float(ends.mean()),
            "end_error_p90": float(ends.quantile(0.9)), "end_error_max": float(ends.max()),
            "ends_beyond_success_radius": float((ends > 0.15).float().mean())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.2, 0.5])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=10000, help="the evaluation's seed: its test-split episodes")
    args = parser.parse_args()
    for noise in args.noise:
        print(json.dumps(drift(args.envs, noise, args.steps, args.seed)), flush=True)


if __name__ == "__main__":
    main()
