"""Finding plugins and making backends from them.

Built-in plugins are found exactly like third-party ones: through entry points
in the group ``megastep``. Each entry point is loaded on its own, so one that
fails to import is recorded (see :attr:`PluginManager.broken`) while the rest
keep working. ``MEGASTEP_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the entry
points of megastep's own distributions.
"""
from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import warnings
from collections.abc import Mapping
from typing import Any

import attrs
import pluggy
import torch

from . import hookspecs
from .errors import BackendUnavailableError, UnknownBackendError
from .protocols import BACKEND_KINDS, BackendInfo, BackendKind

DEFAULT_BEHAVIOUR: dict[str, str] = {"physics": "stop", "renderer": "raycast"}
"""What ``"auto"`` means for each kind: the behaviour whose best implementation it picks."""

BUILTIN_DISTRIBUTIONS = frozenset(
    {"megastep-core", "megastep-physics", "megastep-render", "megastep-geometry", "megastep-envs"}
)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@attrs.define(frozen=True)
class PluginRecord:
    """One entry point of the ``megastep`` group, loaded or not.

    :ivar name: the entry point's name.
    :ivar value: what it points at, ``module`` or ``module:object``.
    :ivar distribution: the distribution that declares it.
    :ivar version: that distribution's version.
    :ivar error: ``None`` if it loaded, else ``"ExceptionType: message"``.
    """

    name: str
    value: str
    distribution: str
    version: str
    error: str | None = None


