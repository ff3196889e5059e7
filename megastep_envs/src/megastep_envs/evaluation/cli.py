"""``megastep eval CHECKPOINT``: a trained policy beside the baselines, on homes it never trained on.

    megastep eval runs/pointgoal/checkpoint.pt                   # 64 episodes on the test-split homes
    megastep eval runs/pointgoal/checkpoint.pt --episodes 256 --json eval.json
    megastep eval runs/explorer/checkpoint.pt --step-counts 250 500 1000
    megastep eval runs/deathmatch/checkpoint.pt --opponent runs/deathmatch-early/checkpoint.pt
    megastep eval runs/deathmatch/checkpoint.pt --tournament --episodes 16   # rate the run's snapshots
    megastep eval runs/pointgoal/checkpoint.pt --layouts my_layouts.npz --video eval.mp4

Every policy (random actions, the env's scripted baseline, the trained one)
runs on fresh envs built with the same layouts and seed, so each meets the
same episodes. The checkpoint is only read.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from megastep_core.cli import device_argument, documented_command
from megastep_core.errors import MegastepError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .evaluate import DEATHMATCH_STEPS, DEFAULT_SEED, STEP_COUNTS

    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a training checkpoint (megastep train's "
                        "checkpoint.pt)")
    parser.add_argument("--episodes", type=int, default=64, help="PointGoal and Minimal: episodes; Explorer and "
                        "Deathmatch: envs, one long episode each (default 64)")
    parser.add_argument("--layouts", default=None, metavar="FILE", help="a layouts .npz to evaluate on (default: "
                        "the test split of the procedural homes)")
    parser.add_argument("--split", default="test", choices=["test", "training", "all"],
                        help="which procedural homes, without --layouts (default test: unseen in training)")
    parser.add_argument("--opponent", default=None, metavar="CHECKPOINT", help="Deathmatch: a second checkpoint "
                        "to play head to head")
    parser.add_argument("--tournament", action="store_true", help="Deathmatch trained with self-play: also play "
                        "the baselines, every snapshot of the run and its final policy against each other "
                        "(--episodes games a pair) and rate them")
    parser.add_argument("--env", default=None, help="refuse a checkpoint of any other env")
    counts = " ".join(map(str, STEP_COUNTS))
    parser.add_argument("--step-counts", type=int, nargs="+", default=list(STEP_COUNTS), metavar="T",
                        help=f"Explorer: steps after which to read coverage (default {counts})")
    parser.add_argument("--steps", type=int, default=DEATHMATCH_STEPS, help=f"Deathmatch: steps per evaluation "
                        f"(default {DEATHMATCH_STEPS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seeds the envs and the sampling "
                        f"(default {DEFAULT_SEED})")
    parser.add_argument("--device", default="auto", type=device_argument,
                        help="auto (CUDA when there is a GPU), cpu or cuda")
    parser.add_argument("--deterministic", action="store_true", help="act by the most likely action, not a sample")
    parser.add_argument("--no-baselines", action="store_true", help="measure only the trained policy")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the report to FILE as JSON")
    parser.add_argument("--video", default=None, metavar="FILE.mp4", help="record env 0 of the trained policy")


def run(args: argparse.Namespace) -> int:
    """Runs ``megastep eval``; returns the exit code."""
    from .evaluate import evaluate_checkpoint
    from .report import format_table, write_json
    from .tournament import format_tournament

    started = time.perf_counter()
    try:
        checkpoint = Path(args.checkpoint)
        for flag, value in (("--json", args.json), ("--video", args.video)):
            if value is not None and checkpoint.exists() and Path(value).resolve() == checkpoint.resolve():
                raise ValueError(f"{flag} {value} is the checkpoint itself: evaluation never writes the checkpoint")
        report = evaluate_checkpoint(
            checkpoint, args.episodes, args.device, seed=args.seed, split=args.split, layouts=args.layouts,
            opponent=args.opponent, env_name=args.env, include_baselines=not args.no_baselines,
            deterministic=args.deterministic, step_counts=args.step_counts, steps=args.steps, video=args.video,
            tournament=args.tournament,
        )
    except (MegastepError, ValueError) as error:
        print(f"megastep eval: error: {error}", file=sys.stderr)
        return 2
    print(format_table(report))
    if "tournament" in report:
        print(format_tournament(report["tournament"]))
    print(f"({time.perf_counter() - started:.1f} s)")
    if args.json is not None:
        print(f"wrote {write_json(report, args.json)}")
    if args.video is not None:
        print(f"wrote {args.video}")
    return 0


def add_eval_command(subparsers) -> None:
    """Adds ``megastep eval`` to the ``megastep`` command (called from megastep_envs' ``megastep_commands`` hook)."""
    parser = documented_command(subparsers, "eval", "measure a trained policy beside the baselines on unseen homes",
                                __doc__)
    add_arguments(parser)
    parser.set_defaults(run=run)
