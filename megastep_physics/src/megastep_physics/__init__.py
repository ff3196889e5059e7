"""megastep's physics plugins.

Two behaviours, each with a torch implementation (the reference) and a CUDA one,
chosen by device when a user names the behaviour alone (or ``auto``, which is ``stop``):

- ``stop`` (``stop:torch``, ``stop:cuda``): agents stop just short of walls and
  each other (:func:`megastep_physics.steps.stop_step`).
- ``slide`` (``slide:torch``, ``slide:cuda``): agents slide along walls and push
  each other (:func:`megastep_physics.steps.slide_step`).

The CUDA implementations are one fused kernel each, one thread per agent
(:mod:`megastep_physics.cuda`), compiled through CuPy at first use. The old
names ``torch``, ``cuda`` and ``cuda_slide`` still work, with a DeprecationWarning.

All of them take the options ``margin`` (metres left between an agent and what
stopped it, default 1 mm); the sliding ones also ``sub_contacts`` (walls met
per step, default 4).
"""
from megastep_core.deprecation import old_names

from . import backends
from .backends import DEFAULT_MARGIN, DEFAULT_SUB_CONTACTS, SlidePhysics, StopPhysics
from .steps import slide_step, stop_step
from .walls import WallTable

__all__ = [
    "DEFAULT_MARGIN", "DEFAULT_SUB_CONTACTS", "SlidePhysics", "StopPhysics", "WallTable", "slide_step", "stop_step",
]


__getattr__ = old_names(__name__, backends.OLD_NAMES)
