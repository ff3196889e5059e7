"""The plugin that provides the `cuda` and `cuda_slide` physics (entry point ``cuda_physics``).

It imports without CuPy; on a machine where the kernels cannot run, ``megastep
plugins`` lists both backends as unavailable with the reason.
"""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl
from megastep_core.kernels import cupy_unavailable_reason

from ..backends import check_options

BACKENDS = {
    "cuda": (False, {"margin"}),
    "cuda_slide": (True, {"margin", "sub_contacts", "record_paths"}),
}


@hookimpl
def megastep_backends():
    reason = cupy_unavailable_reason()
    return [
        BackendInfo(kind="physics", name="cuda", unavailable=reason,
                    description="CUDA kernel of the torch physics: agents stop short of contacts"),
        BackendInfo(kind="physics", name="cuda_slide", unavailable=reason,
                    description="CUDA kernel of the slide physics: agents slide along walls and push each other"),
    ]


@hookimpl
def megastep_physics(name, options):
    if name not in BACKENDS:
        return None
    slide, known = BACKENDS[name]
    from .backend import CudaPhysics  # compiles the kernel: only when asked for

    return CudaPhysics(slide=slide, **check_options(name, options, known))
