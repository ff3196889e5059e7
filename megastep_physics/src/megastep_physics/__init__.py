"""megastep's physics plugins.

- ``torch``: the reference; agents stop just short of walls and each other
  (:func:`megastep_physics.steps.stop_step`).
- ``slide``: agents slide along walls and push each other
  (:func:`megastep_physics.steps.slide_step`).
- ``cuda`` and ``cuda_slide``: the same two as one fused CUDA kernel each, one
  thread per agent (:mod:`megastep_physics.cuda`), compiled through CuPy at first use.

All of them take the options ``margin`` (metres left between an agent and what
stopped it, default 1 mm); the sliding ones also ``sub_contacts`` (walls met
per step, default 4).
"""
from .backends import DEFAULT_MARGIN, DEFAULT_SUB_CONTACTS, SlidePhysics, TorchPhysics
from .steps import slide_step, stop_step
from .walls import WallTable

__all__ = [
    "DEFAULT_MARGIN", "DEFAULT_SUB_CONTACTS", "SlidePhysics", "TorchPhysics", "WallTable", "slide_step", "stop_step",
]
