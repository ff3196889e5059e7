"""The `torch` physics: agents stop just short of walls and each other, on hand-made scenes."""
import math

import pytest
import torch
from physics_scenes import RADIUS, box_walls, scene

from megastep_core import draw_bodies, make_backend
from megastep_core.testing import devices
from megastep_physics import DEFAULT_MARGIN, StopPhysics

STOP = RADIUS + DEFAULT_MARGIN


@pytest.mark.parametrize("device", devices())
def test_free_move_is_exact(device):
    scenery, agents = scene([[[1.0, 1.0]]], [[[2.0, 1.0]]], angles=[[10.0]], angvelocity=[[30.0]], device=device)
    progress = StopPhysics().step(scenery, agents, 0.1)
    assert agents.positions[0, 0].tolist() == pytest.approx([1.2, 1.1])
    assert agents.angles.item() == pytest.approx(13.0)
    assert progress.item() == 1.0
    assert agents.velocity[0, 0].tolist() == [2.0, 1.0]
    assert agents.angvelocity.item() == 30.0


@pytest.mark.parametrize("device", devices())
def test_stops_short_of_a_wall_and_loses_its_velocity(device):
    # 1 m from the right wall (x = 4), asked to move 2 m towards it
    scenery, agents = scene([[[3.0, 1.5]]], [[[20.0, 0.0]]], angvelocity=[[90.0]], device=device)
    progress = StopPhysics().step(scenery, agents, 0.1)
    assert agents.positions[0, 0, 0].item() == pytest.approx(4 - STOP, abs=1e-5)
    assert agents.positions[0, 0, 1].item() == 1.5
    assert progress.item() == pytest.approx((1 - STOP) / 2, abs=1e-5)
    assert agents.velocity.abs().sum().item() == 0
    assert agents.angvelocity.item() == 0
    assert agents.angles.item() == pytest.approx(9.0)  # a disc can always turn


@pytest.mark.parametrize("device", devices())
def test_stopped_agent_stays_put_when_pushed_again(device):
    scenery, agents = scene([[[3.0, 1.5]]], [[[20.0, 0.0]]], device=device)
    physics = StopPhysics()
    physics.step(scenery, agents, 0.1)
    resting = agents.positions.clone()
    agents.velocity.fill_(5.0)  # into the wall (and up)
    assert physics.step(scenery, agents, 0.1).item() == 0.0
    assert torch.equal(agents.positions, resting)


def test_moving_away_from_a_wall_it_touches_is_free():
    scenery, agents = scene([[[4 - STOP, 1.5]]], [[[-1.0, 0.0]]])
    assert StopPhysics().step(scenery, agents, 0.1).item() == 1.0
    assert agents.positions[0, 0, 0].item() == pytest.approx(4 - STOP - 0.1)


def test_into_a_corner_at_45_degrees():
    scenery, agents = scene([[[3.5, 2.5]]], [[[10.0, 10.0]]])
    StopPhysics().step(scenery, agents, 0.1)
    # both walls are 0.5 m away: it touches both at once
    assert agents.positions[0, 0].tolist() == pytest.approx([4 - STOP, 3 - STOP], abs=1e-5)


def test_convex_corner_is_a_round_cap():
    # a lone wall from (2, 0.5) to (2, 2); an agent passes 5 cm beyond its top end
    walls = [*box_walls(), [[2, 0.5], [2, 2]]]
    scenery, agents = scene([[[1.0, 2.05]]], [[[20.0, 0.0]]], walls=walls)
    StopPhysics().step(scenery, agents, 0.1)
    x = agents.positions[0, 0, 0].item()
    assert x == pytest.approx(2 - math.sqrt(STOP**2 - 0.05**2), abs=1e-5)


def test_shallow_angle_along_a_wall_never_crosses():
    # 1 cm from the floor's stop radius, heading 0.5 degrees down at 20 m/s for 10 steps
    heading = math.radians(-0.5)
    scenery, agents = scene([[[0.2, STOP + 0.01]]], [[[20 * math.cos(heading), 20 * math.sin(heading)]]])
    physics = StopPhysics()
    for _ in range(10):
        physics.step(scenery, agents, 0.1)
        assert agents.positions[0, 0, 1].item() >= RADIUS


def test_agents_head_on_stop_apart():
    scenery, agents = scene([[[1.0, 1.5], [2.0, 1.5]]], [[[5.0, 0.0], [-5.0, 0.0]]])
    progress = StopPhysics().step(scenery, agents, 0.1)
    gap = agents.positions[0, 1, 0] - agents.positions[0, 0, 0]
    assert gap.item() == pytest.approx(2 * RADIUS + DEFAULT_MARGIN, abs=1e-5)
    assert progress[0].tolist() == pytest.approx([(1 - gap.item()) / 1] * 2, abs=1e-5)
    assert agents.velocity.abs().sum().item() == 0


