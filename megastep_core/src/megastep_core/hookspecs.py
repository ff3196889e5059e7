"""Every hook a megastep plugin can implement.

A plugin is a module of functions marked with :data:`hookimpl`, registered
through an entry point in the group ``megastep``::

    [project.entry-points.megastep]
    my_physics = "my_package.plugin"

The four backend hooks are *factories*: each is called with the name a user
asked for and returns a backend object, or ``None`` when the name is not its
own. The hot loop then calls the backend object directly; pluggy is only
involved once, when a World is built. Callers pass hook arguments by keyword.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from .protocols import BackendInfo, Physics, Renderer, Reward, Spawner

PROJECT = "megastep"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def megastep_backends() -> Iterable[BackendInfo]:
    """Name the backends this plugin provides, so that ``megastep plugins`` can
    list them and ``"auto"`` can choose among them.

    Called once when the plugin manager is first asked about backends.

    :returns: one :class:`~megastep_core.protocols.BackendInfo` per backend,
        with ``unavailable`` set to the reason where the backend cannot run
        on this machine (for example "CuPy is not installed").
    """


@hookspec(firstresult=True)
def megastep_physics(name: str, options: Mapping[str, Any]) -> Physics | None:
    """Make the physics backend called ``name``.

    Called once per World, when it is built. Stops at the first non-None result.

    :param name: the backend name the user asked for (``"auto"`` is already
        resolved to a concrete name).
    :param options: the World's backend options: ``device`` (a
        ``torch.device``) and any keyword the user passed in ``physics_options``.
    :returns: an object with the :class:`~megastep_core.protocols.Physics`
        protocol, or ``None`` if ``name`` is not this plugin's.
    """


@hookspec(firstresult=True)
def megastep_renderer(name: str, options: Mapping[str, Any]) -> Renderer | None:
    """Make the renderer backend called ``name``.

    Called once per World, when it is built. Stops at the first non-None result.

    :param name: the backend name the user asked for (``"auto"`` resolved).
    :param options: ``device`` and any keyword passed in ``renderer_options``.
    :returns: an object with the :class:`~megastep_core.protocols.Renderer`
        protocol, or ``None`` if ``name`` is not this plugin's.
    """


@hookspec(firstresult=True)
def megastep_reward(name: str, options: Mapping[str, Any]) -> Reward | None:
    """Make the reward function called ``name``.

    Called once per environment, when it is built. Stops at the first non-None result.

    :param name: the reward name the environment or user asked for.
    :param options: ``device`` and any keyword the environment passes.
    :returns: an object with the :class:`~megastep_core.protocols.Reward`
        protocol, or ``None`` if ``name`` is not this plugin's.
    """


@hookspec(firstresult=True)
def megastep_spawner(name: str, options: Mapping[str, Any]) -> Spawner | None:
    """Make the spawner called ``name``.

    Called once per environment, when it is built. Stops at the first non-None result.

    The spawner is called as ``spawner(world, mask)``, ``mask`` ``(E,)`` bool
    (every agent of those envs) or ``(E, A)`` bool (just those agents), and
    returns the ``(E, A)`` bool of the agents it placed: a multi-agent env
    respawns single agents without redrawing whole envs, and an agent whose
    new place would crowd the others can be left where it is and asked for
    again next step.

    :param name: the spawner name the environment or user asked for.
    :param options: ``device`` and any keyword the environment passes (for
        ``fixed``, ``points``).
    :returns: an object with the :class:`~megastep_core.protocols.Spawner`
        protocol, or ``None`` if ``name`` is not this plugin's.
    """


@hookspec
def megastep_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add subcommands to the ``megastep`` command.

    Called once each time the ``megastep`` command starts, before arguments
    are parsed. Each command sets its handler with ``set_defaults(run=...)``;
    the handler takes the parsed ``argparse.Namespace`` and returns an exit code.

    :param subparsers: the ``add_subparsers()`` object of the top-level parser.
    """
