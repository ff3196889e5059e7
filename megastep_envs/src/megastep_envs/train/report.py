"""Training curves and figures from the ``metrics.jsonl`` of finished runs.

    python -m megastep_envs.train.report runs/pointgoal runs/explorer --out report/

writes ``report/training-ENV.png`` for each run (the episodic return, and the
task's success rate or coverage where it has one, and a self-play run's win
rate against its opponents and Elo rating, against env steps and against
wall-clock time, each point the mean of the last updates, ``--smooth N`` of
them, a fiftieth of the run's by default; a return that is 0 at every update, as a zero-sum reward's
mean over all agents is, is left out), with ``--together NAME`` also
``report/NAME.png`` with every run on the same axes, and
``report/training.json``: for each run, the env
steps done, the wall time, the final figures (means over the last tenth of
the updates, so that one noisy update does not decide them) and the
end-to-end training throughput in agent-steps per second.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

TASK_METRICS = ("charts/success_rate", "charts/coverage", "selfplay/win_rate", "selfplay/elo")
"""Curves drawn beside the return where a run logs them."""


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """The records of ``run/metrics.jsonl``, one per update."""
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {run} the folder of a training run?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _tail_mean(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if key in r and math.isfinite(r[key])]
    if not values:
        return None
    tail = values[-max(1, len(values) // 10):]
    return sum(tail) / len(tail)


def summarise(run: Path) -> dict[str, Any]:
    """The figures of one run, for ``training.json`` and the benchmarks page."""
    run = Path(run)
    records = read_metrics(run)
    if not records:
        raise ValueError(f"{run}/metrics.jsonl has no records")
    hyperparameters = json.loads((run / "hyperparameters.json").read_text())
    last = records[-1]
    summary = {
        "run": run.name,
        "env_steps": last["env_steps"],
        "agent_steps": last["agent_steps"],
        "budget_env_steps": hyperparameters["total_steps"],
        "wall_seconds": last["seconds"],
        "updates": len(records),
        "agent_steps_per_s": last["agent_steps"] / last["seconds"],
        "final_episodic_return": _tail_mean(records, "charts/episodic_return"),
        "first_episodic_return": next((r["charts/episodic_return"] for r in records
                                       if "charts/episodic_return" in r), None),
        "env_agent_steps_per_s": _tail_mean(records, "charts/env_agent_steps_per_s"),
        "learner_samples_per_s": _tail_mean(records, "charts/learner_samples_per_s"),
        "hyperparameters": hyperparameters,
    }
    for key in TASK_METRICS:
        value = _tail_mean(records, key)
        if value is not None:
            summary[f"final_{key.split('/')[-1]}"] = value
            summary[f"first_{key.split('/')[-1]}"] = next(r[key] for r in records if key in r)
    return summary


def _panels(records: list[dict[str, Any]]) -> list[str]:
    """The metrics a run's figure draws: its return (unless 0 at every update) and the task metrics it logs."""
    returns = [r["charts/episodic_return"] for r in records if "charts/episodic_return" in r]
    keys = ["charts/episodic_return"] if any(abs(value) > 1e-6 for value in returns) else []
    return keys + [k for k in TASK_METRICS if any(k in r for r in records)] or ["charts/episodic_return"]


def trailing_mean(values: list[float], window: int) -> list[float]:
    """Each of ``values`` averaged with the ``window - 1`` before it (fewer at the start)."""
    means, total = [], 0.0
    for index, value in enumerate(values):
        total += value - (values[index - window] if index >= window else 0.0)
        means.append(total / min(index + 1, window))
    return means