def deprecated_alias(info: BackendInfo, old: str) -> BackendInfo:
    """``info`` listed under the old name ``old`` that it replaces."""
    return attrs.evolve(info, name=old, replaces=(), preference=-1, description=f"deprecated name of {info.name!r}")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, plus a record of every entry point and what it provides."""

    def __init__(self):
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []

    @property
    def broken(self) -> list[PluginRecord]:
        """The entry points that failed to load, each with its error."""
        return [r for r in self.records if r.error is not None]

    def load_entry_points(self, builtins_only: bool = False) -> None:
        for entry_point in sorted(metadata.entry_points(group=hookspecs.PROJECT), key=lambda e: e.name):
            dist = entry_point.dist
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            if builtins_only and _canonical(dist_name) not in BUILTIN_DISTRIBUTIONS:
                continue
            if self.get_plugin(entry_point.name) is not None or self.is_blocked(entry_point.name):
                continue
            record = PluginRecord(entry_point.name, entry_point.value, dist_name, version)
            try:
                self.register(entry_point.load(), name=entry_point.name)
            except Exception as error:  # a broken plugin must not break the others
                record = attrs.evolve(record, error=f"{type(error).__name__}: {error}")
            self.records.append(record)

    def backends(self, kind: BackendKind | None = None, aliases: bool = True) -> list[tuple[str, BackendInfo]]:
        """``(plugin name, info)`` for every backend every loaded plugin provides.

        :param aliases: also list each old name a backend ``replaces``, as a copy of its info under that name
            (described as deprecated), and each behaviour under its own name, so that code that looks old
            names up in this list keeps finding them. Deprecated: pass False; the default turns False in a
            later release.
        """
        found = []
        for impl in self.hook.megastep_backends.get_hookimpls():
            for info in impl.function() or ():
                if kind is None or info.kind == kind:
                    found.append((impl.plugin_name, info))
                    if aliases:
                        found += [(impl.plugin_name, deprecated_alias(info, old)) for old in info.replaces]
        if aliases:  # each behaviour by its own name, as its best implementation that can run here
            best: dict[tuple[str, str], tuple[str, BackendInfo]] = {}
            rank = lambda i: (i.unavailable is not None, -i.preference)
            for plugin, info in found:
                if ":" in info.name and not info.name.startswith(":"):
                    key = (info.kind, info.behaviour)
                    if key not in best or rank(info) < rank(best[key][1]):
                        best[key] = (plugin, info)
            found += [(plugin, attrs.evolve(info, name=info.behaviour, replaces=(),
                                            description=f"the best implementation of {info.behaviour!r} here"))
                      for plugin, info in best.values()]
        return found

    def backend_names(self, kind: BackendKind) -> list[str]:
        """The names of the ``kind`` backends, old names left out."""
        return sorted({info.name for _, info in self.backends(kind, aliases=False)})

    def choose(self, kind: BackendKind, name: str, device, stacklevel: int = 1) -> tuple[str, BackendInfo | None]:
        """The backend ``name`` selects on ``device``, and its listing (None for a name no plugin lists).

        ``"auto"`` is the kind's default behaviour (:data:`DEFAULT_BEHAVIOUR`); a behaviour (``"stop"``)
        is its implementation of highest ``preference`` that runs on ``device``; a full name
        (``"stop:cuda"``) is itself; an old name that a backend ``replaces`` is that backend, with a
        DeprecationWarning naming it.

        :param stacklevel: whose line that warning names, as :func:`warnings.warn` counts from the caller of this
            method: 1 is the caller, 2 the caller's caller (a World passes 2, to name the line that made it).
        """
        listed = [info for _, info in self.backends(kind, aliases=False)]
        for info in listed:
            if info.name == name:
                return name, info
        for info in listed:
            if name in info.replaces:
                warnings.warn(
                    f"the {kind} backend name {name!r} is deprecated: use {info.name!r} "
                    f"(or {info.behaviour!r} to choose its implementation by device)",
                    DeprecationWarning, stacklevel=stacklevel + 1,
                )
                return info.name, info
        behaviour = DEFAULT_BEHAVIOUR.get(kind, name) if name == "auto" else name
        implementations = sorted((info for info in listed if info.behaviour == behaviour and info.name != behaviour),
                                 key=lambda info: (-info.preference, info.name))
        for info in implementations:
            if info.runs_on(device):
                return info.name, info
        return behaviour, None

    def resolve_name(self, kind: BackendKind, name: str, device: torch.device) -> str:
        """The full name :meth:`choose` picks for ``name`` on ``device``."""
        return self.choose(kind, name, device, stacklevel=2)[0]

    def make(self, kind: BackendKind, name: str, options: Mapping[str, Any] | None = None):
        """Asks the plugins for the ``kind`` backend called ``name``.

        :param options: passed to the hook; ``device`` is used to resolve ``"auto"``.
        :raises UnknownBackendError: no plugin provides ``name``; the message lists
            the installed names and any plugin that failed to load.
        :raises BackendUnavailableError: the backend is installed but cannot run here.
        """
        if kind not in BACKEND_KINDS:
            raise ValueError(f"kind must be one of {BACKEND_KINDS}, got {kind!r}")
        options = dict(options or {})
        options.setdefault("device", torch.device("cpu"))
        name, info = self.choose(kind, name, options["device"], stacklevel=3)  # the caller of make_backend
        if info is not None and info.unavailable is not None:
            raise BackendUnavailableError(f"the {kind} backend {name!r} cannot run here: {info.unavailable}")
        hook = getattr(self.hook, f"megastep_{kind}")
        backend = hook(name=name, options=options)
        if backend is None:
            installed = ", ".join(repr(n) for n in self.backend_names(kind)) or "none"
            behaviours = sorted({n.partition(":")[0] for n in self.backend_names(kind) if ":" in n})
            also = [*behaviours, "auto"] if kind in DEFAULT_BEHAVIOUR else behaviours  # auto means nothing else
            message = f"no {kind} backend is called {name!r}; installed: {installed}"
            message += f" (or {', '.join(repr(b) for b in also)})." if also else "."
            if self.broken:
                failed = "; ".join(f"{r.name} from {r.distribution}: {r.error}" for r in self.broken)
                message += f" Plugins that failed to load: {failed}."
            raise UnknownBackendError(message)
        return backend


def autoload_disabled() -> bool:
    return os.environ.get("MEGASTEP_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0")


@functools.cache
def _cached_manager(builtins_only: bool) -> PluginManager:
    manager = PluginManager()
    manager.load_entry_points(builtins_only=builtins_only)
    return manager


def get_plugin_manager() -> PluginManager:
    """The process's plugin manager, with every ``megastep`` entry point loaded.

    With ``MEGASTEP_DISABLE_PLUGIN_AUTOLOAD=1`` only megastep's own
    distributions are loaded. Register extra plugins by hand with
    ``get_plugin_manager().register(module)``.
    """
    return _cached_manager(autoload_disabled())


def make_backend(kind: BackendKind, name: str, **options):
    """Shorthand for ``get_plugin_manager().make(kind, name, options)``."""
    return get_plugin_manager().make(kind, name, options)
