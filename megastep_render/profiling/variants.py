"""Where the CUDA renderer's time goes: times variants of ``render.cu`` with parts cut out.

    python megastep_render/profiling/variants.py --layouts .bench/layouts.npz --envs 16384 65536

Each variant is the kernel source with one text substitution, compiled with
CuPy and swapped into a :class:`CudaRenderer`, timed by graph replay like
``megastep_render.bench``. The variants' outputs are wrong on purpose; only
their times mean something. Also times filling the outputs with torch (the
memory floor of writing a render).
"""
from __future__ import annotations

import argparse

from megastep_core.kernels import Kernel, _import_cupy, read_source
from megastep_render.bench import CONFIGS, place, read_layouts, time_frames
from megastep_render.cuda.renderer import OPTIONS, PACKAGE, SOURCE, CudaRenderer, empty_render

SHADE_CALL = "    shade_and_write("
# write only the index, where the full kernel would: the search stays, the shading goes
MINIMAL_WRITE = "    indices[pixel] = hit.id; if (0) shade_and_write("

VARIANTS = {
    "full": [],
    "no_shading": [(SHADE_CALL, MINIMAL_WRITE)],
}


def compile_variant(substitutions):
    source = read_source(PACKAGE, SOURCE)
    for old, new in substitutions:
        if old not in source:
            raise SystemExit(f"substitution target not found: {old!r}")
        source = source.replace(old, new)
    options = OPTIONS
    module = _import_cupy().RawModule(code=source, options=options)
    module.compile()
    return {name: Kernel(module.get_function(name), name) for name in ("render_grid", "light_bodies")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layouts", required=True)
    parser.add_argument("--envs", nargs="+", type=int, default=[16384])
    parser.add_argument("--configs", nargs="+", default=["explorer", "deathmatch"])
    args = parser.parse_args()
    layouts = read_layouts(args.layouts)
    compiled = {name: compile_variant(subs) for name, subs in VARIANTS.items()}
    for config in args.configs:
        n_agents, camera = CONFIGS[config]
        for n_envs in args.envs:
            scenery, agents = place(layouts, n_envs, n_agents, "cuda")
            out = empty_render(n_envs, n_agents, 1, camera.pixels, "cuda")
            outputs = [out.indices, out.locations, out.dots, out.distances, out.screen]
            fill = time_frames(lambda outputs=outputs: [t.fill_(1) for t in outputs], agents, 5, 30)
            print(f"{config:10s} {n_envs:6d}  writing the outputs with torch fill_: {fill:.3f} ms", flush=True)
            renderer = CudaRenderer()
            renderer.bake(scenery)
            for name, kernels in compiled.items():
                renderer.kernels.update(kernels)
                replay = renderer.capture(scenery, agents, [camera])
                ms = time_frames(replay, agents, 5, 30)
                print(f"{config:10s} {n_envs:6d} {name:12s} {ms:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
