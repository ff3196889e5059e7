"""The plugin that provides the torch implementations of the `stop` and `slide` physics (entry point ``physics``)."""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl

from .backends import SlidePhysics, StopPhysics, make_backend_from

BACKENDS = {
    "stop:torch": (StopPhysics, {"margin"}),
    "slide:torch": (SlidePhysics, {"margin", "sub_contacts", "record_paths"}),
}


@hookimpl
def megastep_backends():
    return [
        BackendInfo(kind="physics", name="stop:torch", implementation="torch", replaces="torch",
                    description="PyTorch reference: agents stop short of contacts"),
        BackendInfo(kind="physics", name="slide:torch", implementation="torch",
                    description="PyTorch reference: agents slide along walls and push each other"),
    ]


@hookimpl
def megastep_physics(name, options):
    return make_backend_from(BACKENDS, name, options)
