"""The `slide` physics: agents slide along walls and push each other."""
import math

import pytest
import torch
from physics_scenes import RADIUS, box_walls, scene

from megastep_core import make_backend
from megastep_core.testing import devices
from megastep_physics import DEFAULT_MARGIN, SlidePhysics

STOP = RADIUS + DEFAULT_MARGIN


@pytest.mark.parametrize("device", devices())
def test_slides_along_a_wall_for_the_rest_of_the_step(device):
    # 0.5 m below the top wall (y = 3), moving (1, 1) m in the step: meets it after 0.5 - STOP m
    scenery, agents = scene([[[1.0, 2.5]]], [[[10.0, 10.0]]], device=device)
    progress = SlidePhysics().step(scenery, agents, 0.1)
    x, y = agents.positions[0, 0].tolist()
    assert y == pytest.approx(3 - STOP, abs=1e-5)
    assert x == pytest.approx(2.0, abs=1e-5)  # the sideways part of the move is all kept
    assert agents.velocity[0, 0].tolist() == pytest.approx([10.0, 0.0], abs=1e-4)
    assert progress.item() == pytest.approx(((x - 1) + (y - 2.5)) / 2, abs=1e-5)


def test_keeps_sliding_next_step():
    scenery, agents = scene([[[1.0, 2.5]]], [[[10.0, 10.0]]])
    physics = SlidePhysics()
    physics.step(scenery, agents, 0.1)
    physics.step(scenery, agents, 0.1)
    assert agents.positions[0, 0].tolist() == pytest.approx([3.0, 3 - STOP], abs=1e-5)


def test_glides_over_the_joints_of_a_wall_in_pieces():
    # the top wall in 10 cm pieces; moving along it must not catch on the joints
    pieces = [[[x / 10, 3.0], [(x + 1) / 10, 3.0]] for x in range(40)]
    walls = [*box_walls()[:2], *pieces, box_walls()[3]]
    scenery, agents = scene([[[0.5, 3 - STOP]]], [[[20.0, 1.0]]], walls=walls)
    physics = SlidePhysics()
    physics.step(scenery, agents, 0.1)
    assert agents.positions[0, 0, 0].item() == pytest.approx(2.5, abs=1e-4)
    assert agents.positions[0, 0, 1].item() <= 3 - RADIUS


def test_stops_in_a_corner():
    scenery, agents = scene([[[3.5, 2.5]]], [[[30.0, 10.0]]])
    SlidePhysics().step(scenery, agents, 0.1)
    assert agents.positions[0, 0].tolist() == pytest.approx([4 - STOP, 3 - STOP], abs=1e-5)
    assert agents.velocity[0, 0].tolist() == pytest.approx([0.0, 0.0], abs=1e-4)


def test_acute_corner_is_never_crossed():
    # a wedge of 20 degrees opening to the left; drive into its tip hard, many times
    tip = [3.0, 1.5]
    spread = math.radians(10)
    walls = [*box_walls(), [tip, [tip[0] - 2 * math.cos(spread), 1.5 + 2 * math.sin(spread)]],
             [tip, [tip[0] - 2 * math.cos(spread), 1.5 - 2 * math.sin(spread)]]]
    scenery, agents = scene([[[1.5, 1.52]]], [[[25.0, 0.3]]], walls=walls)
    physics = SlidePhysics()
    for _ in range(20):
        physics.step(scenery, agents, 0.1)
        agents.velocity.add_(torch.tensor([5.0, 0.0]))
        x, y = agents.positions[0, 0].tolist()
        # inside the wedge: above the lower wall and below the upper one, by at least the radius
        for sign in (1, -1):
            normal = (math.sin(spread), sign * math.cos(spread))
            distance = abs((x - tip[0]) * normal[0] + (y - tip[1]) * normal[1])
            assert distance >= RADIUS
        assert x <= tip[0]


def test_touching_agents_share_their_closing_speed():
    # agent 0 runs at 2 m/s into agent 1, resting against it: they leave together at 1 m/s
    gap = 2 * RADIUS + DEFAULT_MARGIN
    scenery, agents = scene([[[1.0, 1.5], [1.0 + gap, 1.5]]], [[[2.0, 0.0], [0.0, 0.0]]])
    SlidePhysics().step(scenery, agents, 0.1)
    assert agents.velocity[0].tolist() == [pytest.approx([1.0, 0.0]), pytest.approx([1.0, 0.0])]
    assert agents.positions[0, :, 0].tolist() == pytest.approx([1.1, 1.1 + gap], abs=1e-5)


def test_pushing_conserves_momentum_and_is_symmetric():
    gap = 2 * RADIUS + DEFAULT_MARGIN
    diagonal = gap / math.sqrt(2)
    scenery, agents = scene([[[1.0, 1.0], [1.0 + diagonal, 1.0 + diagonal]]], [[[3.0, 1.0], [-1.0, 0.5]]])
    before = agents.velocity.sum(1)
    SlidePhysics().step(scenery, agents, 0.01)
    assert agents.velocity.sum(1).tolist() == [pytest.approx(before[0].tolist(), abs=1e-5)]
    relative = agents.velocity[0, 0] - agents.velocity[0, 1]
    assert (relative[0] + relative[1]).item() == pytest.approx(0, abs=1e-5)  # no closing speed left


def test_agents_meeting_mid_step_stop_apart():
    scenery, agents = scene([[[1.0, 1.5], [2.0, 1.5]]], [[[30.0, 0.0], [-30.0, 0.0]]])
    SlidePhysics().step(scenery, agents, 0.1)
    x0, x1 = agents.positions[0, :, 0].tolist()
    assert x1 - x0 == pytest.approx(2 * RADIUS + DEFAULT_MARGIN, abs=1e-5)


def test_plugin_makes_it_with_options():
    physics = make_backend("physics", "slide", sub_contacts=2, margin=0.002)
    assert isinstance(physics, SlidePhysics) and physics.sub_contacts == 2 and physics.margin == 0.002
    with pytest.raises(ValueError, match="sub_contacts must be an integer"):
        make_backend("physics", "slide", sub_contacts=0)
