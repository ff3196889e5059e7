"""The soak's and the property tests' checks catch what they are meant to catch."""
import torch
from physics_checks import Checker, legs_of
from physics_scenes import box_walls, room

from megastep_core import build_scenery


def checker():
    walls = [*box_walls(), [[2.0, 0.0], [2.0, 2.0]]]  # a wall up the middle, open at the top
    return Checker(build_scenery([room(walls)], 1, 0.106))


def test_a_jump_through_a_wall_is_a_crossing():
    legs = legs_of(torch.tensor([[[1.0, 1.0]]]), torch.tensor([[[3.0, 1.0]]]))
    assert checker().crossings(legs) == 1


def test_going_around_a_wall_is_no_crossing_but_its_chord_is():
    before, after = torch.tensor([[[1.0, 1.0]]]), torch.tensor([[[3.0, 1.0]]])
    path = torch.tensor([[[[1.0, 1.0], [1.5, 2.5], [2.5, 2.5], [3.0, 1.0]]]])
    assert checker().crossings(legs_of(before, after, path)) == 0
    assert checker().crossings(legs_of(before, after)) == 1


def test_brushing_a_wall_mid_leg_is_a_penetration():
    # both ends are clear of the wall at x = 2, but the leg passes 5 cm above its top end
    legs = legs_of(torch.tensor([[[1.0, 2.05]]]), torch.tensor([[[3.0, 2.05]]]))
    assert checker().penetrations(legs) == 1
    assert abs(checker().closest(legs)[0, 0] - 0.05) < 1e-6


def test_clear_moves_pass():
    legs = legs_of(torch.tensor([[[1.0, 1.0]]]), torch.tensor([[[1.5, 1.5]]]))
    assert checker().crossings(legs) == 0 and checker().penetrations(legs) == 0


def test_overlapping_agents_are_counted():
    check = Checker(build_scenery([room(box_walls())], 3, 0.106))
    assert check.overlaps(torch.tensor([[[1.0, 1.0], [1.2, 1.0], [3.0, 1.0]]])) == 1
