"""megastep's core: batched state, plugin hooks, the World and the kernel loader."""
from .errors import BackendUnavailableError, GeometryError, KernelError, MegastepError, StateError, UnknownBackendError
from .geometry import Geometry
from .hookspecs import hookimpl, hookspec
from .plugins import get_plugin_manager, make_backend
from .protocols import BackendInfo, MaskedRenderer, Observation, Physics, Renderer, Reward, Spawner, require
from .ragged import Ragged
from .scenery import build_scenery, draw_bodies
from .state import Agents, Camera, Render, Scenery
from .world import World

__version__ = "0.1.0"

__all__ = [
    "Agents", "BackendInfo", "BackendUnavailableError", "Camera", "Geometry", "GeometryError", "KernelError",
    "MaskedRenderer", "MegastepError", "Observation", "Physics", "Ragged", "Render", "Renderer", "Reward", "Scenery",
    "Spawner", "StateError", "UnknownBackendError", "World", "build_scenery", "draw_bodies", "get_plugin_manager",
    "hookimpl", "hookspec", "make_backend", "require",
]
