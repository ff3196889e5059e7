"""megastep-geometry's plugin: the ``random`` and ``fixed`` spawners and the
``megastep homes`` and ``megastep show`` commands."""
from __future__ import annotations

from megastep_core import BackendInfo, hookimpl

from .commands import add_commands
from .spawners import FixedSpawner, RandomSpawner

SPAWNERS = {"random": RandomSpawner, "fixed": FixedSpawner}


@hookimpl
def megastep_backends():
    return [
        BackendInfo(kind="spawner", name="random", description="random safe points of the free space, agents apart"),
        BackendInfo(kind="spawner", name="fixed", description="given points, (A, 2) or (E, A, 2) metres"),
    ]


@hookimpl
def megastep_spawner(name, options):
    spawner = SPAWNERS.get(name)
    return None if spawner is None else spawner(options)


@hookimpl
def megastep_commands(subparsers):
    add_commands(subparsers)
