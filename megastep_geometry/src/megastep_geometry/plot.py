"""Drawing a geometry's plan with matplotlib (the ``plot`` extra)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from megastep_core import Geometry


def _figure(width: float, height: float):
    """A matplotlib figure that is not registered with pyplot, so saving it needs no GUI backend."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("drawing plans needs matplotlib: pip install 'megastep-geometry[plot]'") from error
    return Figure(figsize=(width, height))


def draw_plan(geometry: Geometry, ax=None, spawns: np.ndarray | None = None, title: str | None = None):
    """Draws free space (grey), walls (black), lights (yellow, sized by intensity) and spawn points (blue).

    :param ax: the matplotlib axes to draw on; a new figure's when ``None``.
    :param spawns: ``(S, 2)`` metres to mark; the geometry's own ``spawns`` when ``None``.
    :returns: the matplotlib axes.
    """
    if ax is None:
        ax = _figure(6, 6).subplots()
    from matplotlib.collections import LineCollection

    rows, cols = geometry.mask.shape
    x0, y0 = geometry.origin
    extent = (x0, x0 + cols * geometry.resolution, y0, y0 + rows * geometry.resolution)
    ax.imshow(geometry.mask, origin="lower", extent=extent, cmap="Greys", vmin=0, vmax=4, interpolation="nearest")
    ax.add_collection(LineCollection(geometry.walls, colors="black", linewidths=0.8))
    lights = geometry.lights
    ax.scatter(lights[:, 0], lights[:, 1], s=30 * lights[:, 2], c="gold", edgecolors="darkorange", zorder=3,
               label="lights")
    spawns = geometry.spawns if spawns is None else spawns
    if spawns is not None and len(spawns):
        ax.scatter(spawns[:, 0], spawns[:, 1], s=3, c="tab:blue", zorder=2, label="spawn points")
    ax.set_aspect("equal")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title if title is not None else f"{geometry.name}: {len(geometry.walls)} wall lines")
    return ax


def save_plan(geometry: Geometry, path, spawns: np.ndarray | None = None, dpi: int = 110) -> Path:
    """Draws :func:`draw_plan` into an image file (PNG, SVG, PDF by its suffix)."""
    figure = _figure(6, 6)
    draw_plan(geometry, figure.subplots(), spawns)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    return Path(path)


def save_grid(geometries, path, columns: int = 4, dpi: int = 80) -> Path:
    """Draws several plans side by side into one image file."""
    geometries = list(geometries)
    rows = -(-len(geometries) // columns)
    figure = _figure(3.2 * columns, 3.2 * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax, geometry in zip(axes.ravel(), geometries):
        draw_plan(geometry, ax, title=geometry.name)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(geometries):]:
        ax.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    return Path(path)
