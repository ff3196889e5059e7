"""A third-party physics plugin written against megastep-core alone: agents never move."""
import torch

from megastep_core import BackendInfo, hookimpl


class FrozenPhysics:
    def step(self, scenery, agents, dt):
        agents.velocity.zero_()
        agents.angvelocity.zero_()
        return torch.zeros_like(agents.angles)


@hookimpl
def megastep_backends():
    return [BackendInfo("physics", "frozen", description="nothing ever moves")]


@hookimpl
def megastep_physics(name, options):
    return FrozenPhysics() if name == "frozen" else None
