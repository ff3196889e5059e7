"""Training agents on megastep's envs: PPO, checkpoints, data-parallel runs, and the ``megastep train`` command.

``megastep train ENV`` (or ``torchrun --nproc-per-node N -m megastep_envs.train ENV``)
runs :func:`~megastep_envs.train.ppo.train`; ``--eval CHECKPOINT --video out.mp4``
records what a trained agent does.
"""
from .checkpoint import CheckpointError
from .cli import add_train_command
from .model import Agent
from .ppo import DEFAULTS, Hyperparameters, Result, TrainError, defaults, train

__all__ = ["DEFAULTS", "Agent", "CheckpointError", "Hyperparameters", "Result", "TrainError", "add_train_command",
           "defaults", "train"]
