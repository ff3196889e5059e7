"""The `cuda` and `cuda_slide` backends: compiling, listing, and parity and soak on a GPU."""
import importlib

import numpy as np
import pytest
import torch
from parity import assert_close, compare, home_scene, momentum, random_scene, random_velocities
from physics_checks import poison
from soak_common import soak

from megastep_core import BackendUnavailableError, get_plugin_manager, make_backend
from megastep_core.builtin import plugins_table
from megastep_core.kernels import cupy_unavailable_reason
from megastep_physics import SlidePhysics, StopPhysics


def test_plugin_imports_without_cupy_and_lists_both_backends():
    plugin = importlib.import_module("megastep_physics.cuda.plugin")
    listed = {info.name: info for info in plugin.megastep_backends()}
    assert set(listed) == {"stop:cuda", "slide:cuda"}
    assert all(info.kind == "physics" for info in listed.values())
    assert listed["stop:cuda"].unavailable == cupy_unavailable_reason()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the listing on a machine without CUDA")
def test_without_cuda_the_listing_says_why_and_making_one_fails_clearly():
    table = plugins_table()
    assert "stop:cuda*" in table and "slide:cuda*" in table
    assert "physics 'stop:cuda' (cuda_physics) is unavailable:" in table
    with pytest.raises(BackendUnavailableError, match="cannot run here"):
        make_backend("physics", "slide:cuda")


def test_auto_picks_torch_on_the_cpu():
    assert get_plugin_manager().resolve_name("physics", "auto", torch.device("cpu")) == "stop:torch"


def test_kernels_compile_with_nvrtc():
    pytest.importorskip("cupy", reason="compiling the kernels needs CuPy (NVRTC)")
    from megastep_core.kernels import load_module
    from megastep_physics.cuda.backend import KERNEL_OPTIONS

    try:
        module = load_module("megastep_physics.cuda", "physics.cu", KERNEL_OPTIONS)
    except Exception as error:  # CuPy without a usable CUDA toolkit
        if cupy_unavailable_reason() is not None:
            pytest.skip(f"CuPy cannot compile here: {error}")
        raise
    for name in ("stop_step", "slide_step"):
        assert module.get_function(name) is not None


def cuda_pair(slide: bool):
    kernel = make_backend("physics", "slide:cuda" if slide else "stop:cuda", device=torch.device("cuda"),
                          **({"record_paths": True} if slide else {}))
    poison(kernel)
    return (SlidePhysics(record_paths=True) if slide else StopPhysics()), kernel


@pytest.mark.gpu
def test_auto_picks_cuda_on_a_gpu():
    assert get_plugin_manager().resolve_name("physics", "auto", torch.device("cuda")) == "stop:cuda"


@pytest.mark.gpu
@pytest.mark.parametrize("slide", [False, True], ids=["stop:cuda", "slide:cuda"])
@pytest.mark.parametrize("n_agents", [1, 2, 4, 7])
def test_random_rooms_match_the_reference(slide, n_agents):
    scenery, agents = random_scene(np.random.default_rng(n_agents), 512, n_agents, "cuda")
    assert_close(compare(*cuda_pair(slide), scenery, agents, 10, random_velocities))


@pytest.mark.gpu
@pytest.mark.parametrize("slide", [False, True], ids=["stop:cuda", "slide:cuda"])
@pytest.mark.parametrize("n_envs, n_agents", [(4096, 1), (1024, 4)])
def test_benchmark_homes_match_the_reference(homes, slide, n_envs, n_agents):
    scenery, agents = home_scene(homes, n_envs, n_agents, "cuda")
    assert_close(compare(*cuda_pair(slide), scenery, agents, 50, momentum))


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("name, options", [("stop:cuda", {}), ("slide:cuda", {"record_paths": True})])
@pytest.mark.parametrize("n_envs, n_agents, n_steps", [(65536, 1, 153), (16384, 4, 153)])
def test_gpu_soak_kernels(homes, name, options, n_envs, n_agents, n_steps):
    # 10,027,008 agent-steps each
    failures, seconds = soak(homes, name, n_envs, n_agents, n_steps, "cuda", options)
    print(f"{name} {n_envs}x{n_agents}: {n_envs * n_agents * n_steps} agent-steps, physics {seconds:.2f} s, {failures}")
    assert failures == {"crossings": 0, "penetrations": 0, "overlaps": 0}
