"""Loading CUDA kernels shipped as ``.cu`` package data, and launching them on torch tensors.

A CUDA backend keeps its kernel sources beside its Python code. At first use
they are compiled with CuPy's NVRTC (``cupy.RawModule``), which caches the
binary on disk (``~/.cupy/kernel_cache``): there is no build step at install
time and users need no compiler. Tensors are passed to kernels as raw device
pointers (no copy), and every launch runs on PyTorch's current stream, so
kernels order correctly with torch ops and can be captured in CUDA graphs.

CuPy is imported lazily: importing this module never needs it.
"""
from __future__ import annotations

import functools
import importlib.resources
import re
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from .deprecation import old_names
from .errors import KernelError

DEFAULT_OPTIONS = ("--use_fast_math", "-std=c++17")


def cupy_unavailable_reason() -> str | None:
    """``None`` if CuPy imports and sees a GPU, else why not (for ``megastep plugins``)."""
    try:
        import cupy
    except Exception as error:  # ImportError, or a CuPy built for another CUDA
        return f"CuPy is not installed ({type(error).__name__}: {error}); pip install cupy-cuda12x or cupy-cuda13x"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no CUDA GPU is visible"
    except Exception as error:
        return f"no CUDA GPU is usable ({type(error).__name__}: {error})"
    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU (a CPU-only build of torch?)"
    return None


def _import_cupy():
    try:
        import cupy
    except Exception as error:
        raise KernelError(
            "megastep's CUDA backends need CuPy: pip install cupy-cuda12x (or cupy-cuda13x, "
            f"matching your CUDA); importing it failed with {type(error).__name__}: {error}"
        ) from error
    return cupy


SHARED_HEADER = re.compile(r'^#include "megastep_core/(\w+\.cuh)"$', re.M)
"""How a kernel source includes a header of ``megastep_core/cuda`` (like ``counter_random.cuh``)."""


def read_source(package: str, filename: str) -> str:
    """The text of ``filename``, shipped as package data of ``package``, with the ``megastep_core`` headers it
    includes (``#include "megastep_core/NAME.cuh"``) pasted in: so that CuPy's cache, which keys on the
    text, sees a header change, and no compiler needs an include path into an installed package."""
    try:
        source = importlib.resources.files(package).joinpath(filename).read_text()
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise KernelError(f"kernel source {filename!r} is missing from package {package!r}") from error
    return expand_headers(source)


def expand_headers(source: str) -> str:
    """``source`` with the ``megastep_core`` headers it includes pasted in (see :func:`read_source`)."""
    return SHARED_HEADER.sub(lambda match: read_source("megastep_core.cuda", match.group(1)), source)


@functools.cache
def load_module(package: str, filename: str, options: Sequence[str] = DEFAULT_OPTIONS):
    """Compiles (or fetches from CuPy's disk cache) the ``.cu`` file ``filename`` of ``package``.

    :returns: a ``cupy.RawModule``; get kernels with :func:`kernel`.
    :raises KernelError: CuPy is missing, or the source does not compile (with the compiler's log).
    """
    cupy = _import_cupy()
    source = read_source(package, filename)
    try:
        module = cupy.RawModule(code=source, options=tuple(options))
        module.compile()
    except Exception as error:
        raise KernelError(f"compiling {package}/{filename} failed: {error}") from error
    return module


@functools.cache
def _external_stream(pointer: int, device: int):
    """torch's stream ``pointer`` as a CuPy stream, cached: wrapping it anew at every launch costs more host time
    than the launch.

    ``ExternalStream`` only records the pointer, which also makes it safe to
    create while the stream is being captured into a CUDA graph. CuPy 14
    deprecates it in favour of ``Stream.from_external``, which may query the
    stream (not allowed during capture), so it is kept, with its warning silenced.
    """
    cupy = _import_cupy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return cupy.cuda.ExternalStream(pointer, device)


def _argument(value):
    if isinstance(value, torch.Tensor):
        if value.device.type != "cuda":
            raise KernelError(f"kernel arguments must be CUDA tensors, got one on {value.device}")
        if not value.is_contiguous():
            raise KernelError(f"kernel tensor arguments must be contiguous, got strides {value.stride()}")
        return np.uint64(value.data_ptr())
    if isinstance(value, bool):
        return np.int32(value)
    if isinstance(value, int):
        return np.int32(value)
    if isinstance(value, float):
        return np.float32(value)
    return value


