"""Where training figures go: TensorBoard, Weights & Biases, a JSON-lines file, and a progress bar.

Only rank 0 of a data-parallel run logs. TensorBoard is optional (the
``train`` extra installs it; without it, one line on stderr says so);
Weights & Biases is asked for with ``wandb=True`` (the ``wandb`` extra; its
project is ``$WANDB_PROJECT`` or ``megastep``, and ``WANDB_MODE=offline``
keeps the run on disk, under the run's folder). ``metrics.jsonl`` is always
written, one JSON object per update, so that plots and reports need nothing
but the standard library.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm


class Logger:
    """Writes each update's figures.

    :param out: the run's folder, or ``None`` to write nothing.
    :param config: the run's hyperparameters, written once as text and to ``hyperparameters.json``.
    :param env_name: shown in the progress bar.
    :param enabled: False on every process but rank 0.
    :param progress: show a progress bar of env steps.
    :param total: env steps of the whole run. :param initial: env steps already done (on resume).
    :param wandb: also log to Weights & Biases (needs the ``wandb`` package; see the module docs).
    """

    def __init__(self, out, config, env_name: str, enabled: bool, progress: bool, total: int, initial: int = 0,
                 *, wandb: bool = False):
        self.enabled = enabled and out is not None
        self.writer = None
        self.file = None
        self.wandb = None
        if wandb and self.enabled:
            self.wandb = _start_wandb(Path(out), config, env_name)
        if self.enabled:
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "hyperparameters.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
            self.file = open(out / "metrics.jsonl", "a")  # noqa: SIM115 - open for the whole run
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # one plain line: a warning would show this file's source on every run
                print("megastep: tensorboard is not installed (pip install 'megastep-envs[train]'), so figures go to "
                      "metrics.jsonl only", file=sys.stderr)
            else:
                self.writer = SummaryWriter(str(out))
                table = "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(config).items())
                self.writer.add_text("hyperparameters", f"|name|value|\n|-|-|\n{table}")
        self.bar = tqdm(total=total, initial=initial, unit="step", desc=env_name, disable=not progress,
                        dynamic_ncols=True)

    def log(self, metrics: dict[str, float], env_steps: int, agent_steps: int, seconds: float) -> None:
        """Records ``metrics`` at ``env_steps`` (the x axis) and moves the progress bar."""
        self.bar.update(env_steps - self.bar.n)
        postfix = {"SPS": f"{metrics['charts/SPS']:,.0f}"} if "charts/SPS" in metrics else {}
        if "charts/episodic_return" in metrics:
            postfix["return"] = f"{metrics['charts/episodic_return']:.3g}"
        self.bar.set_postfix(postfix, refresh=False)
        if not self.enabled:
            return
        record = {"env_steps": env_steps, "agent_steps": agent_steps, "seconds": seconds, **metrics}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, env_steps)
            self.writer.add_scalar("charts/wall_seconds", seconds, env_steps)
        if self.wandb is not None:
            self.wandb.log({**metrics, "charts/wall_seconds": seconds}, step=env_steps)

    def close(self) -> None:
        self.bar.close()
        if self.file is not None:
            self.file.close()
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def _start_wandb(out: Path, config, env_name: str):
    """A Weights & Biases run that keeps its files under ``out``; a clear error where wandb is missing."""
    try:
        import wandb
    except ImportError as error:
        raise ImportError("wandb=True logs to Weights & Biases, which is not installed: pip install "
                          "'megastep-envs[wandb]', or train without it") from error
    out.mkdir(parents=True, exist_ok=True)
    return wandb.init(project=os.environ.get("WANDB_PROJECT", "megastep"), name=f"{env_name}-{out.name}",
                      dir=str(out), config=dataclasses.asdict(config), reinit="create_new")
