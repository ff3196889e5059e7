"""Training agents on megastep's envs: PPO, checkpoints, data-parallel runs, and the ``megastep train`` command.

``megastep train ENV`` (or ``torchrun --nproc-per-node N -m megastep_envs.train ENV``)
runs :func:`~megastep_envs.train.ppo.train`; ``--eval CHECKPOINT --video out.mp4``
records what a trained agent does; ``--bench`` measures training throughput.

The modules, in the order a run uses them: ``hyperparameters`` (what decides a run),
``model`` and ``sequences`` (the network, and its LSTM over whole rollouts), ``rollout``
(acting, replayed from CUDA graphs), ``advantages`` (GAE), ``learner`` (PPO's update),
``pipeline`` (rollouts and updates in turn, or side by side), ``ppo`` (the loop); around
it ``distributed``, ``checkpoint``, ``envstate`` and ``logger``; and ``bench``
(``--bench``) and ``cli`` (the command).
"""
from .checkpoint import CheckpointError
from .cli import add_train_command
from .hyperparameters import DEFAULTS, Hyperparameters, TrainError, defaults
from .model import Agent
from .ppo import Result, train

__all__ = ["DEFAULTS", "Agent", "CheckpointError", "Hyperparameters", "Result", "TrainError", "add_train_command",
           "defaults", "train"]
