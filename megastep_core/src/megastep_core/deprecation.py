"""Old names that still work: a module's ``__getattr__`` that hands each one back with a DeprecationWarning."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def old_names(module: str, names: Mapping[str, tuple[Any, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for the old ``names`` of ``module``: each old name maps to the value it
    now gives and the warning's message, which names what to use instead.

    The warning names the line that read the old name, not this module's: the module's own ``__getattr__`` is
    the function returned here, so ``stacklevel=2`` is its caller.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value, message = names[name]
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
