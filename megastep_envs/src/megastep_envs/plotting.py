"""Drawing one env's :meth:`~megastep_envs.base.Env.state`: a plan view beside the agents' observations.

The plan shows the walls, the lights (stars, larger for brighter), each agent
as a disc in its body colour with a tick towards where it faces, and its field
of view as a fan out to where its rays hit. Task extras are drawn when the
state has them: the wall an Explorer has seen (green), a PointGoal's goal
(a cross inside the circle that counts as reaching it), Deathmatch health.
On the right, one row per agent and observation: the RGB strip (gamma
corrected for the screen) and the depth strip (white is near).
"""
from __future__ import annotations

from typing import Any

import numpy as np

FIGURE_SIZE = (9.6, 5.44)
"""Inches; at 100 dpi, 960 x 544 pixels: both multiples of 16, as video encoders like."""

AGENT_COLOURS = np.array(
    [[0.9, 0.15, 0.1], [0.1, 0.45, 0.95], [0.1, 0.8, 0.2], [0.95, 0.75, 0.05],
     [0.7, 0.2, 0.85], [0.05, 0.8, 0.8], [0.95, 0.45, 0.05], [0.5, 0.5, 0.5]]
)
"""The body colours megastep_core.scenery paints agents with, so that plan and image agree."""

FAN_REACH = 30.0
"""Metres: rays that miss are drawn out to this distance."""


def _figure(fig):
    if fig is None:
        from matplotlib.figure import Figure

        return Figure(figsize=FIGURE_SIZE, dpi=100)
    fig.clf()
    return fig


def _draw_plan(ax, state: dict[str, Any]) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle, Polygon

    walls = state["walls"]
    ax.add_collection(LineCollection(walls, colors="0.15", linewidths=0.8))
    lights = state["lights"]
    if len(lights):
        ax.scatter(lights[:, 0], lights[:, 1], s=30 * lights[:, 2], marker="*", c="gold", edgecolors="0.4", zorder=3)
    if "seen" in state and len(state["seen"]):
        ax.scatter(state["seen"][:, 0], state["seen"][:, 1], s=1.5, c="tab:green", zorder=2, linewidths=0)
    if "goal" in state:
        x, y = state["goal"]
        ax.add_patch(Circle((x, y), 0.15, fill=False, ec="crimson", lw=1.2, zorder=4))
        ax.plot([x], [y], marker="x", c="crimson", ms=6, zorder=4)
    radius = state["agent_radius"]
    for a, ((x, y), angle) in enumerate(zip(state["positions"], state["angles"])):
        colour = AGENT_COLOURS[a % len(AGENT_COLOURS)]
        for c, ray_angles in enumerate(state["ray_angles"]):
            reach = np.minimum(state["distances"][a, c], FAN_REACH)
            theta = np.deg2rad(angle + ray_angles)
            fan = np.stack([x + reach * np.cos(theta), y + reach * np.sin(theta)], -1)
            ax.add_patch(Polygon(np.vstack([[x, y], fan]), closed=True, fc=(*colour, 0.18), ec="none", zorder=1))
        ax.add_patch(Circle((x, y), radius, fc=colour, ec="black", lw=0.6, zorder=5))
        heading = np.deg2rad(angle)
        ax.plot([x, x + 2.2 * radius * np.cos(heading)], [y, y + 2.2 * radius * np.sin(heading)], c="black",
                lw=1.0, zorder=6)
        if "health" in state:
            ax.text(x, y + 2.5 * radius, f"{state['health'][a]:.2f}", ha="center", fontsize=6, zorder=7)
    points = walls.reshape(-1, 2)
    low, high = points.min(0), points.max(0)
    pad = 0.05 * (high - low).max() + 0.1
    ax.set_xlim(low[0] - pad, high[0] + pad)
    ax.set_ylim(low[1] - pad, high[1] + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _strips(state: dict[str, Any]) -> list[tuple[str, np.ndarray, bool]]:
    """``(label, image, is_colour)`` for each agent's RGB and depth observations, one image per row."""
    obs = state["obs"]
    rows = []
    n_agents = len(state["positions"])
    for a in range(n_agents):
        if "rgb" in obs:
            rgb = obs["rgb"][a]  # (C, 3, W) linear
            image = np.clip(rgb.transpose(0, 2, 1), 0, 1) ** (1 / 2.2)
            rows.append((f"agent {a} rgb", image, True))
        if "depth" in obs:
            rows.append((f"agent {a} depth", obs["depth"][a], False))
    return rows


def _caption(state: dict[str, Any]) -> str:
    parts = [f"{state['env']} env {state['index']}", f"step {state['step']}"]
    parts.append("return " + " ".join(f"{r:.2f}" for r in np.atleast_1d(state["return"])))
    if "stale" in state:
        parts.append(f"stale {state['stale']}")
    if "deaths" in state:
        parts.append("deaths " + " ".join(str(int(d)) for d in state["deaths"]))
    return "   ".join(parts)


def plot_state(state: dict[str, Any], fig=None):
    """A matplotlib figure of one env's state: the plan on the left, observation strips on the right.

    :param state: from :meth:`megastep_envs.base.Env.state`.
    :param fig: a figure to redraw into (cleared first), to save making one per frame.
    :returns: the :class:`matplotlib.figure.Figure`.
    """
    fig = _figure(fig)
    rows = _strips(state)
    grid = fig.add_gridspec(max(len(rows), 1), 2, width_ratios=[1.0, 1.0], left=0.02, right=0.98, bottom=0.03,
                            top=0.92, wspace=0.08, hspace=0.6)
    _draw_plan(fig.add_subplot(grid[:, 0]), state)
    for row, (label, image, colour) in enumerate(rows):
        ax = fig.add_subplot(grid[row, 1])
        ax.imshow(image, aspect="auto", interpolation="nearest", **({} if colour else {"cmap": "gray", "vmin": 0,
                                                                                          "vmax": 1}))
        ax.set_title(label, fontsize=7, loc="left", pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(_caption(state), fontsize=9)
    return fig


def figure_to_array(fig) -> np.ndarray:
    """``(H, W, 3)`` uint8: the figure rendered by matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
