"""megastep-envs' plugin: the rewards of the envs' tasks, and the ``megastep demo``, ``bench``, ``train`` and ``eval``
commands."""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl

from .tasks.rewards import REWARDS


@hookimpl
def megastep_backends():
    return [BackendInfo(kind="reward", name=name, description=text) for name, (_, text) in REWARDS.items()]


@hookimpl
def megastep_reward(name, options):
    entry = REWARDS.get(name)
    return None if entry is None else entry[0](options)


@hookimpl
def megastep_commands(subparsers):
    from .tools import bench, demo

    demo.add_command(subparsers)
    bench.add_command(subparsers)
    from .train import add_train_command

    add_train_command(subparsers)
    from .evaluation.cli import add_eval_command

    add_eval_command(subparsers)
