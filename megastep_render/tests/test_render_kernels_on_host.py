"""The CUDA kernels' logic, checked on the CPU: ``render.cu`` compiled as plain C++
(:mod:`megastep_core.host_kernels`), against the torch reference.

This catches mistakes in the kernels on machines without a GPU; the ``gpu``
tests check the real thing.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from render_scenes import assert_renders_match, bench_homes, box, scene

import megastep_render.cuda.renderer as cuda_renderer
from megastep_core import Camera
from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_render import TorchRenderer


@pytest.fixture(scope="module")
def host_library(tmp_path_factory):
    return library_or_skip("megastep_render.cuda", "render.cu", tmp_path_factory.mktemp("kernels"))


@pytest.fixture
def make_renderer(host_library, monkeypatch):
    """Makes CudaRenderers whose kernels run on the CPU."""
    monkeypatch.setattr(cuda_renderer, "cupy_unavailable_reason", lambda: None)
    monkeypatch.setattr(
        cuda_renderer, "compile_kernels", lambda: {n: HostKernel(host_library, n) for n in cuda_renderer.KERNELS}
    )
    monkeypatch.setattr(cuda_renderer.CudaRenderer, "_check", lambda self, scenery: None)
    return lambda method="auto": cuda_renderer.CudaRenderer(cell_size=0.5, method=method)


@pytest.fixture(params=["grid"])
def host_renderer(make_renderer, request):
    return make_renderer(request.param)


def test_baking_matches_the_reference_bit_for_bit(make_renderer):
    host_renderer = make_renderer()
    homes = bench_homes(2)
    scenery, _ = scene([homes[1], homes[0], homes[1]])
    expected, _ = scene([homes[1], homes[0], homes[1]])
    scenery.baked.vals.fill_(float("nan"))  # poison: every texel must be written
    host_renderer.bake(scenery)
    TorchRenderer().bake(expected)
    assert torch.equal(scenery.baked.vals, expected.baked.vals)


@pytest.mark.parametrize("n_agents", [1, 3])
def test_rendering_matches_the_reference(host_renderer, n_agents):
    homes = bench_homes(3)
    cameras = [Camera(pixels=24, fov=70), Camera(pixels=24, fov=130, offset=180)]
    scenery, agents = scene(homes, n_agents=n_agents, seed=7)
    reference = TorchRenderer()
    reference.bake(scenery)
    host_renderer.render(scenery, agents, cameras)  # builds the tables from the reference's baked light
    out = host_renderer.render(scenery, agents, cameras)
    assert_renders_match(out, reference.render(scenery, agents, cameras))


FIELDS = ("indices", "locations", "dots", "distances", "screen")


@pytest.mark.parametrize("mask", [[False, True, False], [True, False, True], [False, False, False]])
@pytest.mark.parametrize(("n_agents", "grid"), [(1, 1), (3, 1), (3, 3)])
@pytest.mark.parametrize("listed_by", ["every block", "list_envs"])
def test_a_masked_render_redraws_only_the_masked_envs(host_renderer, n_agents, grid, mask, listed_by, monkeypatch):
    # the grid method: `grid` blocks of 8 warps for up to 1,152 rays, each warp striding over several rays of
    # the listed envs
    monkeypatch.setattr(cuda_renderer, "sparse_grid_blocks", lambda kernel, n_rays, shared, device: grid)
    monkeypatch.setattr(cuda_renderer, "BLOCK_LISTED_ENVS", 3 if listed_by == "every block" else 0)
    cameras = [Camera(pixels=128, fov=70)]
    scenery, agents = scene(bench_homes(3), n_agents=n_agents, seed=7)
    reference = TorchRenderer()
    reference.bake(scenery)
    out = host_renderer.render(scenery, agents, cameras)
    before = {name: getattr(out, name).clone() for name in FIELDS}
    agents.angles.add_(40.0)  # every agent turns; only the masked envs are rendered again
    mask = torch.tensor(mask)
    # first the other envs, elsewhere: this call must not see that one's list of envs
    elsewhere = cuda_renderer.empty_render(3, n_agents, 1, 128, "cpu")
    host_renderer.render_into(elsewhere, scenery, agents, cameras, ~mask)
    host_renderer.render_into(out, scenery, agents, cameras, mask)
    if host_renderer.method == "grid" and listed_by == "list_envs":  # the last block cleared the list's counts
        assert host_renderer._list_buffer[[0, -1]].tolist() == [0, 0]
    for name in FIELDS:
        assert torch.equal(getattr(out, name)[~mask], before[name][~mask]), name
    if mask.any():
        expected = reference.render(scenery, agents, cameras)
        rows = (type(r)(**{n: getattr(r, n)[mask] for n in FIELDS}) for r in (out, expected))
        assert_renders_match(*rows, max_mismatch=0.01)  # few rays: 4 near-ties of 768 are 0.5%


@pytest.mark.parametrize("n_agents", [1, 3])
def test_a_warp_per_ray_finds_the_hits_of_a_thread_per_ray(make_renderer, n_agents):
    # a masked grid render splits each ray's walk among a warp's lanes; every env masked, it must draw what the
    # full render, a thread walking each ray from its start, draws: the nearest hit is the same hit
    host_renderer = make_renderer("grid")
    cameras = [Camera(pixels=96, fov=120)]
    scenery, agents = scene(bench_homes(3), n_agents=n_agents, seed=3)
    host_renderer.render(scenery, agents, cameras)  # builds the tables
    full = host_renderer.render(scenery, agents, cameras)
    masked = cuda_renderer.empty_render(3, n_agents, 1, 96, "cpu")
    host_renderer.render_into(masked, scenery, agents, cameras, torch.ones(3, dtype=torch.bool))
    for name in FIELDS:
        assert torch.equal(getattr(masked, name), getattr(full, name)), name


def test_every_block_lists_more_envs_than_it_has_threads(make_renderer, monkeypatch):
    # blocks of 32 threads list 70 envs, a run of 3 each, in order: each block must make the same list
    host_renderer = make_renderer("grid")
    cameras = [Camera(pixels=16, fov=90)]
    homes = bench_homes(3)
    scenery, agents = scene([homes[e % 3] for e in range(70)], seed=5)
    host_renderer.render(scenery, agents, cameras)  # builds the tables
    full = host_renderer.render(scenery, agents, cameras)
    monkeypatch.setattr(cuda_renderer, "BLOCK", 32)  # the masked render's launch only
    monkeypatch.setattr(cuda_renderer, "sparse_grid_blocks", lambda kernel, n_rays, shared, device: 3)
    mask = torch.rand(70, generator=torch.Generator().manual_seed(0)) < 0.3
    masked = cuda_renderer.empty_render(70, 1, 1, 16, "cpu")
    masked.distances.fill_(-1.0)
    host_renderer.render_into(masked, scenery, agents, cameras, mask)
    assert torch.equal(masked.distances[mask], full.distances[mask])
    assert torch.equal(masked.indices[mask], full.indices[mask])
    assert (masked.distances[~mask] == -1.0).all()


def test_agents_close_together_and_a_ray_along_a_wall(host_renderer):
    # agents nearly touching, and rays that run exactly along the grid lines and walls
    positions = [[[1.0, 1.5], [1.25, 1.5], [1.0, 1.75]]]
    scenery, agents = scene([box()], n_agents=3, positions=positions, angles=[[0.0, 90.0, -90.0]])
    cameras = [Camera(pixels=64, fov=179.0), Camera(pixels=64, fov=90, offset=180)]
    reference = TorchRenderer()
    reference.bake(scenery)
    assert_renders_match(host_renderer.render(scenery, agents, cameras), reference.render(scenery, agents, cameras))


def test_rays_that_start_outside_the_grid(host_renderer):
    open_plan = box()
    scenery, agents = scene([open_plan], positions=[[[-2.0, 1.0]]], angles=[[10.0]])
    cameras = [Camera(pixels=50, fov=120)]
    reference = TorchRenderer()
    reference.bake(scenery)
    out = host_renderer.render(scenery, agents, cameras)
    expected = reference.render(scenery, agents, cameras)
    assert (expected.indices >= 0).any() and (expected.indices < 0).any()
    assert_renders_match(out, expected)
    assert np.isinf(out.distances[expected.indices < 0].numpy()).all()


def test_a_camera_wider_than_a_block(host_renderer):
    scenery, agents = scene(bench_homes(2), n_agents=2, seed=11)
    cameras = [Camera(pixels=300, fov=150)]  # more rays than a block's threads
    reference = TorchRenderer()
    reference.bake(scenery)
    assert_renders_match(host_renderer.render(scenery, agents, cameras), reference.render(scenery, agents, cameras))
