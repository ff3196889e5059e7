"""megastep's physics as CUDA kernels, compiled at first use through CuPy.

- ``stop:cuda``: the `stop` physics (:func:`megastep_physics.steps.stop_step`) as the kernel ``stop_step``.
- ``slide:cuda``: the `slide` physics (:func:`megastep_physics.steps.slide_step`) as the kernel ``slide_step``.

Each step is one kernel launch with one thread per agent; ``physics.cu`` holds both.
Importing this package never needs CuPy; making a backend does.
"""
from .backend import CudaPhysics

__all__ = ["CudaPhysics"]
