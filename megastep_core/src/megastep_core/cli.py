"""The ``megastep`` command.

Core defines only the top-level parser; every subcommand, ``megastep plugins``
included, is added by a plugin through the ``megastep_commands`` hook.
"""
from __future__ import annotations

import argparse
import re
import sys

from .plugins import get_plugin_manager

_ROLE = re.compile(r":[\w:.-]+:`~?(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`")


def plain_text(rst: str) -> str:
    """reST as the terminal should show it in ``--help``: roles (``:class:`~a.b.C```) become their last name
    or title, and double backquotes go."""
    text = _ROLE.sub(lambda m: (m.group(1) or m.group(2).rsplit(".", 1)[-1]).strip(), rst)
    return text.replace("``", "")


def documented_command(subparsers, name: str, help: str, doc: str) -> argparse.ArgumentParser:
    """A subcommand's parser described by a module docstring ``doc``: its first paragraph is the description,
    the rest (usually examples) the epilog, both as plain text and laid out as written."""
    first, _, rest = doc.partition("\n\n")
    return subparsers.add_parser(name, help=help, description=plain_text(first), epilog=plain_text(rest) or None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def device_argument(text: str) -> str:
    """An argparse ``type`` for ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, where it can run.

    A bad device is an argparse error (usage and one line), not a traceback from torch.
    """
    import torch

    if text == "auto":
        return text
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: megastep runs on cpu or cuda (or auto), not {device.type}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: torch sees no CUDA GPU here; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: there are {torch.cuda.device_count()} CUDA GPUs, "
                                             f"numbered from 0")
    return text


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
