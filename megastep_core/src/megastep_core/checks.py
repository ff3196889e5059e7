"""Small checks every package needs once: devices that are the same, positive numbers, waiting for a device."""
from __future__ import annotations

import math

import torch


def same_device(one, two) -> bool:
    """Whether two devices are the same, reading ``cuda`` as the current CUDA device, as torch does (device 0
    where no GPU is visible)."""
    one, two = torch.device(one), torch.device(two)
    if one.type != two.type:
        return False
    if one.type == "cuda":
        current = torch.cuda.current_device() if torch.cuda.is_available() else 0
        return (current if one.index is None else one.index) == (current if two.index is None else two.index)
    return one.index is None or two.index is None or one.index == two.index


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
