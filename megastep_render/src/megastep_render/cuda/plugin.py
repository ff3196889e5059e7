"""The plugin that provides the CUDA implementation of the ``raycast`` renderer (entry point ``cuda_render``).

It imports without CuPy: on a machine without it, ``megastep plugins`` lists
the renderer as unavailable, with the reason.
"""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl
from megastep_core.kernels import CUDA_DEVICES, cupy_unavailable_reason

PREFERENCE = 10
"""Above the torch reference (0): where the kernels run, ``raycast`` and ``auto`` choose them."""


@hookimpl
def megastep_backends():
    return [
        BackendInfo(
            "renderer", "raycast:cuda", unavailable=cupy_unavailable_reason(), implementation="cuda",
            devices=CUDA_DEVICES, preference=PREFERENCE, replaces="cuda",
            description="CUDA kernels through CuPy: per-layout grids, one fused kernel per frame",
        )
    ]


@hookimpl
def megastep_renderer(name, options):
    if name != "raycast:cuda":
        return None
    from .renderer import CudaRenderer

    return CudaRenderer(**dict(options))
