"""Renders a few frames with each method, for a profiler to look at:

    ncu -k regex:render_ python megastep_render/profiling/one_frame.py --layouts .bench/layouts.npz
"""
from __future__ import annotations

import argparse

import torch

from megastep_render.bench import CONFIGS, place, read_layouts
from megastep_render.cuda.renderer import CudaRenderer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layouts", required=True)
    parser.add_argument("--envs", type=int, default=16384)
    parser.add_argument("--config", default="explorer", choices=list(CONFIGS))
    parser.add_argument("--frames", type=int, default=2)
    args = parser.parse_args()
    n_agents, camera = CONFIGS[args.config]
    scenery, agents = place(read_layouts(args.layouts), args.envs, n_agents, "cuda")
    renderer = CudaRenderer()
    renderer.bake(scenery)
    for _ in range(args.frames):
        renderer.render(scenery, agents, [camera])
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
