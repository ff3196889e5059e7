"""megastep's environments (Minimal, Explorer, PointGoal, Deathmatch) and the modules they are made of.

The package is laid out as the step reads: ``step/`` the runtime, ``modules/`` the parts envs are made of,
``tasks/`` one file per env, ``tools/`` what runs around envs (bench, demo, plotting).
"""
import warnings

from megastep_core.deprecation import old_names

from . import _moved
from .modules.movement import ACTIONS, MomentumMovement, SimpleMovement
from .modules.observations import IMU, RGB, Depth, FunctionObservation
from .registry import ENVS, UnknownEnvError, make
from .step.checks import ActionError
from .step.env import Env, Reset, Step
from .tasks.deathmatch import Deathmatch
from .tasks.explorer import Explorer
from .tasks.minimal import Minimal
from .tasks.pointgoal import PointGoal

_moved.install()

__version__ = "0.1.0"

def plot_state(state, fig=None):
    """Deprecated: use :func:`megastep_envs.tools.plotting.plot_state`."""
    warnings.warn("megastep_envs.plot_state is deprecated; use megastep_envs.tools.plotting.plot_state",
                  DeprecationWarning, stacklevel=2)
    from .tools.plotting import plot_state as plot

    return plot(state, fig)


__getattr__ = old_names(__name__, {
    "Computed": (FunctionObservation, "megastep_envs.Computed is now megastep_envs.FunctionObservation")})


__all__ = [
    "ACTIONS", "ENVS", "IMU", "RGB", "ActionError", "Deathmatch", "Depth", "Env", "Explorer", "FunctionObservation",
    "Minimal", "MomentumMovement", "PointGoal", "Reset", "SimpleMovement", "Step", "UnknownEnvError", "make",
]
