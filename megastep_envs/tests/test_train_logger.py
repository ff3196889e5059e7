"""The training logger: TensorBoard's absence in one plain line, and Weights & Biases, offline."""
import builtins
import dataclasses
import sys

import pytest

from megastep_envs.train import logger as logger_module
from megastep_envs.train.logger import Logger


@dataclasses.dataclass
class Config:
    learning_rate: float = 3e-4
    envs: int = 8


def log_twice(logger):
    logger.log({"charts/SPS": 100.0, "charts/episodic_return": 1.5}, env_steps=10, agent_steps=10, seconds=1.0)
    logger.log({"charts/SPS": 120.0, "charts/episodic_return": 2.5}, env_steps=20, agent_steps=20, seconds=2.0)
    logger.close()


def hide(monkeypatch, *modules):
    """Makes ``import`` of ``modules`` (and their submodules) fail, as where they are not installed."""
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.split(".")[0] in modules or name in modules:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    for name in list(sys.modules):
        if name.split(".")[0] in modules or name in modules:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", fake)


def test_without_tensorboard_one_plain_line_says_so(tmp_path, monkeypatch, capsys, recwarn):
    hide(monkeypatch, "torch.utils.tensorboard")
    log_twice(Logger(tmp_path, Config(), "minimal", enabled=True, progress=False, total=20))
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["megastep: tensorboard is not installed (pip install 'megastep-envs[train]'), so figures go "
                     "to metrics.jsonl only"]
    assert not [w for w in recwarn if "tensorboard" in str(w.message)]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_wandb_logs_every_update_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="Weights & Biases logging needs the 'wandb' extra")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = Logger(tmp_path, Config(), "minimal", enabled=True, progress=False, total=20, wandb=True)
    run = logger.wandb
    assert run.config["learning_rate"] == 3e-4 and run.name == f"minimal-{tmp_path.name}"
    logged, log = [], run.log
    monkeypatch.setattr(run, "log", lambda data, step: (logged.append((step, data)), log(data, step=step)))
    logger.log({"charts/SPS": 100.0, "charts/episodic_return": 1.5}, env_steps=10, agent_steps=10, seconds=1.0)
    logger.log({"charts/SPS": 120.0, "charts/episodic_return": 2.5}, env_steps=20, agent_steps=20, seconds=2.0)
    assert [step for step, _ in logged] == [10, 20]  # the x axis is env steps, as in TensorBoard
    assert logged[1][1] == {"charts/SPS": 120.0, "charts/episodic_return": 2.5, "charts/wall_seconds": 2.0}
    assert run.summary["charts/episodic_return"] == 1.5  # committed when the next step began
    logger.close()
    assert logger.wandb is None
    records = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(records) == 1 and records[0].stat().st_size > 0  # what `wandb sync` uploads later


def test_wandb_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    hide(monkeypatch, "wandb")
    with pytest.raises(ImportError, match=r"pip install 'megastep-envs\[wandb\]'"):
        Logger(tmp_path, Config(), "minimal", enabled=True, progress=False, total=20, wandb=True)
    assert logger_module  # the module itself imports without wandb
