"""PointGoal's goal sensors, its table of goals with distance fields, and the goal_progress reward."""
import math

import pytest
import torch

from megastep_envs import Minimal, PointGoal
from megastep_envs.modules.observations import to_agent_frame


def make(room, **options):
    options = {"geometries": [room], "device": "cpu", "pixels": 16, "seed": 3, **options}
    return PointGoal(4, **options)


def test_progress_rewards_sum_to_the_geodesic_distance_covered(pillar_room):
    env = make(pillar_room, reward="goal_progress", reward_options={"success": 0.0}, lifespan=(6, 12))
    env.reset()
    start = env.geodesic_to_goal()[:, 0].clone()
    paid = torch.zeros(4)
    episodes = 0
    for _ in range(40):
        old_goal_ids, old_goals = env.goal_ids.clone(), env.goals.clone()
        step = env.step(env.sample_actions())
        paid += step.reward
        done = step.info["_episode"]
        # where the ended episodes left their agents, measured to the goals they had
        end = env.occupancy.geodesic_lookup(env.goal_fields, old_goal_ids, env.final_positions, old_goals[:, 0])[:, 0]
        assert torch.allclose(step.info["episode"]["r"][done], (start - end)[done], atol=1e-4)
        now = env.geodesic_to_goal()[:, 0]
        assert torch.allclose(paid[~done], (start - now)[~done], atol=1e-4)
        episodes += int(done.sum())
        start = torch.where(done, now, start)
        paid = torch.where(done, 0.0, paid)
    assert episodes >= 4  # the lifespans ended several episodes on the way
    assert start.isfinite().all()


def test_the_discounted_potential_pays_the_distance_before_less_gamma_times_the_distance_after(pillar_room):
    env = make(pillar_room, reward="goal_progress", reward_options={"gamma": 0.9, "scale": 2.0, "success": 0.0},
               lifespan=(50, 50))
    env.reset()
    before = env.geodesic_to_goal()[:, 0].clone()
    step = env.step(env.sample_actions())
    after = env.geodesic_to_goal()[:, 0]
    assert torch.allclose(step.reward, 2.0 * (before - 0.9 * after), atol=1e-5)


def test_reaching_the_goal_pays_success_on_top_of_the_progress(open_room):
    env = make(open_room, reward="goal_progress", reward_options={"success": 5.0}, lifespan=(300, 300))
    env.reset()
    start = env.geodesic_to_goal()[:, 0].clone()
    returns = torch.full((4,), math.nan)
    for _ in range(200):
        step = env.step(env.greedy_actions())
        finished = step.terminated & returns.isnan()
        returns[finished] = step.info["episode"]["r"][finished]
    assert not returns.isnan().any(), "the greedy walker reaches every goal of an open room"
    end = (start - returns + 5.0)  # what the progress left: the distance at the end, within the success radius
    assert (end >= 0).all() and (end < env.success_radius + 1e-4).all()


def test_goals_come_from_each_homes_table_and_are_where_an_agent_stands(pillar_room, room):
    env = make(room, geometries=[pillar_room, room], goals_per_home=3)
    assert env.goal_points.shape == (6, 2) and env.goal_fields.shape[0] == 6
    env.reset()
    for _ in range(30):
        step = env.step(env.sample_actions())
    home = env.occupancy.env_geometry
    assert ((env.goal_ids // 3) == home).all()
    assert torch.equal(env.goals[:, 0], env.goal_points[env.goal_ids])
    assert (env.geodesic_to_goal(env.goals) == 0).all()
    assert step.obs["goal"].shape == (4, 2)


def test_without_a_table_the_spawner_draws_goals_and_geodesic_distances_are_refused(room):
    env = make(room)
    assert not env.has_geodesic
    env.reset()
    with pytest.raises(RuntimeError, match="goals_per_home"):
        env.geodesic_to_goal()


def test_the_every_step_sensor_tells_the_goal_in_the_current_frame(room):
    env = make(room, goal_sensor="every_step")
    env.reset()
    for _ in range(5):
        step = env.step(env.sample_actions())
        agents = env.world.agents
        now = to_agent_frame(env.goals - agents.positions, agents.angles)[:, 0]
        assert torch.allclose(step.obs["goal"], now, atol=1e-5)


def test_the_at_spawn_sensor_keeps_the_goal_as_told_at_spawn(room):
    env = make(room, lifespan=(50, 50))
    first = env.reset().obs["goal"].clone()
    for _ in range(5):
        step = env.step(env.sample_actions())
    assert torch.equal(step.obs["goal"], first)


def test_bad_goal_options_are_named(room):
    with pytest.raises(ValueError, match="goal_sensor"):
        make(room, goal_sensor="gps")
    with pytest.raises(ValueError, match="goals_per_home"):
        make(room, goals_per_home=0)
    with pytest.raises(ValueError, match="reward option gamma"):
        make(room, reward="goal_progress", reward_options={"gamma": 0.0})


def test_goal_progress_refuses_an_env_without_goals(room):
    env = Minimal(2, geometries=[room], device="cpu", reward="goal_progress")
    with pytest.raises(TypeError, match="goal_progress.*Minimal"):
        env.reset()


def test_the_new_fused_methods_compile_whole_and_change_nothing(pillar_room, traced_alike):
    """As test_compiling checks for the shipped envs: traced by the compiler (its ``eager`` backend, which runs on a
    CPU), the goal table's draws, the every-step sensor and goal_progress are each one graph, and step alike."""
    options = dict(goal_sensor="every_step", reward="goal_progress", lifespan=(3, 5))

    def trace(env):
        out = [env.reset().obs["goal"].clone()]
        for _ in range(8):
            step = env.step(env.sample_actions())
            out += [step.obs["goal"].clone(), step.reward.clone(), step.terminated.clone()]
        return out

    got, expected = traced_alike(lambda: make(pillar_room, **options), trace)
    for a, b in zip(got, expected):
        assert torch.equal(a, b)