KERNEL = re.compile(r'extern "C" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\((.*?)\)\s*\{', re.S)
"""A kernel's definition in a source: its name and its parameter list."""
_MACRO = re.compile(r"^#define (\w+)[ \t]+((?:.*\\\n)*.*)$", re.M)


def kernel_signatures(source: str) -> list[tuple[str, str]]:
    """Each kernel of ``source``: its name and its parameter list on one line, with the object-like macros it
    uses spelled out (so that kernels may share a list of parameters, as the renderer's do)."""
    macros = {name: " ".join(body.replace("\\\n", " ").split()) for name, body in _MACRO.findall(source)}
    expand = lambda match: macros.get(match.group(0), match.group(0))
    return [(name, re.sub(r"\w+", expand, " ".join(parameters.split()))) for name, parameters in KERNEL.findall(source)]


def written_parameters(source: str, name: str) -> tuple[bool, ...]:
    """For each parameter of kernel ``name`` in ``source``: whether it is a pointer to non-``const`` data, which
    the kernel may write."""
    for found, parameters in kernel_signatures(source):
        if found == name:
            return tuple("*" in p and not p.split()[0] == "const" for p in parameters.split(","))
    raise KernelError(f"no kernel {name!r} is defined in the source")


class Kernel:
    """A compiled kernel that takes torch tensors and runs on torch's current stream.

    Arguments are converted as: tensor -> device pointer (``T*`` in the
    kernel), Python ``int``/``bool`` -> ``int``, Python ``float`` -> ``float``;
    numpy scalars pass unchanged (use ``np.int64`` for a ``long long``).

    A tensor passed for a non-``const`` pointer has its version counter bumped,
    as an in-place torch operation would: code that asks torch whether a tensor
    changed (``tensor._version``, as :mod:`megastep_envs.train.envstate` does
    to save only what changed) then sees what kernels wrote.
    """

    def __init__(self, function, name: str, writes: Sequence[bool] = ()):
        self.function = function
        self.name = name
        self.writes = tuple(writes)
        self._resident: dict[tuple[int, int], int] = {}

    def resident_blocks(self, block: int, shared_mem: int = 0) -> int:
        """How many blocks of ``block`` threads (and ``shared_mem`` bytes of dynamic shared memory) one SM holds at
        once, as the compiled kernel's registers and shared memory allow (CUDA's occupancy calculator)."""
        key = (block, shared_mem)
        if key not in self._resident:
            occupancy = _import_cupy().cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor
            self._resident[key] = int(occupancy(self.function.kernel.ptr, block, shared_mem))
        return self._resident[key]

    def __call__(self, grid: int | tuple, block: int | tuple, *args, shared_mem: int = 0) -> None:
        device = torch.cuda.current_device()
        stream = _external_stream(torch.cuda.current_stream(device).cuda_stream, device)
        grid = grid if isinstance(grid, tuple) else (int(grid),)
        block = block if isinstance(block, tuple) else (int(block),)
        with stream:
            self.function(grid, block, tuple(_argument(a) for a in args), shared_mem=shared_mem)
        for value, written in zip(args, self.writes):
            if written and isinstance(value, torch.Tensor) and not value.is_inference():
                torch.autograd.graph.increment_version(value)


def kernel(package: str, filename: str, name: str, options: Sequence[str] = DEFAULT_OPTIONS) -> Kernel:
    """The kernel ``name`` (an ``extern "C" __global__`` function) of ``package``/``filename``."""
    module = load_module(package, filename, tuple(options))
    try:
        return Kernel(module.get_function(name), name, written_parameters(read_source(package, filename), name))
    except Exception as error:
        raise KernelError(f"{package}/{filename} has no kernel {name!r} ({error})") from error


IMPLEMENTATIONS = ("auto", "torch", "cuda")
"""What a package's kernels may be asked to run as: ``auto`` chooses by device, as backends are chosen."""

CUDA_DEVICES = ("cuda",)
"""The device types CUDA kernels run on."""


