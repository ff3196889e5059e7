"""The old module paths of megastep_envs, from before it was laid out as the step reads (``step/``, ``modules/``,
``tasks/``, ``tools/``): importing one hands back the module at its new path, with a DeprecationWarning naming it.

One import hook serves them all, so the package's tree holds no file per old path.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED = {
    "base": "step.env", "graphs": "step.graphs", "graph_input": "step.graph_input", "fusion": "step.compiling",
    "checks": "step.checks", "episodes": "step.episodes", "lifespans": "step.lifespans",
    "movement": "modules.movement", "observations": "modules.observations", "occupancy": "modules.occupancy",
    "minimal": "tasks.minimal", "explorer": "tasks.explorer", "pointgoal": "tasks.pointgoal",
    "deathmatch": "tasks.deathmatch", "rewards": "tasks.rewards",
    "bench": "tools.bench", "demo": "tools.demo", "plotting": "tools.plotting",
}
"""Old module (under ``megastep_envs.``) -> its new path."""

RENAMED = {"fusion": {"fused": "compilable", "fusion": "compiling"}}
"""Names an old module had that its new one calls otherwise: old -> new, per old module."""


def _with_old_names(module: ModuleType, old: str) -> ModuleType:
    names = RENAMED.get(old)
    if not names:
        return module
    shim = ModuleType(f"megastep_envs.{old}", module.__doc__)
    shim.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    for old_name, new_name in names.items():
        shim.__dict__[old_name] = getattr(module, new_name)
    return shim


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, old = fullname.partition(".")
        if prefix != "megastep_envs" or old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        old = spec.name.partition(".")[2]
        new = f"megastep_envs.{MOVED[old]}"
        warnings.warn(f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=2)
        module = _with_old_names(importlib.import_module(new), old)
        spec.loader_state = module.__spec__  # None for a shim of old names, which keeps the old path's spec
        return module

    def exec_module(self, module):
        # the import system sets the old path's spec on whatever create_module returned: a module handed back
        # whole gets its own again, or it would claim to be the old path (and this loader) from then on
        own = module.__spec__.loader_state
        if own is not None:
            module.__spec__ = own


def install() -> None:
    """Lets the old paths import (once per process)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
