"""megastep's environments (Minimal, Explorer, PointGoal, Deathmatch) and the modules they are made of."""
from .base import Env, Reset, Step
from .checks import ActionError
from .deathmatch import Deathmatch
from .explorer import Explorer
from .minimal import Minimal
from .movement import ACTIONS, MomentumMovement, SimpleMovement
from .observations import IMU, RGB, Computed, Depth
from .pointgoal import PointGoal
from .registry import ENVS, UnknownEnvError, make

__version__ = "0.1.0"


def plot_state(state, fig=None):
    """Draws an env's :meth:`~megastep_envs.base.Env.state` (see :func:`megastep_envs.plotting.plot_state`)."""
    from .plotting import plot_state as plot

    return plot(state, fig)


__all__ = [
    "ACTIONS", "ENVS", "IMU", "RGB", "ActionError", "Computed", "Deathmatch", "Depth", "Env", "Explorer", "Minimal",
    "MomentumMovement", "PointGoal", "Reset", "SimpleMovement", "Step", "UnknownEnvError", "make", "plot_state",
]
