"""Deathmatch's zero-sum reward: what one agent earns, another loses."""
import pytest
import torch

from megastep_envs import Deathmatch, Minimal
from megastep_envs.evaluation import Sides, aim_and_fire, random_policy
from megastep_envs.tasks.common import centre_targets


def deathmatch(room, **options):
    return Deathmatch(4, n_agents=3, geometries=[room], device="cpu", pixels=32, seed=2, lifespan=(400, 400),
                      reward="zero_sum_hits", **options)


def test_hits_given_pay_hits_taken_cost_and_deaths_pass_to_the_killers(pillar_room):
    # damage 0.25: four hits kill, so a few hundred steps of bots hold many deaths
    env = deathmatch(pillar_room, damage=0.25, outside_damage=0.0, reward_options={"hit": 1.0, "death": 3.0})
    env.reset()
    bots = Sides([aim_and_fire])
    paid_deaths = 0
    for _ in range(150):
        health = env.health.clone()
        step = env.step(bots(env))
        targets = centre_targets(env.world, env.last_render)
        aims = targets[:, :, None] == torch.arange(3)
        given, taken = (targets >= 0).float(), aims.sum(1).float()
        died = (health > 0) & (health - 0.25 * taken <= 0)
        assert torch.equal(died, (env.deaths > 0) & died)  # the env's update found the same deaths
        share = torch.where(died, 3.0 / taken.clamp_min(1), 0.0)
        expected = given - taken - 3.0 * died + (aims * share[:, None, :]).sum(-1)
        assert torch.allclose(step.reward, expected)
        assert torch.allclose(step.reward.sum(-1), torch.zeros(4), atol=1e-5)  # zero-sum in every env
        paid_deaths += int(died.sum())
    assert paid_deaths >= 3


def test_a_death_off_the_map_costs_without_a_payee(pillar_room):
    env = deathmatch(pillar_room, outside_damage=1.0, damage=0.0, reward_options={"death": 2.0})
    env.reset()
    env.world.agents.positions[0, 0] = torch.tensor([2.0, 2.0])  # inside the pillar: off the free space
    env.world.place()
    step = env.step(torch.zeros(4, 3, dtype=torch.int64))  # "nothing": nobody moves
    # walled in, it sees nobody and nobody sees it: its reward is its death alone, and nobody is paid for it
    assert step.reward[0, 0] == pytest.approx(-2.0)
    assert env.deaths[0, 0] == 1
    assert step.reward[0].sum() == pytest.approx(-2.0)


def test_zero_sum_hits_refuses_an_env_without_wounds(room):
    with pytest.raises(TypeError, match="zero_sum_hits.*Minimal"):
        Minimal(2, geometries=[room], device="cpu", reward="zero_sum_hits").reset()


def test_random_agents_earn_nothing_on_average_between_them(pillar_room):
    env = deathmatch(pillar_room)
    env.reset()
    total = torch.zeros(4)
    for _ in range(50):
        total += env.step(random_policy(env)).reward.sum(-1)
    assert torch.allclose(total, torch.zeros(4), atol=1e-4)


def test_the_reward_and_the_split_wound_compile_whole_and_change_nothing(pillar_room, traced_alike):
    """Traced by the compiler (its eager backend, on the CPU), as test_compiling does for the shipped envs."""
    def trace(env):
        env.reset()
        out = []
        for _ in range(8):
            step = env.step(env.sample_actions())
            out += [step.reward.clone(), env.health.clone()]
        return out

    got, expected = traced_alike(lambda: deathmatch(pillar_room, damage=0.3), trace)
    for a, b in zip(got, expected):
        assert torch.equal(a, b)
