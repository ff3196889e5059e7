"""Small checks every package needs once: devices that are the same, positive numbers, waiting for a device."""
from __future__ import annotations

import math

import torch


def same_device(a, b) -> bool:
    """Whether two devices are the same, taking ``cuda`` to mean the current CUDA device."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)


def positive(name: str, value, unit: str = "metres") -> float:
    """``value`` as a float, or a ValueError naming ``name`` where it is not a finite positive number."""
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive number of {unit}, got {value}")
    return number


def synchronize(device) -> None:
    """Waits for the work queued on ``device`` (nothing to wait for on the CPU); for timing, never in a step."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
