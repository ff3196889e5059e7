"""The contact geometry of megastep_physics.sweep, against hand-worked answers."""
import math

import pytest
import torch

from megastep_physics.sweep import disc_stop_times, nearest_on_wall, wall_stop_times

R_STOP, R_HIT = 0.107, 0.1065


def stop_time(p, d, a, b):
    p, d, a, b = (torch.tensor(x, dtype=torch.float32) for x in (p, d, a, b))
    length = torch.linalg.vector_norm(b - a)
    u = (b - a) / length
    return float(wall_stop_times(p[0], p[1], d[0], d[1], a[0], a[1], u[0], u[1], length, R_STOP, R_HIT))


def test_head_on_stops_at_the_stop_radius():
    # centre 1 m from a vertical wall, moving 2 m at it: it touches the stop radius after 1 - 0.107 m
    assert stop_time([0, 0], [2, 0], [1, -1], [1, 1]) == pytest.approx((1 - R_STOP) / 2, abs=1e-6)


def test_from_either_side():
    assert stop_time([2, 0], [-2, 0], [1, -1], [1, 1]) == pytest.approx((1 - R_STOP) / 2, abs=1e-6)


def test_a_move_that_ends_short_of_the_wall_is_free():
    assert stop_time([0, 0], [0.5, 0], [1, -1], [1, 1]) == math.inf


def test_a_move_that_ends_in_the_band_is_free():
    # ends 0.1068 m from the wall: inside the stop radius, outside the hit radius
    assert stop_time([0, 0], [1 - 0.1068, 0], [1, -1], [1, 1]) == math.inf


def test_end_point_contact_is_on_the_round_cap():
    # passing 0.05 m beside a wall's end: contact where the centre is R_STOP from the end point
    t = stop_time([0, 1.05], [2, 0], [1, 0], [1, 1])
    along = 1 - math.sqrt(R_STOP**2 - 0.05**2)
    assert t == pytest.approx(along / 2, abs=1e-6)


def test_passing_beyond_the_end_is_free():
    assert stop_time([0, 1.2], [2, 0], [1, 0], [1, 1]) == math.inf


def test_moving_away_from_a_touching_wall_is_free():
    assert stop_time([1 - R_STOP, 0], [-1, 0], [1, -1], [1, 1]) == math.inf


def test_moving_into_a_touching_wall_stops_at_once():
    assert stop_time([1 - R_STOP, 0], [1, 0], [1, -1], [1, 1]) == 0.0


def test_sliding_along_a_touching_wall_is_free():
    assert stop_time([1 - R_STOP, 0], [0, 0.5], [1, -1], [1, 1]) == math.inf


def test_sliding_past_the_joint_of_two_collinear_pieces_is_free():
    # resting on piece [-1, 0], slide onto piece [0, 1]: the joint must not stop it
    assert stop_time([1 - R_STOP, -0.3], [0, 0.6], [1, 0], [1, 1]) == math.inf


def test_shallow_angle_through_a_wall_is_stopped():
    # a 10 m move at 1 degree to the wall, crossing it: stops where it comes within R_STOP
    d = [10 * math.cos(math.radians(1)), 10 * math.sin(math.radians(1))]
    assert stop_time([0, -0.15], d, [0, 0], [20, 0]) == pytest.approx((0.15 - R_STOP) / d[1], rel=1e-4)


def test_very_fast_move_through_a_thin_wall_is_stopped():
    t = stop_time([0, 0], [1000, 0], [1, -1], [1, 1])
    assert t == pytest.approx((1 - R_STOP) / 1000, rel=1e-4)


def test_zero_move_never_touches():
    assert stop_time([0.5, 0], [0, 0], [1, -1], [1, 1]) == math.inf


def test_discs_head_on():
    # centres 1 m apart, closing by 2 m: stop when 2 r + margin apart
    t = float(disc_stop_times(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(-2.0), torch.tensor(0.0),
                              0.213, 0.2125))
    assert t == pytest.approx((1 - 0.213) / 2, abs=1e-6)


def test_discs_moving_apart_are_free():
    t = disc_stop_times(torch.tensor(0.2), torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0), 0.213, 0.2125)
    assert float(t) == math.inf


def test_discs_passing_wide_are_free():
    t = disc_stop_times(torch.tensor(-1.0), torch.tensor(0.3), torch.tensor(2.0), torch.tensor(0.0), 0.213, 0.2125)
    assert float(t) == math.inf


def test_nearest_point_clamps_to_the_ends():
    x, y = nearest_on_wall(torch.tensor(-1.0), torch.tensor(2.0), torch.tensor(0.0), torch.tensor(0.0),
                           torch.tensor(1.0), torch.tensor(0.0), torch.tensor(3.0))
    assert (float(x), float(y)) == (0.0, 0.0)
