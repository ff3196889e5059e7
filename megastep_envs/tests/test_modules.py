"""The parts envs are made of: movement, observations, lifespans, action checks, occupancy."""
import math

import numpy as np
import pytest
import torch

from megastep_core import Camera, Render, World
from megastep_core.spaces import Box, Discrete
from megastep_envs.modules.movement import ACTIONS, MomentumMovement, SimpleMovement
from megastep_envs.modules.observations import IMU, RGB, Depth, downsample
from megastep_envs.modules.occupancy import OccupancyGrid
from megastep_envs.step.checks import ActionCheck, ActionError, DeferredFlag
from megastep_envs.step.lifespans import Lifespans
from megastep_envs.tools.bench import spawn


def world_in(room, n_envs=2, pixels=64, fps=10.0):
    world = World([room] * n_envs, 1, [Camera(pixels, 130)], "stop:torch", "raycast:torch", "cpu", fps=fps)
    world.agents.positions[:] = 1.5
    world.agents.angles[:] = 0.0
    world.place()
    return world


def actions(name, n_envs=2):
    return torch.full((n_envs, 1), ACTIONS.index(name))


def act_and_move(movement, name):
    """The step's act and move stages: the movement sets velocities, the physics moves by them."""
    movement(actions(name))
    return movement.world.move()


def test_simple_movement_moves_at_its_speed_in_the_facing_direction(room):
    world = world_in(room)
    world.agents.angles[:] = 90.0
    move = SimpleMovement(world, speed=2.0, turn_speed=60.0)
    act_and_move(move, "forward")
    assert torch.allclose(world.agents.positions[:, 0], torch.tensor([1.5, 1.5 + 2.0 * 0.1]), atol=1e-5)
    act_and_move(move, "strafe_left")  # facing +y, left is -x
    assert torch.allclose(world.agents.positions[:, 0], torch.tensor([1.5 - 0.2, 1.7]), atol=1e-5)
    act_and_move(move, "turn_right")
    assert torch.allclose(world.agents.angles, torch.tensor(90.0 - 6.0), atol=1e-4)
    act_and_move(move, "nothing")
    assert torch.allclose(world.agents.angles, torch.tensor(84.0), atol=1e-4)


def test_momentum_reaches_its_top_speed_at_any_fps(room):
    for fps in (10.0, 40.0):
        world = world_in(room, fps=fps)
        world.agents.positions[:, 0] = torch.tensor([0.3, 1.5])
        move = MomentumMovement(world, acceleration=6.0, decay=4.0)
        for _ in range(int(fps * 0.5)):  # half a second of pressing forward, from rest
            act_and_move(move, "forward")
        speed = world.agents.velocity[:, 0, 0]
        # exact solution of dv/dt = a - k v from rest: (a / k) (1 - exp(-k t))
        assert torch.allclose(speed, torch.tensor(1.5 * (1 - math.exp(-2.0))), atol=1e-4)
        assert move.top_speed == 1.5


def test_movement_rejects_nonsense_settings(room):
    world = world_in(room)
    with pytest.raises(ValueError, match="speed"):
        SimpleMovement(world, speed=float("nan"))
    with pytest.raises(ValueError, match="decay"):
        MomentumMovement(world, decay=0)


def fake_render(distances: torch.Tensor) -> Render:
    shape = distances.shape
    screen = torch.arange(distances.numel() * 3, dtype=torch.float32).reshape(*shape, 3)
    return Render(torch.zeros(shape, dtype=torch.long), torch.zeros(shape), torch.zeros(shape), distances, screen)


def test_depth_is_one_at_the_near_plane_and_zero_beyond_max_depth_or_on_a_miss(room):
    world = world_in(room, n_envs=1, pixels=4)
    depth = Depth(world, subsample=1, max_depth=5.0)
    near = world.agent_radius
    render = fake_render(torch.tensor([near, (near + 5.0) / 2, 7.0, float("inf")]).view(1, 1, 1, 4))
    assert torch.allclose(depth(render), torch.tensor([1.0, 0.5, 0.0, 0.0]).view(1, 1, 1, 4))
    assert depth.space.shape == (1, 4)


def test_rgb_averages_groups_of_rays_and_puts_channels_first(room):
    world = world_in(room, n_envs=1, pixels=8)
    rgb = RGB(world, subsample=4)
    render = fake_render(torch.ones(1, 1, 1, 8))
    out = rgb(render)
    assert out.shape == (1, 1, 1, 3, 2) and rgb.space.shape == (1, 3, 2)
    # pixel 0 averages rays 0-3, whose red channel is 0, 3, 6, 9
    assert out[0, 0, 0, 0, 0] == 4.5 and out[0, 0, 0, 2, 1] == (14 + 17 + 20 + 23) / 4
    with pytest.raises(ValueError, match="subsample 3 must divide"):
        RGB(world, subsample=3)


