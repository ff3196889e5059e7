"""megastep-core's own plugin: the ``megastep plugins`` command."""
from __future__ import annotations

import argparse

from .hookspecs import hookimpl
from .plugins import get_plugin_manager
from .protocols import BACKEND_KINDS


def plugins_table() -> str:
    """A text table of every plugin, its distribution and version, and the backends it provides."""
    manager = get_plugin_manager()
    provided: dict[str, dict[str, list[str]]] = {}
    reasons = []
    for plugin, info in manager.backends(aliases=False):
        label = info.name if info.unavailable is None else f"{info.name}*"
        provided.setdefault(plugin, {}).setdefault(info.kind, []).append(label)
        if info.unavailable is not None:
            reasons.append(f"* {info.kind} {info.name!r} ({plugin}) is unavailable: {info.unavailable}")
    header = ["plugin", "distribution", "version", *BACKEND_KINDS]
    rows = []
    for record in manager.records:
        if record.error is not None:
            rows.append([record.name, record.distribution, record.version, "FAILED TO LOAD", "", "", ""])
            continue
        names = provided.get(record.name, {})
        backends = [", ".join(names.get(kind, [])) or "-" for kind in BACKEND_KINDS]
        rows.append([record.name, record.distribution, record.version, *backends])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += reasons
    for r in manager.broken:
        lines.append(f"! plugin {r.name!r} from {r.distribution} {r.version} failed to load: {r.error}")
    return "\n".join(lines)


def _run_plugins(args: argparse.Namespace) -> int:
    print(plugins_table())
    return 0


@hookimpl
def megastep_commands(subparsers):
    parser = subparsers.add_parser("plugins", help="list installed plugins and the backends they provide")
    parser.set_defaults(run=_run_plugins)
