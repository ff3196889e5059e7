"""An evaluation's report as a table for the terminal, and as JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf"
        return f"{value:.0f}" if value == int(value) and abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def format_table(report: dict[str, Any]) -> str:
    """The policies of :func:`~.evaluate.evaluate_checkpoint`'s report as rows, their measures as columns."""
    policies: dict[str, dict[str, float]] = report["policies"]
    columns: list[str] = ["episodes"]
    for measures in policies.values():
        columns += [key for key in measures if key not in columns]
    rows = [["policy", *columns]] + [[name, *(_cell(m.get(c, math.nan)) for c in columns)]
                                     for name, m in policies.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    title = (f"{report['env']} on {report['layouts']}: {report['episodes']} episodes, seed {report['seed']}, "
             f"{report['device']}")
    return "\n".join([title, *lines])


def _plain(value):
    """NaN and infinities as null: JSON has neither."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Writes the report to ``path`` (non-finite measures as null); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(report), indent=2) + "\n")
    return path
