"""CUDA kernels of megastep-core, compiled with CuPy at first use.

- ``bodies.cu``: :func:`~megastep_core.scenery.draw_bodies` in one launch, a thread per body line,
  instead of the seven kernels of its torch reference, :func:`~megastep_core.scenery.body_lines`.
- ``counter_random.cuh``: the hash of :mod:`megastep_core.random`, for kernels of any package to draw
  counter-based numbers with (``#include "megastep_core/counter_random.cuh"``, which
  :func:`~megastep_core.kernels.read_source` pastes in).

Tests compile it for the CPU (:mod:`megastep_core.host_kernels`) and, on a GPU, compare it with
the reference. Nothing here imports CuPy until the kernel is first launched.
"""
