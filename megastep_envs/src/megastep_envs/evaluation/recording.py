"""A short video of env 0 while a policy acts: the frames of ``megastep demo`` (:mod:`megastep_envs.tools.plotting`)."""
from __future__ import annotations

from pathlib import Path

from .baselines import Policy

VIDEO_STEPS = 200
"""Frames recorded by default: 20 s at the demo's 10 frames per second."""


class Recorder:
    """Writes one frame of env 0 each time the wrapped policy is asked to act, up to ``steps`` frames.

    :param path: the ``.mp4`` to write (its folder is made).
    :param steps: frames to record.
    """

    def __init__(self, path: str | Path, steps: int = VIDEO_STEPS):
        import imageio.v2 as imageio

        from ..tools.demo import VIDEO_FPS

        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive number of frames, got {steps!r}")
        self.path, self.steps, self.frames = Path(path), int(steps), 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = imageio.get_writer(self.path, fps=VIDEO_FPS, codec="libx264", pixelformat="yuv420p",
                                         macro_block_size=16, ffmpeg_log_level="error")
        self.figure = None

    def wrap(self, policy: Policy) -> Policy:
        """``policy``, recording a frame before each action."""

        def recorded(env):
            if self.frames < self.steps:
                from ..tools.plotting import figure_to_array, plot_state

                self.figure = plot_state(env.state(0), self.figure)
                self.writer.append_data(figure_to_array(self.figure))
                self.frames += 1
            return policy(env)

        return recorded

    def close(self) -> None:
        self.writer.close()