def test_downsample_is_a_mean():
    values = torch.arange(12.0).view(2, 6)
    assert torch.equal(downsample(values, 3, dim=-1), torch.tensor([[1.0, 4.0], [7.0, 10.0]]))


def test_the_imu_reports_the_last_move_per_second_in_the_frame_the_agent_ends_it_facing(room):
    world = world_in(room, n_envs=1)  # 10 steps a second
    imu = IMU(world)
    world.agents.angles[:] = 170.0
    imu.mark_poses()
    world.agents.positions += torch.tensor([0.0, 0.1])  # 0.1 m along +y, the world's left
    world.agents.angles[:] = -170.0  # 20 degrees counter-clockwise, across the wrap at 180
    # facing -170 degrees, +y lies ahead-right: forward sin(-170) * 0.1 m, leftward cos(-170) * 0.1 m, over 0.1 s
    forward, leftward = math.sin(math.radians(-170.0)), math.cos(math.radians(-170.0))
    assert torch.allclose(imu(None), torch.tensor([[[math.radians(20.0) * 10, forward, leftward]]]), atol=1e-4)
    imu.mark_poses()
    assert torch.equal(imu(None), torch.zeros(1, world.n_agents, 3))  # no move since


def test_the_imu_reads_no_motion_where_agents_just_spawned(room):
    world = world_in(room, n_envs=3)
    imu = IMU(world)
    world.agents.positions += 0.1  # every agent moved
    previous = imu(None)
    observation = previous.clone()
    spawned = torch.tensor([True, False, True])
    final = imu.refresh(None, spawned, observation)
    assert torch.equal(final[spawned], previous[spawned]) and torch.equal(observation[~spawned], previous[~spawned])
    assert torch.equal(observation[spawned], torch.zeros(2, world.n_agents, 3))
    torch.testing.assert_close(imu(None), observation)  # a second look agrees: the spawned have not moved since


def test_lifespans_draw_in_range_and_redraw_only_masked_envs():
    spans = Lifespans(1000, 5, 9, seed=0)
    assert spans.limits.min() == 5 and spans.limits.max() == 9
    before = spans.limits.clone()
    mask = torch.arange(1000) < 500
    spans.reset(mask)
    assert torch.equal(spans.limits[500:], before[500:]) and not torch.equal(spans.limits[:500], before[:500])
    assert torch.equal(spans.expired(torch.full((1000,), 9)), torch.ones(1000, dtype=torch.bool))
    again = Lifespans(1000, 5, 9, seed=0)
    assert torch.equal(again.limits, before)
    assert not torch.equal(Lifespans(1000, 5, 9, seed=1).limits, before)
    assert set(before.tolist()) == {5, 6, 7, 8, 9}
    assert spans.random.counters.tolist() == [2] * 500 + [1] * 500  # one draw per reset of each env
    for bad in [(0, 3), (5, 4), (1.5, 3), (float("nan"), 3)]:
        with pytest.raises(ValueError, match="lifespan"):
            Lifespans(2, *bad)


