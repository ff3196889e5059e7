"""The plugin that provides the torch implementation of the ``raycast`` renderer (entry point ``render``)."""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl

from .renderer import TorchRenderer


@hookimpl
def megastep_backends():
    return [BackendInfo("renderer", "raycast:torch", implementation="torch", replaces="torch",
                        description="reference renderer in PyTorch, any device")]


@hookimpl
def megastep_renderer(name, options):
    if name != "raycast:torch":
        return None
    options = dict(options)
    return TorchRenderer(**options)
