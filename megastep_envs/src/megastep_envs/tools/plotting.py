"""Drawing one env's :meth:`~megastep_envs.step.env.Env.state`: a plan view beside the agents' observations.

The plan shows the walls, the lights (stars, larger for brighter), each agent
as a disc in its body colour with a tick towards where it faces, and its field
of view as a fan out to where its rays hit. Task extras are drawn when the
state has them: the wall an Explorer has seen (green), a PointGoal's goal
(a cross inside the circle that counts as reaching it), Deathmatch health.
On the right, one row per agent and observation: the RGB strip (gamma
corrected for the screen) and the depth strip (white is near), each labelled.
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


DEPTH_KEY = "white near, black far"
"""What the shades of a depth strip mean, written over each: the depth observation is 1 at the agent's
radius falling to 0 at its ``max_depth`` (:class:`~megastep_envs.modules.observations.Depth`)."""


def _strips(state: dict[str, Any]) -> list[tuple[str, np.ndarray, bool]]:
    """``(label, image, is_colour)`` for each agent's RGB and depth observations, one image per row."""
    obs = state["obs"]
    rows = []
    for a in range(len(state["positions"])):
        if "rgb" in obs:
            rgb = obs["rgb"][a]  # (C, 3, W) linear
            rows.append((f"agent {a} colour seen", np.clip(rgb.transpose(0, 2, 1), 0, 1) ** (1 / 2.2), True))
        if "depth" in obs:
            rows.append((f"agent {a} depth: {DEPTH_KEY}", obs["depth"][a], False))
    return rows


def _caption(state: dict[str, Any]) -> str:
    parts = [f"{state['env']} env {state['index']}", f"step {state['step']}"]
    parts.append("return " + " ".join(f"{r:.2f}" for r in np.atleast_1d(state["return"])))
    if "stale" in state:
        parts.append(f"stale {state['stale']}")
    if "deaths" in state:
        parts.append("deaths " + " ".join(str(int(d)) for d in state["deaths"]))
    return "   ".join(parts)


def _fans(state: dict[str, Any], a: int) -> list[np.ndarray]:
    """Each camera's field of view of agent ``a``: ``(R + 1, 2)`` polygons from the agent out to its rays' hits."""
    (x, y), angle = state["positions"][a], state["angles"][a]
    fans = []
    for c, ray_angles in enumerate(state["ray_angles"]):
        reach = np.minimum(state["distances"][a, c], FAN_REACH)
        theta = np.deg2rad(angle + ray_angles)
        fans.append(np.vstack([[x, y], np.stack([x + reach * np.cos(theta), y + reach * np.sin(theta)], -1)]))
    return fans


