"""Shared fixtures: a plugin of do-nothing physics and renderer backends, so
that tests can build a real :class:`megastep_core.World` with this package and
megastep-core alone, and a private cache directory for procedural homes."""
from __future__ import annotations

import pytest
import torch

from megastep_core import get_plugin_manager, hookimpl


class _StillPhysics:
    """Leaves agents where they are: spawner tests only need the world's state."""

    def step(self, scenery, agents, dt):
        return torch.ones(agents.n_envs, agents.n_agents, device=agents.positions.device)


class _DarkRenderer:
    def bake(self, scenery):
        pass

    def render(self, scenery, agents, cameras):
        raise NotImplementedError("the geometry tests never render")


class _NullBackends:
    @hookimpl
    def megastep_physics(self, name, options):
        return _StillPhysics() if name == "geometry-tests-still" else None

    @hookimpl
    def megastep_renderer(self, name, options):
        return _DarkRenderer() if name == "geometry-tests-dark" else None


@pytest.fixture
def make_world():
    """A function ``(geometries, n_agents, **kwargs) -> World`` on do-nothing backends."""
    from megastep_core import World

    manager = get_plugin_manager()
    plugin = _NullBackends()
    manager.register(plugin, name="geometry-tests-null")

    def make(geometries, n_agents=1, **kwargs):
        return World(geometries, n_agents=n_agents, physics="geometry-tests-still",
                     renderer="geometry-tests-dark", **kwargs)

    yield make
    manager.unregister(plugin)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test caches procedural homes under its own temporary folder."""
    monkeypatch.setenv("MEGASTEP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


