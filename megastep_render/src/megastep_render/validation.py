"""Checks of a render call's arguments, shared by both renderers; none of them syncs with the GPU."""
from __future__ import annotations

from collections.abc import Sequence

from megastep_core import Agents, Camera, Scenery


def check_render_arguments(scenery: Scenery, agents: Agents, cameras: Sequence[Camera]) -> list[Camera]:
    """Raises ``ValueError`` naming the argument that does not fit; returns the cameras as a list."""
    cameras = list(cameras)
    if not cameras or not all(isinstance(c, Camera) for c in cameras):
        raise ValueError(f"cameras must be a non-empty sequence of megastep_core.Camera, got {cameras!r}")
    pixels = {c.pixels for c in cameras}
    if len(pixels) != 1:
        raise ValueError(f"cameras must all have the same number of pixels (one (E, A, C, R) tensor), got {pixels}")
    expected = (scenery.n_envs, scenery.n_agents)
    if tuple(agents.angles.shape) != expected or tuple(agents.positions.shape) != (*expected, 2):
        raise ValueError(
            f"agents must be shaped for the scenery's {expected[0]} envs x {expected[1]} agents: got positions "
            f"{tuple(agents.positions.shape)} and angles {tuple(agents.angles.shape)}"
        )
    if agents.positions.device != scenery.device or agents.angles.device != scenery.device:
        raise ValueError(f"agents are on {agents.positions.device} but the scenery is on {scenery.device}")
    return cameras
