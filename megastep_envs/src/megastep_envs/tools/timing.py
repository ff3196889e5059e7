"""Timing a step on any device: seconds per call with the GPU synchronised, and capturing a step in a CUDA graph.

What ``megastep bench`` times with; the env runtime imports nothing from here.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch

from megastep_core.checks import synchronize


def capture(step: Callable[[], object], device: torch.device, warmup: int = 3) -> Callable[[], None] | None:
    """``step`` captured in a CUDA graph, as a function that replays it; None if it cannot be captured.

    A step whose backends never wait on the GPU from the host (the ``cuda``
    backends) captures: replaying it costs one launch instead of dozens, which
    is what keeps small batches from being bound by launch overhead. A step
    that synchronises (a host read of a device value) cannot, and runs
    eagerly. That is found out before capturing, with torch's sync debug
    mode, because a capture that fails half-way can leave the CUDA context
    unusable.
    """
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
        for _ in range(warmup):
            step()
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
        try:
            step()
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[0]
            print(f"megastep bench: running eagerly, the step cannot be captured in a CUDA graph: {reason}",
                  file=sys.stderr)
            return None
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.synchronize(device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=side):
        step()
    return graph.replay


def time_step(step: Callable[[], object], device: torch.device, warmup: int = 3, seconds: float = 1.0,
              max_steps: int = 2000) -> float:
    """Seconds per call of ``step``: ``warmup`` untimed calls, then enough timed calls to fill about ``seconds``."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    step()
    synchronize(device)
    once = time.perf_counter() - start
    count = int(min(max(seconds / max(once, 1e-9), 3), max_steps))
    start = time.perf_counter()
    for _ in range(count):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / count
