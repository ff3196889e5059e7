"""The ``megastep`` command.

Core defines only the top-level parser; every subcommand, ``megastep plugins``
included, is added by a plugin through the ``megastep_commands`` hook.
"""
from __future__ import annotations

import argparse
import sys

from .plugins import get_plugin_manager


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="megastep",
        description="Thousands of flat worlds stepped in parallel on one GPU, written in PyTorch.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    get_plugin_manager().hook.megastep_commands(subparsers=subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
