"""Training agents on megastep's envs: PPO, checkpoints, data-parallel runs, and the ``megastep train`` command.

``megastep train ENV`` (or ``torchrun --nproc-per-node N -m megastep_envs.train ENV``)
runs :func:`~megastep_envs.train.ppo.train`; ``--eval CHECKPOINT --video out.mp4``
records what a trained agent does; ``--bench`` measures training throughput.

The modules, in the order a run uses them: :mod:`.hyperparameters` (what decides a run),
:mod:`.model` and :mod:`.sequences` (the network, and its LSTM over whole rollouts),
:mod:`.rollout` (acting, replayed from CUDA graphs), :mod:`.advantages` (GAE),
:mod:`.learner` (PPO's update), :mod:`.ppo` (the loop), :mod:`.distributed`,
:mod:`.checkpoint`, :mod:`.envstate` and :mod:`.logger` (around it), :mod:`.bench` and :mod:`.cli`.
"""
from .checkpoint import CheckpointError
from .cli import add_train_command
from .hyperparameters import DEFAULTS, Hyperparameters, TrainError, defaults
from .model import Agent
from .ppo import Result, train

__all__ = ["DEFAULTS", "Agent", "CheckpointError", "Hyperparameters", "Result", "TrainError", "add_train_command",
           "defaults", "train"]
