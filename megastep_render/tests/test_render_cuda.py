"""The ``cuda`` renderer against the torch reference, on a GPU; and its plugin everywhere."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from render_scenes import assert_renders_match, bench_homes, box, room, scene

from megastep_core import Camera, get_plugin_manager, make_backend
from megastep_core.kernels import cupy_unavailable_reason
from megastep_render import TorchRenderer

EXPLORER = [Camera(pixels=256, fov=130)]
DEATHMATCH = [Camera(pixels=512, fov=70)]
TWO_CAMERAS = [Camera(pixels=96, fov=100), Camera(pixels=96, fov=60, offset=180)]


def test_the_cuda_plugin_imports_without_cupy_and_says_why_it_is_unavailable():
    import megastep_render.cuda.plugin as plugin

    (info,) = plugin.megastep_backends()
    assert (info.kind, info.name, info.replaces) == ("renderer", "raycast:cuda", ("cuda",))
    assert info.unavailable == cupy_unavailable_reason()
    listed = {(name, i.kind, i.name): i for name, i in get_plugin_manager().backends("renderer")}
    assert ("render", "renderer", "raycast:torch") in listed
    assert listed[("cuda_render", "renderer", "raycast:cuda")].unavailable == info.unavailable
    if info.unavailable is not None:
        from megastep_core import BackendUnavailableError

        with pytest.raises(BackendUnavailableError, match="cuda"):
            make_backend("renderer", "raycast:cuda")


def test_megastep_renderer_hook_makes_each_backend_by_name_only():
    import megastep_render.plugin as plugin

    made = plugin.megastep_renderer(name="raycast:torch", options={"device": torch.device("cpu")})
    assert isinstance(made, TorchRenderer)
    assert plugin.megastep_renderer(name="other", options={}) is None
    from megastep_render.cuda import plugin as cuda_plugin

    assert cuda_plugin.megastep_renderer(name="raycast:torch", options={}) is None


def test_the_kernels_compile_with_nvrtc():
    cupy = pytest.importorskip("cupy")
    from megastep_core.kernels import read_source
    from megastep_render.cuda import renderer

    if cupy_unavailable_reason() is None:
        kernels = renderer.compile_kernels()
        assert set(kernels) == set(renderer.KERNELS)
        return
    # CuPy but no GPU: NVRTC still compiles, for a named architecture
    source = read_source(renderer.PACKAGE, renderer.SOURCE)
    try:
        ptx = cupy.cuda.compiler.compile_using_nvrtc(source, options=renderer.OPTIONS, arch="compute_80")
    except (OSError, RuntimeError) as error:
        pytest.skip(f"NVRTC is not usable here: {error}")
    for name in renderer.KERNELS:
        assert name.encode() in (ptx if isinstance(ptx, bytes) else ptx.encode())


def random_rooms(count, seed):
    """Boxes with random walls and lights inside, to test beyond the homes."""
    generator = np.random.default_rng(seed)
    rooms = []
    for _ in range(count):
        inner = generator.uniform([0.3, 0.3, 0.3, 0.3], [5.7, 3.7, 5.7, 3.7], (generator.integers(1, 30), 4))
        lights = np.c_[generator.uniform([0.5, 0.5], [5.5, 3.5], (3, 2)), generator.uniform(0.2, 2, 3)]
        rooms.append(box(6.0, 4.0, lights=lights, extra=inner))
    return rooms


def cuda_scene(geometries, n_agents, seed, **placement):
    """The same scene on the CPU (for the reference) and on CUDA."""
    return scene(geometries, n_agents, "cpu", seed, **placement), scene(geometries, n_agents, "cuda", seed, **placement)


def to_cpu(render):
    return type(render)(*(t.cpu() for t in (render.indices, render.locations, render.dots, render.distances,
                                           render.screen)))


@pytest.mark.gpu
def test_baking_matches_the_reference_bit_for_bit():
    homes = bench_homes(6)
    geometries = homes + [homes[2], homes[0]] + random_rooms(4, seed=1)
    (cpu, _), (gpu, _) = cuda_scene(geometries, 2, seed=0)
    TorchRenderer().bake(cpu)
    gpu.baked.vals.fill_(float("nan"))  # poison: every texel must be written
    make_backend("renderer", "raycast:cuda", device=torch.device("cuda")).bake(gpu)
    assert torch.equal(gpu.baked.vals.cpu(), cpu.baked.vals)


def poisoned(scenery, cameras):
    from megastep_render.cuda.renderer import empty_render

    out = empty_render(scenery.n_envs, scenery.n_agents, len(cameras), cameras[0].pixels, scenery.device)
    out.indices.fill_(-7)
    for t in (out.locations, out.dots, out.distances, out.screen):
        t.fill_(float("nan"))
    return out


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["grid"])
@pytest.mark.parametrize("n_agents, cameras", [(1, EXPLORER), (4, DEATHMATCH), (3, TWO_CAMERAS)])
@pytest.mark.parametrize("seed", [0, 1])
def test_rendering_matches_the_reference_in_homes_and_random_rooms(method, n_agents, cameras, seed):
    homes = bench_homes()
    generator = np.random.default_rng(seed)
    geometries = [homes[i] for i in generator.choice(len(homes), 24)] + random_rooms(8, seed)
    (cpu, cpu_agents), (gpu, gpu_agents) = cuda_scene(geometries, n_agents, seed)
    reference = TorchRenderer()
    reference.bake(cpu)
    renderer = make_backend("renderer", "raycast:cuda", device=torch.device("cuda"), method=method)
    renderer.bake(gpu)
    out = poisoned(gpu, cameras)
    renderer.render_into(out, gpu, gpu_agents, cameras)
    torch.cuda.synchronize()
    assert (out.indices != -7).all()
    expected = reference.render(cpu, cpu_agents, cameras)
    assert_renders_match(to_cpu(out), expected)
    # and the torch renderer on the GPU agrees with itself on the CPU
    assert_renders_match(to_cpu(TorchRenderer().render(gpu, gpu_agents, cameras)), expected)


@pytest.mark.gpu
@pytest.mark.parametrize("cell_size", [0.2, 1.3])
def test_any_cell_size_gives_the_same_hits(cell_size):
    (cpu, cpu_agents), (gpu, gpu_agents) = cuda_scene(bench_homes(8), 2, seed=3)
    reference = TorchRenderer()
    reference.bake(cpu)
    renderer = make_backend("renderer", "raycast:cuda", device=torch.device("cuda"), cell_size=cell_size)
    renderer.bake(gpu)
    assert_renders_match(to_cpu(renderer.render(gpu, gpu_agents, TWO_CAMERAS)),
                         reference.render(cpu, cpu_agents, TWO_CAMERAS))


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["grid"])
def test_a_captured_graph_follows_the_agents(method):
    from megastep_core import draw_bodies

    scenery, agents = scene(bench_homes(4), 2, "cuda", seed=4)
    renderer = make_backend("renderer", "raycast:cuda", device=torch.device("cuda"), method=method)
    renderer.bake(scenery)
    replay = renderer.capture(scenery, agents, TWO_CAMERAS)
    for step in range(3):
        agents.angles.add_(17.0)
        agents.positions.add_(0.01)
        draw_bodies(scenery, agents)
        graphed = replay()
        eager = renderer.render(scenery, agents, TWO_CAMERAS)
        for field in ("indices", "distances", "screen"):
            assert torch.equal(getattr(graphed, field), getattr(eager, field)), (step, field)


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["grid"])
@pytest.mark.parametrize("n_agents", [1, 4])
def test_a_masked_render_redraws_only_the_masked_envs(method, n_agents):
    from megastep_core import draw_bodies

    scenery, agents = scene(bench_homes(4), n_agents, "cuda", seed=5)
    renderer = make_backend("renderer", "raycast:cuda", device=torch.device("cuda"), method=method)
    renderer.bake(scenery)
    out = renderer.render(scenery, agents, TWO_CAMERAS)
    before = to_cpu(out)
    agents.angles.add_(23.0)
    agents.positions.add_(0.02)
    draw_bodies(scenery, agents)
    mask = torch.tensor([True, False, False, True], device="cuda")
    renderer.render_into(out, scenery, agents, TWO_CAMERAS, mask)
    expected = renderer.render(scenery, agents, TWO_CAMERAS)
    for field in ("indices", "locations", "dots", "distances", "screen"):
        got, old, new = getattr(out, field), getattr(before, field), getattr(expected, field)
        assert torch.equal(got[mask], new[mask]), field
        assert torch.equal(got[~mask].cpu(), old[~mask.cpu()]), field
    with pytest.raises(ValueError, match="mask must be"):
        renderer.render_into(out, scenery, agents, TWO_CAMERAS, mask[:2])


@pytest.mark.gpu
def test_the_torch_renderer_stays_within_memory_for_4096_envs_of_400_lines():
    homes = [h for h in bench_homes() if len(h.walls) > 300]
    walls = np.concatenate([homes[0].walls, homes[1].walls[:400 - len(homes[0].walls)] + 30.0])
    lights = homes[0].lights
    big = room(walls.reshape(-1, 4), lights)
    big.spawns = homes[0].spawns
    scenery, agents = scene([big] * 4096, 1, "cuda", seed=5)
    assert int(scenery.lines.widths[0]) >= 400
    renderer = TorchRenderer()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = renderer.render(scenery, agents, EXPLORER)
    torch.cuda.synchronize()
    used = torch.cuda.max_memory_allocated() - before
    every_pair = 4096 * 256 * int(scenery.lines.widths[0]) * 4  # one float32 per (ray, line)
    assert used < every_pair / 2, f"{used / 2**20:.0f} MiB"
    assert (out.indices >= 0).float().mean() > 0.9


@pytest.mark.gpu
def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="method"):
        make_backend("renderer", "raycast:cuda", device=torch.device("cuda"), method="bvh")
    with pytest.raises(ValueError, match="cell_size"):
        make_backend("renderer", "raycast:cuda", device=torch.device("cuda"), cell_size=0)
    scenery, agents = scene([box()], 1, "cpu")
    renderer = make_backend("renderer", "raycast:cuda", device=torch.device("cuda"))
    with pytest.raises(ValueError, match="CUDA"):
        renderer.bake(scenery)
