"""The ``megastep homes``, ``megastep import cubicasa`` and ``megastep show`` commands."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from megastep_core import MegastepError

from .masks import DEFAULT_RESOLUTION


def _fail(command: str, error: Exception) -> int:
    print(f"megastep {command}: error: {error}", file=sys.stderr)
    return 1


def run_homes(args: argparse.Namespace) -> int:
    """Generates procedural homes and writes them to a layouts file."""
    from .homes import sample
    from .layouts import save_layouts

    if args.count < 1:
        return _fail("homes", ValueError(f"--count must be at least 1 home, got {args.count}"))
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


def run_import_cubicasa(args: argparse.Namespace) -> int:
    """Imports Cubicasa5k plans from files, folders and zips into one layouts file, and says what it skipped."""
    from .cubicasa import read
    from .layouts import save_layouts

    geometries, skipped, files = [], [], 0
    try:
        for path in args.paths:
            found, missed, tried = read(path, args.pixels_per_metre, args.resolution)
            if not tried:
                missed = [f"{path}: holds no files named model.svg"]
            geometries += found
            skipped += missed
            files += tried
        if not geometries:
            raise ValueError(f"none of the {files} Cubicasa5k files found could be imported"
                             + "".join(f"\n  {reason}" for reason in skipped))
        path = save_layouts(args.out, geometries)
    except (MegastepError, ValueError, OSError) as error:
        return _fail("import cubicasa", error)
    print(f"wrote {len(geometries)} floor plans from {files - len(skipped)} of {files} files to {path}")
    if skipped:
        print(f"skipped {len(skipped)}:")
        for reason in skipped:
            print(f"  {reason}")
    return 0


def _plans(file: str):
    """The geometries of a layouts ``.npz``, or of Cubicasa5k plans in a ``.svg``, a ``.zip`` or a folder."""
    from .cubicasa import load
    from .layouts import load_layouts

    path = Path(file)
    if path.is_dir() or path.suffix.lower() in (".svg", ".zip"):
        return load(path)
    return load_layouts(path)


def run_show(args: argparse.Namespace) -> int:
    """Draws one geometry of a layouts file or of Cubicasa5k plans as a plan image."""
    from .plot import save_plan

    try:
        geometries = _plans(args.file)
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

    importing = subparsers.add_parser(
        "import", help="import floor plans from a dataset into a layouts .npz file",
        description="Imports floor plans from a dataset's files into a layouts file.",
    )
    sources = importing.add_subparsers(title="datasets", metavar="DATASET", required=True)
    cubicasa = sources.add_parser(
        "cubicasa", help="Cubicasa5k model.svg files, folders or zips of them",
        description="Imports every floor of Cubicasa5k model.svg files (given, or found in folders and zips) into "
                    "one layouts file, and lists the files it skipped and why.",
    )
    cubicasa.add_argument("paths", nargs="+", metavar="PATH", help="model.svg files, folders or .zip archives")
    cubicasa.add_argument("--out", required=True, help="the .npz file to write")
    cubicasa.add_argument("--pixels-per-metre", type=float, default=100.0,
                          help="the plans' scale (default 100, Cubicasa5k's)")
    cubicasa.add_argument("--resolution", type=float, default=DEFAULT_RESOLUTION,
                          help=f"metres per cell of the free-space mask (default {DEFAULT_RESOLUTION})")
    cubicasa.set_defaults(run=run_import_cubicasa)

    show = subparsers.add_parser(
        "show", help="draw a plan of one geometry of a layouts .npz file or of Cubicasa5k plans",
        description="Draws walls, lights, free space and spawn points of one geometry with matplotlib.",
    )
    show.add_argument("file", help="a layouts .npz file, or a Cubicasa5k model.svg, .zip or folder")
    show.add_argument("--index", type=int, default=0, help="which geometry in the file (default 0)")
    show.add_argument("--out", default="plan.png", help="the image to write (default plan.png)")
    show.set_defaults(run=run_show)