def smoothing_window(updates: int) -> int:
    """The updates a curve point averages by default: a fiftieth of the run's, so that a run of few envs, whose
    every update's figure is the mean of a few episodes, still draws a curve one can follow."""
    return max(1, updates // 50)


def plot(runs: Path | list[Path], path: Path, title: str | None = None, smooth: int | None = None) -> Path:
    """Draws the curves of one run, or of several on the same axes with a legend of their folders' names, into
    ``path`` (PNG): each metric against env steps and against wall time.

    :param smooth: updates each point of a curve averages (:func:`trailing_mean`); where more than 1, the
        figures of each update are drawn faintly behind. None: :func:`smoothing_window` of each run.
    """
    runs = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(run) for run in runs]
    from matplotlib.figure import Figure

    every = {run: read_metrics(run) for run in runs}
    windows = {run: smooth if smooth is not None else smoothing_window(len(records)) for run, records in every.items()}
    keys = list(dict.fromkeys(key for records in every.values() for key in _panels(records)))
    figure = Figure(figsize=(10, 3.2 * len(keys)), dpi=100, layout="constrained")
    axes = figure.subplots(len(keys), 2, squeeze=False)
    for row, key in enumerate(keys):
        for column, (x_key, x_label, scale) in enumerate(
            [("env_steps", "env steps (millions)", 1e-6), ("seconds", "wall time (minutes)", 1 / 60)]
        ):
            ax = axes[row][column]
            for run, records in every.items():
                points = [r for r in records if key in r]
                if not points and len(runs) > 1:
                    continue  # a run that never logged it: no empty entry in the legend
                xs, ys = [r[x_key] * scale for r in points], [r[key] for r in points]
                color = "tab:blue" if len(runs) == 1 else f"C{runs.index(run)}"
                if windows[run] > 1:
                    ax.plot(xs, ys, color=color, alpha=0.2, linewidth=0.8)
                    ys = trailing_mean(ys, windows[run])
                ax.plot(xs, ys, label=run.name, color=color)
            ax.set_xlabel(x_label)
            ax.set_ylabel(key.split("/")[-1].replace("_", " "))
            ax.grid(alpha=0.3)
    if len(runs) > 1:
        axes[0][0].legend(fontsize="small")
    heading = title or (f"{runs[0].name}: PPO training" if len(runs) == 1 else "PPO training")
    if max(windows.values()) > 1:
        heading += " (solid: the mean of the last " + "/".join(map(str, sorted(set(windows.values())))) + " updates)"
    figure.suptitle(heading)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m megastep_envs.train.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="folders of training runs (each with metrics.jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="folder for training-RUN.png and training.json")
    parser.add_argument("--device", default="", help="a description of the machine, stored in training.json")
    parser.add_argument("--together", metavar="NAME",
                        help="also draw every run on the same axes, into NAME.png, to compare them")
    parser.add_argument("--smooth", type=int, metavar="N",
                        help="each curve point averages the last N updates, the figures of each drawn faintly behind "
                             "(default: a fiftieth of a run's updates; 1 draws each update's figures alone)")
    args = parser.parse_args(argv)
    if args.together is not None and not args.together.strip():
        print(f"report: error: --together takes a name for the figure, got {args.together!r}", file=sys.stderr)
        return 2
    if args.smooth is not None and args.smooth < 1:
        print(f"report: error: --smooth takes a number of updates, 1 or more, got {args.smooth}", file=sys.stderr)
        return 2
    try:
        summaries = []
        for run in args.runs:
            summaries.append({**summarise(run), "device": args.device})
            plot(run, args.out / f"training-{run.name}.png", smooth=args.smooth)
        if args.together:
            name = args.together.removesuffix(".png")
            plot(args.runs, args.out / f"{name}.png", title=f"{name}: PPO training", smooth=args.smooth)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"report: error: {error}", file=sys.stderr)
        return 2
    (args.out / "training.json").write_text(json.dumps(summaries, indent=2) + "\n")
    for summary in summaries:
        extras = "".join(f", {k} {summary[k]:.3g}" for k in [f"final_{m.split('/')[-1]}" for m in TASK_METRICS]
                         if k in summary)
        print(f"{summary['run']}: {summary['env_steps']:,} env steps in {summary['wall_seconds'] / 60:.1f} min, "
              f"{summary['agent_steps_per_s']:,.0f} agent-steps/s end to end; return "
              f"{summary['first_episodic_return']} -> {summary['final_episodic_return']}{extras}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
