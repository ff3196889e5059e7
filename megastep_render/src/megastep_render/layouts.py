"""Which envs share a layout, and where each env's lines and texels start.

Envs built from the same geometry (equal ``scenery.geometry_ids``) have equal
static walls, lights, textures and baked light. Both renderers use that: they
bake once per layout and copy the result to every env of the layout, and the
CUDA renderer reads walls and texels only from one *representative* env per
layout, so that at 65,536 envs the data a frame touches is a few megabytes
that stay in the GPU's L2 cache instead of gigabytes.
"""
from __future__ import annotations

import attrs
import torch

from megastep_core import Scenery


@attrs.define(eq=False)
class LayoutIndex:
    """How the envs of one scenery map onto their ``G`` distinct layouts.

    :ivar env_layout: ``(E,)`` int64, each env's layout slot in ``[0, G)``.
    :ivar representatives: ``(G,)`` int64, the first env of each layout.
    :ivar line_starts: ``(E,)`` int64, each env's first line in ``scenery.lines.vals``.
    :ivar env_texel_starts: ``(E,)`` int64, each env's first texel in ``scenery.textures.vals``.
    """

    env_layout: torch.Tensor
    representatives: torch.Tensor
    line_starts: torch.Tensor
    env_texel_starts: torch.Tensor

    @property
    def n_layouts(self) -> int:
        return len(self.representatives)


def index_layouts(scenery: Scenery) -> LayoutIndex:
    """Groups the envs of ``scenery`` by ``geometry_ids``."""
    ids = scenery.geometry_ids
    _, env_layout = torch.unique(ids, return_inverse=True)
    n_layouts = int(env_layout.max()) + 1
    envs = torch.arange(len(ids), device=ids.device)
    representatives = torch.full((n_layouts,), len(ids), dtype=torch.int64, device=ids.device)
    representatives.scatter_reduce_(0, env_layout, envs, reduce="amin")
    line_starts = scenery.lines.widths.cumsum(0) - scenery.lines.widths
    # texel starts of the env's first lines only: a cumsum over every line's
    # texel count is a temporary, not a cached (sum L_e,) index
    texel_widths = scenery.textures.widths
    line_texel_starts = texel_widths.cumsum(0) - texel_widths
    env_texel_starts = line_texel_starts[line_starts.clamp(max=max(len(texel_widths) - 1, 0))]
    return LayoutIndex(env_layout, representatives, line_starts, env_texel_starts)
