"""The IMU as odometry: its readings sum to the agent's path, walls or not, so that PointGoal's goal told once at
spawn can be carried along exactly."""
import math

import torch

from megastep_envs import PointGoal
from megastep_envs.modules.movement import ACTIONS
from megastep_geometry import toys


def carried(goal: torch.Tensor, imu: torch.Tensor, dt: float) -> torch.Tensor:
    """``goal`` ``(E, 2)``, in the agent's frame before a step, in its frame after it, from the step's ``imu``
    reading ``(E, 3)``: turned back by the agent's turn, less its move."""
    turn = -imu[:, 0] * dt
    cos, sin = turn.cos(), turn.sin()
    x, y = goal.unbind(-1)
    return torch.stack([cos * x - sin * y, sin * x + cos * y], -1) - imu[:, 1:] * dt


def test_the_goal_told_at_spawn_carried_by_the_imu_is_the_goal_now_though_agents_hit_walls():
    env = PointGoal(16, geometries=[toys.box(2.0, 2.0)], device="cpu", pixels=16, seed=5, lifespan=(20, 40))
    dt = env.world.dt
    first = env.reset().obs
    assert torch.equal(first["imu"], torch.zeros(16, 3))  # nothing has moved yet
    goal = first["goal"].clone()
    stopped = episodes = 0
    generator = torch.Generator().manual_seed(0)
    walking = torch.tensor([ACTIONS.index(a) for a in ("forward", "forward", "strafe_left", "turn_left", "back")])
    for _ in range(200):
        actions = walking[torch.randint(len(walking), (16,), generator=generator)]
        step = env.step(actions)
        done = step.info["_episode"]
        # the agents a wall stopped part of the way: the physics left them no velocity, though they moved
        stopped += int(((env.last_progress[:, 0] > 0) & (env.last_progress[:, 0] < 1)).sum())
        goal = carried(goal, step.obs["imu"], dt)
        goal = torch.where(done[:, None], step.obs["goal"], goal)  # a new episode: the goal told at its spawn
        assert torch.equal(step.obs["imu"][done], torch.zeros(int(done.sum()), 3))  # a new agent has not moved
        torch.testing.assert_close(goal, env.goal_now()[:, 0], rtol=0, atol=1e-4)
        episodes += int(done.sum())
    assert stopped >= 20 and episodes >= 16  # walls were met, and episodes began anew, often


def test_an_agent_stopped_by_a_wall_reads_how_far_it_moved():
    env = PointGoal(1, geometries=[toys.box(2.0, 2.0)], device="cpu", pixels=16, seed=0)
    env.reset()
    agents = env.world.agents
    # 4 cm short of touching the east wall, whose face is at x = 2 m (the floor spans [0, 2] metres)
    agents.positions[0, 0] = torch.tensor([2.0 - env.world.agent_radius - 0.04, 1.0])
    agents.angles[0, 0] = 0.0  # facing it
    env.world.place()
    before = agents.positions[0, 0].clone()
    step = env.step(torch.tensor([ACTIONS.index("forward")]))
    moved = float(agents.positions[0, 0, 0] - before[0])
    assert 0.02 < moved < 0.04 and float(env.last_progress[0, 0]) < 0.5  # most of its 0.1 m was blocked
    assert torch.equal(agents.velocity[0, 0], torch.zeros(2))  # the physics stopped it
    torch.testing.assert_close(step.obs["imu"][0], torch.tensor([0.0, moved / env.world.dt, 0.0]), atol=1e-5,
                               rtol=0)
    assert math.isclose(float(step.obs["imu"][0, 1]) * env.world.dt, moved, abs_tol=1e-6)
