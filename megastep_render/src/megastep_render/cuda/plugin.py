"""The plugin that provides the ``cuda`` renderer (entry point ``cuda_render``).

It imports without CuPy: on a machine without it, ``megastep plugins`` lists
the renderer as unavailable, with the reason.
"""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl
from megastep_core.kernels import cupy_unavailable_reason


@hookimpl
def megastep_backends():
    return [
        BackendInfo(
            "renderer", "cuda", unavailable=cupy_unavailable_reason(),
            description="CUDA kernels through CuPy: per-layout grids, one fused kernel per frame",
        )
    ]


@hookimpl
def megastep_renderer(name, options):
    if name != "cuda":
        return None
    from .renderer import CudaRenderer

    return CudaRenderer(**dict(options))
