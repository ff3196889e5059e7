"""The CUDA kernels' logic, checked on the CPU: ``physics.cu`` compiled as plain C++
(:mod:`megastep_core.host_kernels`) and run against the torch reference on random rooms and the
benchmark homes."""
import numpy as np
import pytest
import torch
from parity import assert_close, compare, home_scene, momentum, random_scene, random_velocities
from physics_checks import poison

from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_physics import SlidePhysics, StopPhysics
from megastep_physics.cuda import CudaPhysics


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_physics.cuda", "physics.cu", tmp_path_factory.mktemp("kernels"))


def pair(library, slide: bool):
    kernel = CudaPhysics(slide=slide, record_paths=slide,
                         launcher=HostKernel(library, "slide_step" if slide else "stop_step"))
    poison(kernel)
    return (SlidePhysics(record_paths=True) if slide else StopPhysics()), kernel


@pytest.mark.parametrize("slide", [False, True], ids=["stop", "slide"])
@pytest.mark.parametrize("n_agents", [1, 3])
def test_random_rooms_match_the_reference(library, slide, n_agents):
    scenery, agents = random_scene(np.random.default_rng(n_agents), 24, n_agents, "cpu")
    assert_close(compare(*pair(library, slide), scenery, agents, 6, random_velocities))


@pytest.mark.parametrize("slide", [False, True], ids=["stop", "slide"])
@pytest.mark.parametrize("n_agents", [1, 4])
def test_benchmark_homes_match_the_reference(library, homes, slide, n_agents):
    scenery, agents = home_scene(homes, 64, n_agents, "cpu")
    assert_close(compare(*pair(library, slide), scenery, agents, 30, momentum))


def test_crowded_agents_match_the_reference(library):
    # 6 agents packed in a small room, driven hard into each other: many pair rounds
    scenery, agents = random_scene(np.random.default_rng(7), 8, 6, "cpu")
    for slide in (False, True):
        assert_close(compare(*pair(library, slide), scenery, agents.clone(), 8, random_velocities))


def test_poisoned_outputs_are_caught(library):
    reference, kernel = pair(library, False)
    scenery, agents = random_scene(np.random.default_rng(0), 2, 1, "cpu")

    class Lazy:  # a "kernel" that writes nothing
        def step(self, scenery, agents, dt):
            return torch.full(agents.angles.shape, torch.nan)

    with pytest.raises(AssertionError, match="unwritten"):
        compare(reference, Lazy(), scenery, agents, 1, random_velocities)


def test_wall_arguments_for_a_gpu_point_into_tensors_that_are_kept():
    # the launch gets raw pointers: each must belong to a tensor the backend keeps alive
    from megastep_physics.cuda.backend import wall_arguments
    from megastep_physics.walls import WallTable

    scenery, _ = random_scene(np.random.default_rng(0), 3, 1, "cpu")
    kept, passed = wall_arguments(WallTable.build(scenery), on_host=False)
    assert len(kept) == len(passed)
    for tensor, pointer in zip(kept, passed):
        if isinstance(tensor, torch.Tensor):
            assert int(pointer) == tensor.data_ptr() and tensor.is_contiguous()
            assert tensor.dtype in (torch.float32, torch.int32)
