"""``physics.cu`` compiled as plain C++ for the CPU (with ``host_shim.h``), to check the kernels
against the torch reference on machines without a GPU. The ``gpu`` tests check the real thing.
"""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
KERNEL = re.compile(r'extern "C" __global__ void (\w+)\((.*?)\)\s*\{', re.S)


def launchers(source: str) -> str:
    """C++ functions ``launch_NAME(grid, block, ...)`` that run each kernel of ``source`` on the CPU."""
    out = []
    for name, parameters in KERNEL.findall(source):
        parameters = " ".join(parameters.split())
        names = [p.split()[-1].lstrip("*") for p in parameters.split(",")]
        out.append(
            f'extern "C" void launch_{name}(unsigned int grid, unsigned int block, {parameters}) {{\n'
            f'    launch(grid, block, [&] {{ {name}({", ".join(names)}); }});\n}}\n'
        )
    return "\n".join(out)


def build(folder: Path) -> ctypes.CDLL | str:
    """The compiled library, or why it could not be built."""
    compiler = shutil.which("g++")
    if compiler is None:
        return "needs g++ to compile the kernels for the CPU"
    source = resources.files("megastep_physics.cuda").joinpath("physics.cu").read_text()
    program = folder / "physics_host.cpp"
    program.write_text(f'#include "{HERE / "host_shim.h"}"\n{source}\n{launchers(source)}')
    library = folder / "physics_host.so"
    command = [compiler, "-std=c++20", "-O1", "-ffp-contract=off", "-fPIC", "-shared", "-pthread", str(program),
               "-o", str(library)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        if "barrier" in result.stderr and "No such file" in result.stderr:
            return "this g++ lacks C++20's <barrier>"
        raise AssertionError(result.stderr)
    return ctypes.CDLL(str(library))


class HostKernel:
    """Runs a kernel of the host library, called like ``megastep_core.kernels.Kernel``."""

    SHARED_FLOATS = 1 << 16  # the size of `memory` in host_shim.h

    def __init__(self, library: ctypes.CDLL, name: str):
        self.function = getattr(library, f"launch_{name}")
        self.function.restype = None
        self.shared = np.ctypeslib.as_array((ctypes.c_float * self.SHARED_FLOATS).in_dll(library, "memory"))

    @staticmethod
    def _argument(value):
        if isinstance(value, torch.Tensor):
            assert value.is_contiguous() and value.device.type == "cpu"
            return ctypes.c_void_p(value.data_ptr())
        if isinstance(value, np.uint64):
            return ctypes.c_void_p(int(value) or None)
        if isinstance(value, (bool, int)):
            return ctypes.c_int(int(value))
        if isinstance(value, float):
            return ctypes.c_float(value)
        raise TypeError(f"no host conversion for {type(value).__name__}")

    def __call__(self, grid, block, *args, shared_mem=0):
        """Launches; fails if the kernel wrote shared memory beyond the ``shared_mem`` bytes asked for."""
        assert shared_mem % 4 == 0 and shared_mem <= 4 * self.SHARED_FLOATS, "more shared memory than the shim holds"
        beyond = self.shared[shared_mem // 4 :]
        beyond[:] = -12345.0
        self.function(ctypes.c_uint(int(grid)), ctypes.c_uint(int(block)), *(self._argument(a) for a in args))
        assert (beyond == -12345.0).all(), f"the kernel wrote shared memory beyond the {shared_mem} bytes it was given"