def test_action_check_names_what_it_expected():
    check = ActionCheck(Discrete(7), (4,), "cpu")
    assert torch.equal(check(torch.tensor([0, 6, 3, 1])), torch.tensor([0, 6, 3, 1]))
    with pytest.raises(ActionError, match=r"shape \(4,\), got \(4, 1\)"):
        check(torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(ActionError, match="integer tensor"):
        check(torch.zeros(4))
    with pytest.raises(ActionError, match=r"integers in \[0, 7\)"):
        check(torch.tensor([0, 7, 0, 0]))
    with pytest.raises(ActionError, match=r"integers in \[0, 7\)"):
        check(torch.tensor([0, -1, 0, 0]))
    with pytest.raises(ActionError, match="torch.Tensor"):
        check([0, 1, 2, 3])
    with pytest.raises(ActionError, match="device"):
        check(torch.zeros(4, dtype=torch.long, device="meta"))


def test_action_check_rejects_nan_in_continuous_actions():
    check = ActionCheck(Box((3,), -1.0, 1.0), (2,), "cpu")
    assert check(torch.zeros(2, 3)).shape == (2, 3)
    with pytest.raises(ActionError, match="finite numbers"):
        check(torch.tensor([[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ActionError, match="floating-point"):
        check(torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.gpu
def test_deferred_flag_raises_a_few_steps_later_without_syncing():
    flag = DeferredFlag("cuda", "actions must be good", every=2)
    flag.record(torch.tensor(False, device="cuda"))
    flag.record(torch.tensor(True, device="cuda"))
    with pytest.raises(ActionError, match="actions must be good"):
        for _ in range(100):
            flag.poll()
            torch.cuda.synchronize()


def test_occupancy_tells_free_space_from_outside(room, pillar_room):
    grid = OccupancyGrid([room, pillar_room], "cpu")
    points = torch.tensor([[[1.5, 1.5], [-1.0, 1.0]], [[2.0, 2.0], [0.5, 0.5]]])
    assert grid.free(points).tolist() == [[True, False], [False, True]]


def test_occupancy_agrees_with_each_mask_cell_by_cell(room, pillar_room):
    geometries = [pillar_room, room, pillar_room]  # masks of different sizes, one stored twice
    grid = OccupancyGrid(geometries, "cpu")
    points = torch.rand(3, 500, 2, generator=torch.Generator().manual_seed(0)) * 12 - 4  # inside and far off
    free = grid.free(points)
    for e, geometry in enumerate(geometries):
        cells = np.floor((points[e].numpy() - geometry.origin) / geometry.resolution).astype(int)
        rows, columns = geometry.mask.shape
        inside = (cells[:, 0] >= 0) & (cells[:, 1] >= 0) & (cells[:, 0] < columns) & (cells[:, 1] < rows)
        expected = np.zeros(len(cells), dtype=bool)
        expected[inside] = geometry.mask[cells[inside, 1], cells[inside, 0]]
        assert np.array_equal(free[e].numpy(), expected)
        assert expected.any() and not expected.all()


@pytest.mark.gpu
def test_the_observation_kernels_read_as_the_torch_reference_on_the_gpu(pillar_room):
    pytest.importorskip("cupy")
    world = World([pillar_room] * 4, 2, [Camera(64, 120.0)], "stop:cuda", "raycast:cuda", "cuda")
    spawn(world, seed=4)
    render = world.render()
    mask = torch.tensor([True, False, False, True], device="cuda")
    for make in (lambda b: RGB(world, 4, backend=b), lambda b: Depth(world, 4, backend=b), lambda b: IMU(world, b)):
        fused, reference = make("cuda"), make("torch")
        assert fused._kernel is not None and reference._kernel is None
        if isinstance(fused, IMU):  # a move since the poses were marked, of some centimetres and degrees
            moved_from = world.agents.positions - torch.randn_like(world.agents.positions) * 0.1
            turned_from = torch.remainder(world.agents.angles - torch.randn_like(world.agents.angles) * 20 + 180,
                                          360) - 180
            for imu in (fused, reference):
                imu.moved_from.copy_(moved_from)
                imu.turned_from.copy_(turned_from)
        expected = reference(render)
        assert not isinstance(fused, IMU) or expected.abs().min() > 0
        torch.testing.assert_close(fused(render), expected, rtol=1e-5, atol=1e-5)
        previous = torch.rand(expected.shape, device=expected.device)
        observation = previous.clone()
        final = fused.refresh(render, mask, observation)
        assert torch.equal(observation[~mask], previous[~mask]) and torch.equal(final[mask], previous[mask])
        # observed again: RGB and depth the render's rows; the IMU no motion, as where agents just spawned
        again = torch.zeros_like(expected) if isinstance(fused, IMU) else expected
        torch.testing.assert_close(observation[mask], again[mask], rtol=1e-5, atol=1e-6)
        if isinstance(fused, IMU):  # the spawned agents' poses marked, the others' kept
            assert torch.equal(fused.moved_from[mask], world.agents.positions[mask])
            assert torch.equal(fused.turned_from[~mask], reference.turned_from[~mask])


@pytest.mark.gpu
def test_the_action_kernel_clamps_and_flags_on_the_gpu():
    pytest.importorskip("cupy")
    check = ActionCheck(Discrete(7), (3,), "cuda")
    assert check._kernel is not None
    assert torch.equal(check.sanitize(torch.tensor([0, 3, 6], device="cuda")).cpu(), torch.tensor([0, 3, 6]))
    assert not bool(check.values.flag)
    assert torch.equal(check.sanitize(torch.tensor([-2, 3, 9], device="cuda")).cpu(), torch.tensor([0, 3, 6]))
    assert bool(check.values.flag)
