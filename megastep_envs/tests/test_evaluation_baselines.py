"""The scripted baselines do what each task asks better than random actions, measured as megastep eval does."""
import torch

from megastep_envs import Deathmatch, Explorer, PointGoal
from megastep_envs.evaluation import Sides, WallAvoider, aim_and_fire, greedy_walker, random_policy
from megastep_envs.evaluation.combat import measure_deathmatch
from megastep_envs.evaluation.exploration import measure_explorer
from megastep_envs.evaluation.navigation import measure_pointgoal
from megastep_geometry import toys


def pointgoal(room, **options):
    return PointGoal(8, geometries=[room], device="cpu", pixels=16, seed=1, lifespan=(100, 100), **options)


def test_the_geodesic_walker_goes_round_a_pillar_that_stops_the_straight_one(pillar_room):
    quota = torch.full((8,), 2)
    random = measure_pointgoal(pointgoal(pillar_room, goals_per_home=8), random_policy, quota)
    straight = measure_pointgoal(pointgoal(pillar_room), greedy_walker, quota)
    geodesic = measure_pointgoal(pointgoal(pillar_room, goals_per_home=8), greedy_walker, quota)
    assert random["episodes"] == straight["episodes"] == geodesic["episodes"] == 16
    assert geodesic["success_rate"] == 1.0 and geodesic["spl"] > 0.95
    assert straight["success_rate"] < geodesic["success_rate"]
    assert random["success_rate"] < 0.3 and random["spl"] < straight["spl"]


def test_every_policy_meets_the_same_episodes(pillar_room):
    """The starts and goals of an env's k-th episode do not depend on how long its earlier ones lasted."""
    starts = []
    for policy in (random_policy, greedy_walker):
        env = pointgoal(pillar_room, goals_per_home=8)
        env.reset()
        seen = {e: [(env.world.agents.positions[e, 0].tolist(), env.goals[e, 0].tolist())] for e in range(8)}
        for _ in range(150):
            done = env.step(policy(env)).info["_episode"]
            for e in done.nonzero()[:, 0].tolist():
                seen[e].append((env.world.agents.positions[e, 0].tolist(), env.goals[e, 0].tolist()))
        starts.append(seen)
    for e in range(8):
        common = min(len(starts[0][e]), len(starts[1][e]))
        assert common >= 2 and starts[0][e][:common] == starts[1][e][:common]


def test_the_wall_avoider_sees_more_wall_than_random_actions():
    home = toys.maze(3, 3, cell=1.5, seed=2)
    explorer = lambda: Explorer(4, geometries=[home], device="cpu", pixels=64, seed=1, lifespan=(301, 301),
                                patience=301)
    random = measure_explorer(explorer(), random_policy, [100, 300])
    avoider = measure_explorer(explorer(), WallAvoider(seed=1), [100, 300])
    assert 0 < random["coverage@100"] <= random["coverage@300"] <= 1
    assert avoider["coverage@300"] > random["coverage@300"]


def test_the_aim_and_fire_bot_outshoots_random_actions(pillar_room):
    # two agents an env, one a side: the bot takes every other agent for an opponent, as Deathmatch does
    deathmatch = lambda: Deathmatch(8, n_agents=2, geometries=[pillar_room], device="cpu", pixels=64, seed=1,
                                    lifespan=(201, 201))
    bot = measure_deathmatch(deathmatch(), Sides([aim_and_fire, random_policy]), 200)
    even = measure_deathmatch(deathmatch(), Sides([random_policy, random_policy]), 200)
    assert bot["hit_ratio"] > 1.5 and bot["win_rate"] > 0.5  # random against random gives about 1 and 0.5
    assert bot["hits_given"] > 2 * even["hits_given"]
    assert bot["hits_taken"] == bot["opponent_hits_given"]  # one agent a side: what one gives the other takes
