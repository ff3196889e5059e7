"""The World's check that agents' state is finite: NaN velocities or positions fail at the next move or render."""
import pytest
import torch

from megastep_core import Camera, StateError, World


@pytest.fixture
def world():
    from megastep_geometry import toys

    return World([toys.box(3.0, 3.0)] * 3, n_agents=2, cameras=[Camera(pixels=8, fov=90)], physics="stop:torch",
                 renderer="raycast:torch", device="cpu")


def place(world):
    world.agents.positions[:] = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    world.place()


def test_nan_velocity_fails_at_the_next_move(world):
    place(world)
    world.move()
    world.agents.velocity[1, 0, 0] = float("nan")
    with pytest.raises(StateError, match=r"World.move\(\): agents.velocity holds NaN or infinite values in 1 "
                                         r"env\(s\) \(1\); .*check_finite=False"):
        world.move()


def test_nan_position_fails_at_the_next_render(world):
    place(world)
    world.agents.positions[2, 1, 1] = float("inf")
    with pytest.raises(StateError, match=r"World.render\(\): agents.positions .* \(2\)"):
        world.render()


def test_the_check_can_be_switched_off_and_is_off_by_default_on_a_gpu(world):
    from megastep_geometry import toys

    assert world.check_finite
    unchecked = World([toys.box(3.0, 3.0)], n_agents=2, cameras=[Camera(pixels=8, fov=90)], physics="stop:torch",
                      renderer="raycast:torch", device="cpu", check_finite=False)
    place(unchecked)
    unchecked.agents.angvelocity[0, 0] = float("nan")
    unchecked.move()  # spreads, unchecked, as asked
    assert unchecked.agents.angles.isnan().any()
    if torch.cuda.is_available():
        assert not World([toys.box(3.0, 3.0)], device="cuda").check_finite


def test_the_world_draws_bodies_as_its_physics_runs_and_says_what_it_chose():
    from megastep_geometry import toys

    world = World([toys.box(3.0, 3.0)], cameras=[Camera(pixels=8, fov=90)], physics="stop", renderer="raycast",
                  device="cpu")
    assert world.backends == {"physics": "stop:torch", "renderer": "raycast:torch"}
    assert world.kernels.implementation == "torch"  # a torch physics never runs the body kernel


def test_old_backend_names_still_work_and_name_the_new_ones():
    from megastep_geometry import toys

    with pytest.warns(DeprecationWarning, match="'torch' is deprecated: use 'stop:torch'"):
        world = World([toys.box(3.0, 3.0)], cameras=[Camera(pixels=8, fov=90)], physics="torch",
                      renderer="raycast:torch", device="cpu")
    assert world.backends["physics"] == "stop:torch"
    from megastep_physics import StopPhysics

    with pytest.warns(DeprecationWarning, match="TorchPhysics is deprecated: it is the stop physics, StopPhysics"):
        from megastep_physics import TorchPhysics
    assert TorchPhysics is StopPhysics
