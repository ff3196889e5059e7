"""megastep's CUDA kernels compiled as plain C++ and run on the CPU, for tests without a GPU.

A package's ``.cu`` file is compiled with g++ against ``host_shim.h`` (shipped
with this package), which defines what the kernels use of CUDA: thread and
block indices, ``__syncthreads``, shared memory, atomics, warp shuffles. Each
block runs with one thread per CUDA thread, so the kernels' logic, including
their synchronisation, is exercised as on a GPU (slowly). A
:class:`HostKernel` is called like :class:`megastep_core.kernels.Kernel`, so a
backend's own launch code runs unchanged on CPU tensors. The ``gpu`` tests
check the real thing; these catch mistakes in the kernels' logic in CI.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .kernels import expand_headers, kernel_signatures, read_source

SHARED_WORDS = 1 << 16
"""Four-byte words of dynamic shared memory the shim gives a block (``shared`` and ``memory``)."""


def launchers(source: str) -> str:
    """C++ functions ``launch_NAME(grid, block, ...)`` that run each kernel of ``source`` on the CPU."""
    out = []
    for name, parameters in kernel_signatures(source):
        names = [p.split()[-1].lstrip("*") for p in parameters.split(",")]
        out.append(
            f'extern "C" void launch_{name}(unsigned int grid, unsigned int block, {parameters}) {{\n'
            f'    launch(grid, block, [&] {{ {name}({", ".join(names)}); }});\n}}\n'
        )
    return "\n".join(out)


def build(package: str, filename: str, folder: Path, source: str | None = None) -> ctypes.CDLL | str:
    """``filename`` of ``package`` compiled for the CPU into ``folder``: the library, or why it cannot be built.
    ``source`` stands in for the file's text, for a test's own kernels.

    :raises AssertionError: the source does not compile (with the compiler's messages).
    """
    compiler = shutil.which("g++")
    if compiler is None:
        return "needs g++ to compile the kernels for the CPU"
    source = read_source(package, filename) if source is None else expand_headers(source)
    shim = resources.files("megastep_core").joinpath("host_shim.h")
    stem = Path(filename).stem
    program = Path(folder) / f"{stem}_host.cpp"
    program.write_text(f'#include "{shim}"\n{source}\n{launchers(source)}')
    library = Path(folder) / f"{stem}_host.so"
    command = [compiler, "-std=c++20", "-O1", "-ffp-contract=off", "-fPIC", "-shared", "-pthread", str(program),
               "-o", str(library)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        if "barrier" in result.stderr and "No such file" in result.stderr:
            return "this g++ lacks C++20's <barrier>"
        raise AssertionError(result.stderr)
    return ctypes.CDLL(str(library))


def library_or_skip(package: str, filename: str, folder: Path, source: str | None = None) -> ctypes.CDLL:
    """As :func:`build`, for a pytest fixture: skips the test where the library cannot be built."""
    import pytest

    built = build(package, filename, folder, source)
    if isinstance(built, str):
        pytest.skip(built)
    return built


class HostKernel:
    """Runs kernel ``name`` of a library from :func:`build`, called like :class:`megastep_core.kernels.Kernel`.

    Each launch also checks that the kernel wrote no shared memory beyond the
    ``shared_mem`` bytes it was given.
    """

    def __init__(self, library: ctypes.CDLL, name: str):
        self.function = getattr(library, f"launch_{name}")
        self.function.restype = None
        self.shared = [np.ctypeslib.as_array((ctypes.c_uint32 * SHARED_WORDS).in_dll(library, array))
                       for array in ("shared", "memory")]

    def resident_blocks(self, block: int, shared_mem: int = 0) -> int:
        """As :meth:`megastep_core.kernels.Kernel.resident_blocks`: the host runs one block at a time."""
        return 1

    @staticmethod
    def _argument(value):
        if isinstance(value, torch.Tensor):
            assert value.is_contiguous() and value.device.type == "cpu"
            return ctypes.c_void_p(value.data_ptr())
        if isinstance(value, np.uint64):  # a device address, as the backends pass one: 0 is a null pointer
            return ctypes.c_void_p(int(value) or None)
        if isinstance(value, np.uint32):  # an unsigned int parameter, as a key
            return ctypes.c_uint32(int(value))
        if isinstance(value, (bool, int)):
            return ctypes.c_int(int(value))
        if isinstance(value, float):
            return ctypes.c_float(value)
        raise TypeError(f"no host conversion for {type(value).__name__}")

    def __call__(self, grid, block, *args, shared_mem: int = 0) -> None:
        assert shared_mem % 4 == 0 and shared_mem <= 4 * SHARED_WORDS, "more shared memory than the shim holds"
        beyond = [words[shared_mem // 4 :] for words in self.shared]
        for words in beyond:
            words[:] = 0xDEADBEEF
        self.function(ctypes.c_uint(int(grid)), ctypes.c_uint(int(block)), *(self._argument(a) for a in args))
        for words in beyond:
            assert (words == 0xDEADBEEF).all(), f"the kernel wrote shared memory beyond the {shared_mem} bytes given"
