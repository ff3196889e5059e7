"""megastep's physics as CUDA kernels, compiled at first use through CuPy.

- ``cuda``: the `torch` physics (:func:`megastep_physics.steps.stop_step`) as the kernel ``stop_step``.
- ``cuda_slide``: the `slide` physics (:func:`megastep_physics.steps.slide_step`) as the kernel ``slide_step``.

Each step is one kernel launch with one thread per agent; ``physics.cu`` holds both.
Importing this package never needs CuPy; making a backend does.
"""
from .backend import CudaPhysics

__all__ = ["CudaPhysics"]
