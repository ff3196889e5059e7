"""The plugin that provides the ``torch`` renderer (entry point ``render``)."""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl

from .renderer import TorchRenderer


@hookimpl
def megastep_backends():
    return [BackendInfo("renderer", "torch", description="reference renderer in PyTorch, any device")]


@hookimpl
def megastep_renderer(name, options):
    if name != "torch":
        return None
    options = dict(options)
    return TorchRenderer(**options)