def choose_implementation(implementation: str, device, what: str = "kernels") -> str:
    """``"torch"`` or ``"cuda"``: the rule by which kernels and backends are chosen.

    ``"auto"`` is ``"cuda"`` where ``device`` is a CUDA device and CuPy can run, else ``"torch"``;
    ``"torch"`` is itself; ``"cuda"`` is itself, or a ValueError saying why it cannot run here.

    :param what: how the choice is named in errors, as ``"reward option backend"``.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"{what} must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    device = torch.device(device)
    if implementation == "torch" or (implementation == "auto" and device.type not in CUDA_DEVICES):
        return "torch"
    reason = "the world is not on a CUDA device" if device.type not in CUDA_DEVICES else cupy_unavailable_reason()
    if reason is None:
        return "cuda"
    if implementation == "cuda":
        raise ValueError(f"{what}='cuda' cannot run here: {reason}; use 'torch' or 'auto'")
    return "torch"


class Kernels:
    """The kernels a package chose for one device: its CUDA kernels, or its torch references of the same names.

    :ivar implementation: ``"torch"`` or ``"cuda"``.
    :ivar names: the kernels' names, each also the name of its torch reference.

    ``kernels["name"]`` is the compiled :class:`Kernel` where the implementation is ``cuda``; where it is
    ``torch`` there is none, and the caller runs its torch reference of the same name. ``bool(kernels)`` is
    whether the kernels run.
    """

    def __init__(self, implementation: str, names: Sequence[str], compiled: dict[str, Kernel] | None = None):
        self.implementation = implementation
        self.names = tuple(names)
        self._compiled = dict(compiled or {})

    @property
    def cuda(self) -> bool:
        return self.implementation == "cuda"

    def __bool__(self) -> bool:
        return self.cuda

    def __getitem__(self, name: str) -> Kernel:
        if name not in self.names:
            raise KeyError(f"no kernel {name!r} was loaded; loaded: {self.names}")
        if not self.cuda:
            raise KernelError(f"kernel {name!r} was not compiled: these kernels run as their torch references")
        return self._compiled[name]

    def as_dict(self) -> dict[str, Kernel] | None:
        """The compiled kernels by name, or None for the torch references (what ``optional_kernels`` returned)."""
        return dict(self._compiled) if self.cuda else None

    def __repr__(self) -> str:
        return f"Kernels({self.implementation!r}, {list(self.names)})"


def load_kernels(package: str, filename: str, names: Sequence[str], *, device, implementation: str = "auto",
                 references=None, options: Sequence[str] = DEFAULT_OPTIONS, what: str = "kernels") -> Kernels:
    """The one way for a package to ship CUDA kernels beside their torch references.

    The ``.cu`` file ``filename`` is package data of ``package``; each kernel in ``names`` has a torch
    function of the same name (in ``references``, a module or object, checked when given) that computes
    the same thing and stays the reference and the CPU path. Which of the two runs is chosen by
    :func:`choose_implementation`, the rule that chooses backends: a World passes its physics'
    implementation, so that a world whose physics is ``stop:torch`` runs no kernel.

    :param device: where the caller's tensors live.
    :param implementation: ``"auto"``, ``"torch"`` or ``"cuda"``.
    :raises KernelError: a kernel lacks its torch reference, or the source does not compile.
    """
    if references is not None:
        missing = [name for name in names if not callable(getattr(references, name, None))]
        if missing:
            raise KernelError(f"{package}/{filename}: kernels {missing} have no torch reference of the same name "
                              f"in {getattr(references, '__name__', references)!r}")
    chosen = choose_implementation(implementation, device, what)
    if chosen == "torch":
        return Kernels("torch", names)
    return Kernels("cuda", names, {name: kernel(package, filename, name, options) for name in names})


def _optional_kernels(backend: str, device, package: str, filename: str, names: Sequence[str],
                      what: str) -> dict[str, Kernel] | None:
    """Deprecated (``optional_kernels``): :func:`load_kernels`, whose ``.as_dict()`` is what this returns.

    The kernels ``names`` of ``package``/``filename`` for a module's ``backend`` option, or None for its torch
    path, chosen by :func:`choose_implementation`.
    """
    return load_kernels(package, filename, names, device=device, implementation=backend, what=what).as_dict()


_DEPRECATED = {
    "optional_kernels": (_optional_kernels, "load_kernels(package, filename, names, device=..., implementation=...), "
                                            "whose Kernels.as_dict() is what optional_kernels returned"),
    "BACKENDS": (IMPLEMENTATIONS, "IMPLEMENTATIONS"),
}


# warned where the old name is imported, not where it is called: a call may run inside a step being traced
__getattr__ = old_names(__name__, {name: (value, f"megastep_core.kernels.{name} is deprecated: use {instead}")
                                   for name, (value, instead) in _DEPRECATED.items()})
