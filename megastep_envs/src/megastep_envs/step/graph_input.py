"""Pointing a kernel captured in a CUDA graph at a new input tensor before each replay, without a copy.

A replayed graph reads its input from the address it was captured with, so
the usual way in is a copy into that tensor before each replay: one more
kernel on the GPU, and the gap after it before the graph's first kernel
starts (a noticeable share of a small step: :doc:`/explanations/performance`).
When the graph's first reader of the input is one of our own
kernels (the env's action check), CUDA can instead change that kernel's
arguments in the instantiated graph (``cuGraphExecKernelNodeSetParams``): a
host call of a few microseconds, and the replay reads the caller's tensor
where it lies. This module finds the kernel's node in the graph and rewrites
one pointer argument, through the CUDA driver's C API (ctypes: torch and CuPy
do not wrap graph nodes).

The tensor must stay valid until the replay has read it, which the CUDA
caching allocator guarantees for a tensor used on the replay's stream, as it
does for any kernel's input.
"""
from __future__ import annotations

import ctypes
import functools

import torch

KERNEL_NODE = 0
"""``CU_GRAPH_NODE_TYPE_KERNEL``."""


class _KernelNodeParams(ctypes.Structure):
    """``CUDA_KERNEL_NODE_PARAMS_v2`` of the CUDA driver API."""

    _fields_ = [
        ("func", ctypes.c_void_p),
        ("grid", ctypes.c_uint * 3),
        ("block", ctypes.c_uint * 3),
        ("shared_mem_bytes", ctypes.c_uint),
        ("kernel_params", ctypes.POINTER(ctypes.c_void_p)),
        ("extra", ctypes.POINTER(ctypes.c_void_p)),
        ("kern", ctypes.c_void_p),
        ("ctx", ctypes.c_void_p),
    ]


@functools.cache
def _driver():
    """The CUDA driver library, or None where it cannot be loaded (or lacks the graph calls used here)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
        for name in ("cuGraphGetNodes", "cuGraphNodeGetType", "cuGraphKernelNodeGetParams_v2",
                     "cuGraphExecKernelNodeSetParams_v2"):
            getattr(driver, name).restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return driver


class GraphInput:
    """Argument ``argument`` (a pointer) of the one node of ``kernel`` in an instantiated graph, re-pointed by
    :meth:`point` before each replay.

    :param graph: a ``torch.cuda.CUDAGraph`` captured with ``keep_graph=True`` and instantiated.
    :param kernel: a :class:`megastep_core.kernels.Kernel` launched exactly once in the capture.
    :raises RuntimeError: the driver or the node cannot be found (callers then copy into the captured input).
    """

    def __init__(self, graph: torch.cuda.CUDAGraph, kernel, argument: int = 0):
        driver = _driver()
        if driver is None:
            raise RuntimeError("the CUDA driver library (libcuda.so.1) cannot be loaded")
        function = kernel.function.kernel.ptr  # the CUfunction the capture launched
        handle = ctypes.c_void_p(graph.raw_cuda_graph())
        count = ctypes.c_size_t(0)
        self._check(driver.cuGraphGetNodes(handle, None, ctypes.byref(count)), "cuGraphGetNodes")
        nodes = (ctypes.c_void_p * count.value)()
        self._check(driver.cuGraphGetNodes(handle, nodes, ctypes.byref(count)), "cuGraphGetNodes")
        found = []
        for node in nodes:
            kind = ctypes.c_int(-1)
            self._check(driver.cuGraphNodeGetType(ctypes.c_void_p(node), ctypes.byref(kind)), "cuGraphNodeGetType")
            if kind.value != KERNEL_NODE:
                continue
            params = _KernelNodeParams()
            self._check(driver.cuGraphKernelNodeGetParams_v2(ctypes.c_void_p(node), ctypes.byref(params)),
                        "cuGraphKernelNodeGetParams")
            if params.func == function:
                found.append((node, params))
        if len(found) != 1:
            raise RuntimeError(f"the graph launches kernel {kernel.name} {len(found)} times, not once")
        self._driver = driver
        self._exec = ctypes.c_void_p(graph.raw_cuda_graph_exec())
        self._node = ctypes.c_void_p(found[0][0])
        self._params = found[0][1]
        n_arguments = len(kernel.writes)
        # the node's own argument values (owned by the kept graph), but for `argument`, which points at ours
        self._pointer = ctypes.c_uint64(0)
        self._arguments = (ctypes.c_void_p * n_arguments)(*self._params.kernel_params[:n_arguments])
        self._arguments[argument] = ctypes.addressof(self._pointer)
        self._params.kernel_params = ctypes.cast(self._arguments, ctypes.POINTER(ctypes.c_void_p))

    @staticmethod
    def _check(status: int, call: str) -> None:
        if status != 0:
            raise RuntimeError(f"{call} failed with CUDA driver error {status}")

    def point(self, tensor: torch.Tensor) -> None:
        """The next replays read ``tensor`` (contiguous, of the captured input's dtype and size) as the argument."""
        self._pointer.value = tensor.data_ptr()
        status = self._driver.cuGraphExecKernelNodeSetParams_v2(self._exec, self._node, ctypes.byref(self._params))
        self._check(status, "cuGraphExecKernelNodeSetParams")
