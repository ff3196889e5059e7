"""CUDA kernels of megastep-core, compiled with CuPy at first use.

- ``bodies.cu``: :func:`~megastep_core.scenery.draw_bodies` in one launch, a thread per body line,
  instead of the seven kernels of its torch reference, :func:`~megastep_core.scenery.body_lines`.

Tests compile it for the CPU (:mod:`megastep_core.host_kernels`) and, on a GPU, compare it with
the reference. Nothing here imports CuPy until the kernel is first launched.
"""
