"""Why PointGoal's first logged training episodes report success 1.0, and why evaluation counts fixed episodes.

An episode of PointGoal ends early only by reaching its goal; otherwise it runs until its lifespan, of at least
``lifespan[0]`` steps. Every env starts together, so before that many steps the only episodes to have ended are
successes: the share of ended episodes that succeeded is 1 whatever the policy. The training loop's
``charts/success_rate`` is that share over the episodes ended within each update.
"""
import torch

from megastep_envs import PointGoal
from megastep_envs.evaluation import random_policy
from megastep_envs.evaluation.navigation import measure_pointgoal


def test_before_the_shortest_lifespan_every_ended_episode_is_a_success(pillar_room):
    env = PointGoal(32, geometries=[pillar_room], device="cpu", pixels=16, seed=5, lifespan=(60, 80))
    env.reset()
    ended = succeeded = 0
    for _ in range(59):
        step = env.step(random_policy(env))
        ended += int(step.info["_episode"].sum())
        succeeded += int(step.terminated.sum())
    assert ended > 0 and succeeded == ended  # a success rate of 1.0 over the episodes that ended
    # over a fixed set of episodes (the first of each env), the same policy mostly fails
    fixed = measure_pointgoal(PointGoal(32, geometries=[pillar_room], device="cpu", pixels=16, seed=5,
                                        lifespan=(60, 80)), random_policy, torch.ones(32, dtype=torch.int64))
    assert fixed["episodes"] == 32 and fixed["success_rate"] < 0.5
