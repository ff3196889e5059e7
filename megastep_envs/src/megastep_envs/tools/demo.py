"""``megastep demo ENV``: run an env, record env 0 as a video, and report the env's speed.

    megastep demo explorer --envs 64 --steps 300 --device auto --seed 0 --out out

writes ``out/explorer.mp4`` (one frame per step: the plan of env 0 and its
agents' observation strips, see :mod:`megastep_envs.tools.plotting`) and
``out/explorer.png`` (the last frame), and prints the env's agent-steps per
second, timed over the env steps alone (drawing the frames is not counted).
The video is encoded by the ffmpeg binary that the ``imageio-ffmpeg`` wheel
ships, so no system ffmpeg is needed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from megastep_core import MegastepError
from megastep_core.cli import device_argument, plain_text

from ..registry import ENVS, make

VIDEO_FPS = 10
"""Frames per second of the video: the envs' default simulated rate, so it plays in real time."""


def add_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run an env with random (or greedy) actions; record env 0 to DIR/ENV.mp4 and DIR/ENV.png",
        description=plain_text(__doc__.split("\n\n")[0]),
    )
    parser.add_argument("env", help=f"which env: {', '.join(ENVS)}")
    parser.add_argument("--envs", type=int, default=64, help="envs stepped together (default 64)")
    parser.add_argument("--steps", type=int, default=300, help="steps to run and frames to record (default 300)")
    parser.add_argument("--device", default="auto", type=device_argument,
                        help="auto, cpu, cuda or cuda:N (default auto: CUDA when there is one)")
    parser.add_argument("--physics", default="auto", help="physics backend name (default auto)")
    parser.add_argument("--renderer", default="auto", help="renderer backend name (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="seeds layouts, spawns and actions (default 0)")
    parser.add_argument("--out", default="out", help="folder for ENV.mp4 and ENV.png (default out)")
    parser.add_argument("--policy", choices=("random", "greedy"), default="random",
                        help="random actions, or the env's scripted greedy policy where it has one (pointgoal)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads on the CPU (default 1: a few dozen envs are too little work to share "
                             "between threads, and shared threads stall when other programs use the cores)")
    parser.set_defaults(run=run)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def record(env, steps: int, out: Path, policy: str = "random", progress: bool = True) -> dict:
    """Steps ``env`` (already reset) ``steps`` times, writing ``out/NAME.mp4`` and ``out/NAME.png``.

    :returns: ``video`` and ``image`` paths, ``seconds`` spent in env steps, and ``agent_steps_per_s``.
    """
    import imageio.v2 as imageio
    from tqdm import tqdm

    from .plotting import figure_to_array, plot_state

    if policy == "greedy" and not hasattr(env, "greedy_actions"):
        greedy = [name for name, cls in ENVS.items() if hasattr(cls, "greedy_actions")]
        raise ValueError(f"policy 'greedy': the {env.name} env has none; envs with one: {', '.join(greedy)}")
    act = env.greedy_actions if policy == "greedy" else env.sample_actions
    out.mkdir(parents=True, exist_ok=True)
    video, image = out / f"{env.name}.mp4", out / f"{env.name}.png"
    fig, frame, seconds = None, None, 0.0
    # yuv420p plays everywhere; the frame size is a multiple of 16, so nothing gets resized
    with imageio.get_writer(video, fps=VIDEO_FPS, codec="libx264", pixelformat="yuv420p", macro_block_size=16,
                            ffmpeg_log_level="error") as writer:
        for _ in tqdm(range(steps), desc=f"{env.name} demo", unit="step", disable=not progress, file=sys.stderr):
            start = time.perf_counter()
            env.step(act())
            _sync(env.device)
            seconds += time.perf_counter() - start
            fig = plot_state(env.state(0), fig)
            frame = figure_to_array(fig)
            writer.append_data(frame)
    imageio.imwrite(image, frame)
    return {
        "video": video, "image": image, "seconds": seconds,
        "agent_steps_per_s": env.n_envs * env.n_agents * steps / max(seconds, 1e-9),
    }


def run(args: argparse.Namespace) -> int:
    try:
        if args.steps < 1:
            raise ValueError(f"--steps must be at least 1, got {args.steps}")
        if args.envs < 1:
            raise ValueError(f"--envs must be at least 1, got {args.envs}")
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
        started = time.perf_counter()
        env = make(args.env, args.envs, device=args.device, physics=args.physics, renderer=args.renderer,
                   seed=args.seed)
        env.reset()
        result = record(env, args.steps, Path(args.out), args.policy)
    except (MegastepError, ValueError) as error:
        print(f"megastep demo: error: {error}", file=sys.stderr)
        return 2
    world = env.world
    print(f"{env.name}: {env.n_envs} envs x {env.n_agents} agents x {args.steps} steps on {world.device} "
          f"({type(world.physics).__name__}, {type(world.renderer).__name__}): "
          f"{result['agent_steps_per_s']:,.0f} agent-steps/s over the env steps "
          f"({time.perf_counter() - started:.1f} s in all, with setup and recording)")
    print(f"wrote {result['video']} and {result['image']}")
    return 0
