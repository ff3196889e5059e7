"""Which envs share a layout: :func:`megastep_core.layouts.layout_index`, shared with the physics and spawners.

Both renderers use it: they bake once per layout and copy the result to every
env of the layout, and the CUDA renderer reads walls and texels only from one
*representative* env per layout, so that at many envs the data a frame touches
stays in the GPU's L2 cache.
"""
from megastep_core.layouts import LayoutIndex, layout_index

index_layouts = layout_index
"""The old name of :func:`megastep_core.layouts.layout_index`."""

__all__ = ["LayoutIndex", "index_layouts", "layout_index"]
