"""The plugin that provides the CUDA implementations of the `stop` and `slide` physics (entry point
``cuda_physics``).

It imports without CuPy; on a machine where the kernels cannot run, ``megastep
plugins`` lists both backends as unavailable with the reason.
"""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl
from megastep_core.kernels import CUDA_DEVICES, cupy_unavailable_reason

from ..backends import make_backend_from


def cuda_physics(**options):
    from .backend import CudaPhysics  # compiles the kernel: only when asked for

    return CudaPhysics(**options)


BACKENDS = {
    "stop:cuda": (lambda **options: cuda_physics(slide=False, **options), {"margin"}),
    "slide:cuda": (lambda **options: cuda_physics(slide=True, **options), {"margin", "sub_contacts", "record_paths"}),
}

PREFERENCE = 10
"""Above the torch references (0): where the kernels run, a bare behaviour name and ``auto`` choose them."""


@hookimpl
def megastep_backends():
    reason = cupy_unavailable_reason()
    return [
        BackendInfo(kind="physics", name="stop:cuda", unavailable=reason, implementation="cuda",
                    devices=CUDA_DEVICES, preference=PREFERENCE, replaces="cuda",
                    description="CUDA kernel of the stop physics: agents stop short of contacts"),
        BackendInfo(kind="physics", name="slide:cuda", unavailable=reason, implementation="cuda",
                    devices=CUDA_DEVICES, preference=PREFERENCE, replaces="cuda_slide",
                    description="CUDA kernel of the slide physics: agents slide along walls and push each other"),
    ]


@hookimpl
def megastep_physics(name, options):
    return make_backend_from(BACKENDS, name, options)