class StatePlot:
    """The artists of one figure of a state, kept so that the next state of the same env only moves them.

    Redrawing a figure from scratch each frame costs most of a video's time in
    matplotlib's axis setup; updating artists in place costs a fraction.
    """

    def __init__(self, fig, state: dict[str, Any]):
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Circle, Polygon

        self.fig = fig
        self.key = self._key(state)
        rows = _strips(state)
        grid = fig.add_gridspec(max(len(rows), 6), 2, left=0.02, right=0.98, bottom=0.03, top=0.92, wspace=0.08,
                                hspace=0.6)
        ax = self.plan = fig.add_subplot(grid[:, 0])
        ax.add_collection(LineCollection(state["walls"], colors="0.15", linewidths=0.8))
        lights = state["lights"]
        if len(lights):
            ax.scatter(lights[:, 0], lights[:, 1], s=30 * lights[:, 2], marker="*", c="gold", edgecolors="0.4",
                       zorder=3)
        self.seen = ax.scatter([], [], s=1.5, c="tab:green", zorder=2, linewidths=0) if "seen" in state else None
        self.goal = None
        if "goal" in state:
            self.goal = (ax.add_patch(Circle((0, 0), 0.15, fill=False, ec="crimson", lw=1.2, zorder=4)),
                         ax.plot([0], [0], marker="x", c="crimson", ms=6, zorder=4)[0])
        radius = state["agent_radius"]
        self.agents = []
        for a in range(len(state["positions"])):
            colour = AGENT_COLOURS[a % len(AGENT_COLOURS)]
            fans = [ax.add_patch(Polygon(f, closed=True, fc=(*colour, 0.18), ec="none", zorder=1))
                    for f in _fans(state, a)]
            body = ax.add_patch(Circle((0, 0), radius, fc=colour, ec="black", lw=0.6, zorder=5))
            (tick,) = ax.plot([0, 0], [0, 0], c="black", lw=1.0, zorder=6)
            label = ax.text(0, 0, "", ha="center", fontsize=6, zorder=7) if "health" in state else None
            self.agents.append((fans, body, tick, label))
        points = state["walls"].reshape(-1, 2)
        low, high = points.min(0), points.max(0)
        pad = 0.05 * (high - low).max() + 0.1
        ax.set_xlim(low[0] - pad, high[0] + pad)
        ax.set_ylim(low[1] - pad, high[1] + pad)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        self.images = []
        for row, (label, image, colour) in enumerate(rows):
            strip = fig.add_subplot(grid[row, 1])
            grey = {} if colour else {"cmap": "gray", "vmin": 0, "vmax": 1}
            self.images.append(strip.imshow(image, aspect="auto", interpolation="nearest", **grey))
            strip.set_title(label, fontsize=7, loc="left", pad=2)
            strip.set_xticks([])
            strip.set_yticks([])
        self.title = fig.suptitle("", fontsize=9)
        self.update(state)

    @staticmethod
    def _key(state: dict[str, Any]) -> tuple:
        """What must match for a state to be drawn by updating this plot: the env, its walls, its strips."""
        shapes = tuple((name, value.shape) for name, value in sorted(state["obs"].items()))
        return state["env"], state["index"], state["walls"].tobytes(), shapes, "seen" in state, "goal" in state

    def update(self, state: dict[str, Any]) -> None:
        if self.seen is not None:
            self.seen.set_offsets(state["seen"].reshape(-1, 2))
        if self.goal is not None:
            circle, cross = self.goal
            circle.set_center(state["goal"])
            cross.set_data([state["goal"][0]], [state["goal"][1]])
        radius = state["agent_radius"]
        for a, (fans, body, tick, label) in enumerate(self.agents):
            (x, y), heading = state["positions"][a], np.deg2rad(state["angles"][a])
            for patch, fan in zip(fans, _fans(state, a)):
                patch.set_xy(fan)
            body.set_center((x, y))
            tick.set_data([x, x + 2.2 * radius * np.cos(heading)], [y, y + 2.2 * radius * np.sin(heading)])
            if label is not None:
                label.set_position((x, y + 2.5 * radius))
                label.set_text(f"{state['health'][a]:.2f}")
        for image, (_, data, _) in zip(self.images, _strips(state)):
            image.set_data(data)
        self.title.set_text(_caption(state))


def plot_state(state: dict[str, Any], fig=None):
    """A matplotlib figure of one env's state: the plan on the left, observation strips on the right.

    :param state: from :meth:`megastep_envs.step.env.Env.state`.
    :param fig: a figure to draw into. If it last drew a state of the same env
        and layout, its artists are moved rather than redrawn (fast, for videos);
        otherwise it is cleared first.
    :returns: the :class:`matplotlib.figure.Figure`.
    """
    if fig is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=FIGURE_SIZE, dpi=100)
    plot = getattr(fig, "_megastep_plot", None)
    if plot is not None and plot.key == StatePlot._key(state):
        plot.update(state)
    else:
        fig.clf()
        fig._megastep_plot = StatePlot(fig, state)
    return fig


def figure_to_array(fig) -> np.ndarray:
    """``(H, W, 3)`` uint8: the figure rendered by matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
