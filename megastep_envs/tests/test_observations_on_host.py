"""The fused observation kernels (``observations.cu``) compiled for the CPU
(:mod:`megastep_core.host_kernels`), against the torch reference."""
import math

import pytest
import torch

from megastep_core import Camera, World
from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_envs.modules.observations import IMU, RGB, Depth, where_envs
from megastep_envs.tools.bench import spawn


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_envs.modules", "observations.cu", tmp_path_factory.mktemp("kernels"))


@pytest.fixture(scope="module")
def render(pillar_room):
    """A render of 3 envs x 2 agents x 2 cameras, with misses (inf) and hits at every distance."""
    cameras = [Camera(32, 90.0), Camera(32, 120.0, offset=180.0)]
    world = World([pillar_room] * 3, 2, cameras, "stop:torch", "raycast:torch", "cpu")
    spawn(world, seed=1)
    render = world.render()
    render.distances[0, 0, 0, :5] = float("inf")
    render.distances[1, 1, 1, 3:9] = 0.01  # nearer than the near plane
    return world, render


@pytest.mark.parametrize("make_module", [lambda w, b: RGB(w, 4, backend=b), lambda w, b: Depth(w, 8, 3.0, backend=b),
                                         lambda w, b: RGB(w, 1, backend=b)])
def test_the_kernels_observe_as_the_torch_reference(library, render, make_module):
    world, render = render
    reference = make_module(world, "torch")
    fused = make_module(world, "torch")
    fused._kernel = HostKernel(library, fused.kernel_name)
    expected = reference(render)
    got = fused(render)
    assert got.shape == expected.shape == (3, 2, *reference.space.shape)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)

    mask = torch.tensor([True, False, True])
    previous = torch.rand(expected.shape)  # contiguous, as the module's own observation is
    for module in (fused, reference):
        observation = previous.clone()
        final = module.refresh(render, mask, observation)
        # observed again in place where masked, the old pixels moved aside; an env not in the mask is untouched
        torch.testing.assert_close(observation, where_envs(mask, expected, previous), rtol=1e-6, atol=1e-6)
        assert torch.equal(observation[1], previous[1])
        assert torch.equal(final[mask], previous[mask]) and final.shape == previous.shape


def test_an_unknown_observation_backend_is_refused(render):
    with pytest.raises(ValueError, match=r"observation option backend must be one of \('auto', 'torch', 'cuda'\)"):
        RGB(render[0], backend="fast")
    with pytest.raises(ValueError, match="backend='cuda' cannot run here: the world is not on a CUDA device"):
        Depth(render[0], backend="cuda")


def test_the_imu_kernel_reads_as_the_torch_reference(library, render):
    world, _ = render
    agents = world.agents
    generator = torch.Generator().manual_seed(3)
    agents.angles.copy_(torch.rand(agents.angles.shape, generator=generator) * 360 - 180)
    fused = IMU(world, backend="torch")
    fused._kernel = HostKernel(library, "observe_imu")
    reference = IMU(world, backend="torch")
    # moves of up to a few decimetres, and turns of tens of degrees, one of them across the wrap at 180 degrees
    agents.angles[0, 0] = 175.0
    moved_from = agents.positions - torch.randn(agents.positions.shape, generator=generator) * 0.1
    turned_from = torch.remainder(agents.angles - torch.randn(agents.angles.shape, generator=generator) * 30 + 180,
                                  360) - 180
    turned_from[0, 0] = -170.0  # 15 degrees clockwise
    for imu in (fused, reference):
        imu.moved_from.copy_(moved_from)
        imu.turned_from.copy_(turned_from)
    expected = reference()
    assert expected.shape == (3, 2, 3) and expected.abs().min() > 0
    torch.testing.assert_close(expected[0, 0, 0], torch.tensor(math.radians(-15.0) / world.dt))
    torch.testing.assert_close(fused(), expected, rtol=1e-5, atol=1e-5)


def test_the_imu_refresh_kernel_refreshes_as_the_torch_reference(library, render):
    world, _ = render  # 3 envs of 2 agents
    agents = world.agents
    generator = torch.Generator().manual_seed(5)
    imus = [IMU(world, backend="torch") for _ in range(2)]
    imus[0]._refresh_kernel = HostKernel(library, "refresh_imu")
    moved_from = torch.randn(agents.positions.shape, generator=generator)
    turned_from = torch.randn(agents.angles.shape, generator=generator)
    readings = torch.randn(3, 2, 3, generator=generator)
    mask = torch.tensor([True, False, True])
    got = []
    for imu in imus:
        imu.moved_from.copy_(moved_from)
        imu.turned_from.copy_(turned_from)
        observation = readings.clone()
        final = imu.refresh(None, mask, observation)
        got.append((observation, final[mask], imu.moved_from, imu.turned_from))
    for fused, reference in zip(*got):
        assert torch.equal(fused, reference)
    observation, final, marked, _ = got[1]
    assert torch.equal(observation[mask], torch.zeros(2, 2, 3)) and torch.equal(observation[~mask], readings[~mask])
    assert torch.equal(final, readings[mask]) and torch.equal(marked[mask], agents.positions[mask])
    assert torch.equal(marked[~mask], moved_from[~mask])
