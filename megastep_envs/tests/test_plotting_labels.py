"""The observation strips of ``plot_state`` (and so of ``megastep demo``) say what they show."""
import pytest

from megastep_envs import make
from megastep_envs.tools.plotting import plot_state


@pytest.fixture
def room():
    from megastep_geometry import toys

    return [toys.box(3.0, 3.0)]


def test_every_strip_is_labelled_and_depth_says_which_shade_is_near(room):
    env = make("deathmatch", 1, geometries=room, n_agents=2, device="cpu", pixels=64)
    env.reset()
    figure = plot_state(env.state(0))
    titles = [axis.get_title(loc="left") for axis in figure.axes[1:]]
    assert titles == ["agent 0 colour seen", "agent 0 depth: white near, black far",
                      "agent 1 colour seen", "agent 1 depth: white near, black far"]