def test_agent_runs_into_a_resting_agent():
    scenery, agents = scene([[[1.0, 1.5], [2.0, 1.5]]], [[[20.0, 0.0], [0.0, 0.0]]])
    progress = StopPhysics().step(scenery, agents, 0.1)
    assert agents.positions[0, 0, 0].item() == pytest.approx(2 - 2 * RADIUS - DEFAULT_MARGIN, abs=1e-5)
    assert agents.positions[0, 1].tolist() == [2.0, 1.5]
    assert progress[0, 1].item() == 1.0  # it was not asked to move
    assert progress[0, 0].item() == pytest.approx((1 - 2 * RADIUS - DEFAULT_MARGIN) / 2, abs=1e-5)


def test_agent_stopped_by_a_wall_blocks_the_one_behind():
    # agent 0 is stopped by the right wall; agent 1 follows 0.3 m behind at the same speed
    scenery, agents = scene([[[3.5, 1.5], [3.2, 1.5]]], [[[20.0, 0.0], [20.0, 0.0]]])
    StopPhysics().step(scenery, agents, 0.1)
    x0, x1 = agents.positions[0, :, 0].tolist()
    assert x0 == pytest.approx(4 - STOP, abs=1e-5)
    assert x0 - x1 >= 2 * RADIUS + DEFAULT_MARGIN / 2


def test_crossing_paths_do_not_pass_through_each_other():
    # each would reach the other's side within the step; they must stop before touching
    scenery, agents = scene([[[1.0, 1.5], [2.0, 1.5]]], [[[30.0, 0.0], [-30.0, 0.0]]])
    StopPhysics().step(scenery, agents, 0.1)
    x0, x1 = agents.positions[0, :, 0].tolist()
    assert x0 < x1 and x1 - x0 >= 2 * RADIUS


def test_body_lines_are_not_walls():
    # the agents' body lines, drawn into the scenery as World does, must not stop anyone:
    # agents meet each other as discs only
    scenery, agents = scene([[[1.0, 1.5], [1.5, 1.5]]], [[[1.0, 0.0], [0.0, 1.0]]])
    draw_bodies(scenery, agents)
    assert scenery.lines[0][: scenery.n_body_lines].abs().sum() > 0
    assert StopPhysics().step(scenery, agents, 0.1).tolist() == [[1.0, 1.0]]


def test_angles_wrap_into_minus_180_to_180():
    scenery, agents = scene([[[1.0, 1.0], [2.0, 2.0]]], [[[0.0, 0.0], [0.0, 0.0]]],
                            angles=[[170.0, -170.0]], angvelocity=[[200.0, -200.0]])
    StopPhysics().step(scenery, agents, 0.1)
    assert agents.angles[0].tolist() == pytest.approx([-170.0, 170.0])
    assert ((agents.angles >= -180) & (agents.angles < 180)).all()


def test_plugin_makes_it():
    assert isinstance(make_backend("physics", "stop:torch"), StopPhysics)
    assert make_backend("physics", "stop:torch", margin=0.01).margin == 0.01


@pytest.mark.parametrize(
    "problem, match",
    [
        (lambda s, a: setattr(a, "positions", a.positions[:, :, :1]), "positions must have shape"),
        (lambda s, a: setattr(a, "velocity", a.velocity.double()), "velocity must be float32"),
        (lambda s, a: setattr(a, "angles", a.angles[:0]), "angles must have shape"),
    ],
)
def test_bad_state_is_a_clear_error(problem, match):
    scenery, agents = scene([[[1.0, 1.0]]], [[[0.0, 0.0]]])
    problem(scenery, agents)
    with pytest.raises(ValueError, match=match):
        StopPhysics().step(scenery, agents, 0.1)


def test_bad_dt_and_options_are_clear_errors():
    scenery, agents = scene([[[1.0, 1.0]]], [[[0.0, 0.0]]])
    with pytest.raises(ValueError, match="dt must be a positive"):
        StopPhysics().step(scenery, agents, 0.0)
    with pytest.raises(ValueError, match="margin must be in"):
        StopPhysics(margin=-1)
    with pytest.raises(ValueError, match="unknown options \\['bounce'\\]"):
        make_backend("physics", "stop:torch", bounce=True)


def test_the_old_class_name_warns_at_the_line_that_imports_it():
    with pytest.warns(DeprecationWarning, match="TorchPhysics is deprecated") as caught:
        from megastep_physics import TorchPhysics
    assert TorchPhysics is StopPhysics
    assert {warning.filename for warning in caught} == {__file__}
