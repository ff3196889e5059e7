"""Compiling an env's own PyTorch code into few GPU kernels, with ``torch.compile``.

An env's task is a handful of tensor operations per step (wound the agents
that were hit, count the steps since new wall was seen, ...), each one a GPU
kernel. Replayed from a CUDA graph, each kernel in the step's chain costs a
launch's worth of time however little it does, so at a few thousand envs the
task's arithmetic, not the physics or the render, can set the pace
(:doc:`/explanations/performance` has the figures). :func:`compilable` marks a
function as pure PyTorch, and in an env step on a GPU it runs compiled by
``torch.compile`` (Inductor), which fuses its elementwise work into one or two
Triton kernels. The env stays written in PyTorch alone.

Where it runs compiled: inside :func:`compiling` blocks, which
:class:`~megastep_envs.step.env.Env` opens around its steps and resets when it
was made with ``compile=True`` (the default) on a GPU where Triton can run.
Everywhere else (on the CPU, in a user's own call, in tests) a compilable
function is the plain function.

A compilable function must be one graph to the compiler (``fullgraph=True``):
only tensor operations, no kernel of our own (CuPy), no read of a device value
on the host. Split a task's update at such calls, as Deathmatch does around its
spawner. A function the compiler cannot take whole runs as written, with a
warning that says why; so does every compilable function where compiling fails
(no C compiler for Triton's launcher, say). Compiled code may round differently
from eager code in the last bit of a float (fused multiply-adds), never in
integer or boolean results.

The first call of each compilable function at each new shape compiles it.
Shapes seen twice make the compiled code size-generic (``dynamic=None``), so
many envs of different sizes in one process compile each function at most twice.
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
def compiling(enabled: bool, backend: str = "inductor") -> Iterator[None]:
    """Runs the :func:`compilable` functions called in the block compiled (``enabled``) or as written.

    :param backend: the ``torch.compile`` backend; ``"eager"`` traces the functions without generating
        kernels, which tests use on the CPU to check that each one compiles as one graph.
    """
    token = _backend.set(backend if enabled else None)
    try:
        yield
    finally:
        _backend.reset(token)


def compilable(function: F) -> F:
    """Marks ``function`` (or method) as pure PyTorch, to be compiled into fused kernels in :func:`compiling` blocks.

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
    """Why :func:`compilable` functions cannot be compiled for ``device``, or None if they can."""
    if device.type != "cuda":
        return f"compiled kernels are for GPUs; the env is on {device.type}"
    try:
        from torch.utils._triton import has_triton
    except ImportError:
        return f"torch {torch.__version__} has no torch.compile for GPUs"
    if not has_triton():
        return "Triton, which torch.compile generates GPU kernels with, is not installed"
    return None
