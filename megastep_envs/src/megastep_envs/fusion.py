"""Fusing an env's own PyTorch code into few GPU kernels, with ``torch.compile``.

An env's task is a handful of tensor operations per step (wound the agents
that were hit, count the steps since new wall was seen, ...), each one a GPU
kernel. Replayed from a CUDA graph, each kernel in the step's chain costs
about 1.2-2.5 µs however little it does, so at a few thousand envs the task's
arithmetic, not the physics or the render, can set the pace: Deathmatch's
wounds were 30 kernels, 18 µs a step. :func:`fused` marks a function as pure
PyTorch, and in an env step on a GPU it runs compiled by ``torch.compile``
(Inductor), which fuses its elementwise work into one or two Triton kernels
(1.3 µs for those wounds, on an H100). The env stays written in PyTorch alone.

Where it runs compiled: inside :func:`fusion` blocks, which
:class:`~megastep_envs.base.Env` opens around its steps and resets when it
was made with ``compile=True`` (the default) on a GPU where Triton can run.
Everywhere else (on the CPU, in a user's own call, in tests) a fused function
is the plain function.

A fused function must be one graph to the compiler (``fullgraph=True``): only
tensor operations, no kernel of our own (CuPy), no read of a device value on
the host. Split a task's update at such calls, as Deathmatch does around its
spawner. A function the compiler cannot take whole runs as written, with a
warning that says why; so does every fused function where compiling fails (no
C compiler for Triton's launcher, say). Compiled code may round differently
from eager code in the last bit of a float (fused multiply-adds), never in
integer or boolean results.

The first call of each fused function at each new shape compiles it: about
1-3 s on a fresh process, less once Inductor's on-disk cache holds it. Shapes
seen twice make the compiled code size-generic (``dynamic=None``), so many
envs of different sizes in one process compile each function at most twice.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])

_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar("megastep_fusion_backend", default=None)


@contextlib.contextmanager
def fusion(enabled: bool, backend: str = "inductor") -> Iterator[None]:
    """Runs the :func:`fused` functions called in the block compiled (``enabled``) or as written.

    :param backend: the ``torch.compile`` backend; ``"eager"`` traces the functions without generating
        kernels, which tests use on the CPU to check that each one compiles as one graph.
    """
    token = _backend.set(backend if enabled else None)
    try:
        yield
    finally:
        _backend.reset(token)


def fused(function: F) -> F:
    """Marks ``function`` (or method) as pure PyTorch, to be compiled into fused kernels in :func:`fusion` blocks.

    The plain function stays reachable as ``.eager``.
    """
    compiled: dict[str, Callable[..., Any]] = {}
    failed: set[str] = set()

    @functools.wraps(function)
    def call(*args, **kwargs):
        backend = _backend.get()
        if backend is None or backend in failed:
            return function(*args, **kwargs)
        if backend not in compiled:
            compiled[backend] = torch.compile(function, fullgraph=True, backend=backend)
        try:
            return compiled[backend](*args, **kwargs)
        except Exception as error:
            result = function(*args, **kwargs)  # an error of the function itself raises again here
            failed.add(backend)  # the compiler's, then: it is not asked again
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            warnings.warn(f"megastep: {function.__qualname__} runs uncompiled, torch.compile failed: {first}",
                          stacklevel=2)
            return result

    call.eager = function
    return call  # type: ignore[return-value]


def unavailable(device: torch.device) -> str | None:
    """Why :func:`fused` functions cannot be compiled for ``device``, or None if they can."""
    if device.type != "cuda":
        return f"compiled kernels are for GPUs; the env is on {device.type}"
    try:
        from torch.utils._triton import has_triton
    except ImportError:
        return f"torch {torch.__version__} has no torch.compile for GPUs"
    if not has_triton():
        return "Triton, which torch.compile generates GPU kernels with, is not installed"
    return None
