"""The environments by name, and :func:`make` to build one from its name."""
from __future__ import annotations

from megastep_core import MegastepError

from .step.env import Env
from .tasks.deathmatch import Deathmatch
from .tasks.explorer import Explorer
from .tasks.minimal import Minimal
from .tasks.pointgoal import PointGoal

ENVS: dict[str, type[Env]] = {cls.name: cls for cls in (Minimal, Explorer, PointGoal, Deathmatch)}


class UnknownEnvError(MegastepError, LookupError):
    """An environment name that megastep_envs does not have."""


def env_class(name: str) -> type[Env]:
    """The env class called ``name``, or an error listing the names there are."""
    if name not in ENVS:
        raise UnknownEnvError(f"no environment is called {name!r}; there are: {', '.join(sorted(ENVS))}")
    return ENVS[name]


def make(name: str, n_envs: int = 64, **options) -> Env:
    """Builds the env called ``name`` (minimal, explorer, pointgoal, deathmatch) with ``n_envs`` envs."""
    return env_class(name)(n_envs, **options)
