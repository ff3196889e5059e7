"""The ``megastep homes`` and ``megastep show`` commands."""
from __future__ import annotations

import argparse
import os
import sys
import time

from megastep_core import MegastepError


def _fail(command: str, error: Exception) -> int:
    print(f"megastep {command}: error: {error}", file=sys.stderr)
    return 1


def run_homes(args: argparse.Namespace) -> int:
    """Generates procedural homes and writes them to a layouts file."""
    from .homes import sample
    from .layouts import save_layouts

    try:
        start = time.perf_counter()
        geometries = sample(args.count, split=args.split, seed=args.seed, cache=args.cache, workers=args.workers)
        path = save_layouts(args.out, geometries)
    except (MegastepError, ValueError, OSError) as error:
        return _fail("homes", error)
    lines = [len(g.walls) for g in geometries]
    print(
        f"wrote {len(geometries)} {args.split} homes of seed {args.seed} to {path} "
        f"({min(lines)}-{max(lines)} wall lines) in {time.perf_counter() - start:.1f} s"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Draws one geometry of a layouts file as a plan image."""
    from .layouts import load_layouts
    from .plot import save_plan

    try:
        geometries = load_layouts(args.file)
        if not -len(geometries) <= args.index < len(geometries):
            raise ValueError(f"--index {args.index} is out of range: {args.file} holds {len(geometries)} geometries")
        geometry = geometries[args.index]
        path = save_plan(geometry, args.out)
    except (MegastepError, ValueError, OSError, ImportError) as error:
        return _fail("show", error)
    print(f"drew {geometry.name} ({len(geometry.walls)} wall lines, {len(geometry.lights)} lights) to {path}")
    return 0


def add_commands(subparsers) -> None:
    homes = subparsers.add_parser(
        "homes", help="generate procedural homes into a layouts .npz file",
        description="Generates the first COUNT homes of a split of a seed's pool and writes them as a layouts file.",
    )
    homes.add_argument("--count", type=int, default=64, help="how many homes (default 64)")
    homes.add_argument("--seed", type=int, default=0, help="which pool of homes (default 0)")
    homes.add_argument("--split", choices=("training", "test", "all"), default="training",
                       help="which split of the pool (default training)")
    homes.add_argument("--out", required=True, help="the .npz file to write")
    homes.add_argument("--cache", default=None, help="cache folder (default $MEGASTEP_CACHE or ~/.cache/megastep)")
    homes.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="processes that generate homes missing from the cache (default: one per core)")
    homes.set_defaults(run=run_homes)

    show = subparsers.add_parser(
        "show", help="draw a plan of one geometry of a layouts .npz file",
        description="Draws walls, lights, free space and spawn points of one geometry with matplotlib.",
    )
    show.add_argument("file", help="a layouts .npz file")
    show.add_argument("--index", type=int, default=0, help="which geometry in the file (default 0)")
    show.add_argument("--out", default="plan.png", help="the image to write (default plan.png)")
    show.set_defaults(run=run_show)
