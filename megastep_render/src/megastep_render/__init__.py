"""megastep's renderers, two implementations of ``raycast``: ``raycast:torch`` (the reference) and
``raycast:cuda`` (CuPy kernels); ``raycast`` or ``auto`` chooses by device.

Both bake static light onto wall texels once per layout, cast one ray per
pixel to the nearest line beyond the near plane, and shade the hit.
"""
from .renderer import TorchRenderer

__version__ = "0.1.0"

__all__ = ["TorchRenderer"]
