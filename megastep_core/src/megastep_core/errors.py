"""Every error megastep raises on purpose derives from :class:`MegastepError`."""
from __future__ import annotations


class MegastepError(Exception):
    """Base class of megastep's own errors."""


class UnknownBackendError(MegastepError, LookupError):
    """A backend name that no installed plugin provides."""


class BackendUnavailableError(MegastepError, RuntimeError):
    """A backend that is installed but cannot run here (no CUDA, no CuPy, ...)."""


class GeometryError(MegastepError, ValueError):
    """A geometry that megastep cannot simulate: it says which one and why."""


class KernelError(MegastepError, RuntimeError):
    """A CUDA kernel could not be compiled or launched (no CuPy, no GPU, a compile error)."""


class StateError(MegastepError, ValueError):
    """Agent state that cannot be simulated, such as NaN or infinite positions or velocities."""
