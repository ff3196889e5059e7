"""The body kernel (``cuda/bodies.cu``) against the torch reference (:func:`megastep_core.scenery.body_lines`):
compiled for the CPU (:mod:`megastep_core.host_kernels`), and for real on a GPU."""
import attrs
import numpy as np
import pytest
import torch
from conftest import box_geometry

from megastep_core import Agents, build_scenery, draw_bodies
from megastep_core import scenery as scenery_module
from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_core.kernels import Kernels
from megastep_core.scenery import BODY_KERNELS, BODY_LINES, body_lines

SIZES = [(1, 1), (3, 1), (2, 4), (5, 4), (4, 3)]
"""``(E, A)``: one agent and four, one env and several."""


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_core.cuda", "bodies.cu", tmp_path_factory.mktemp("kernels"))


@pytest.fixture
def host_kernel(library, monkeypatch):
    """Makes draw_bodies with a non-torch backend run the kernel compiled for the CPU."""
    def load(backend, device):
        if backend == "torch":
            return Kernels("torch", BODY_KERNELS)
        return Kernels("cuda", BODY_KERNELS, {"draw_bodies": HostKernel(library, "draw_bodies")})

    monkeypatch.setattr(scenery_module, "body_kernels", load)


def walls_of(scenery):
    """``(sum L_e,)`` bool: True for static walls, False for agent body lines."""
    return scenery.lines.local >= scenery.n_body_lines


def room(extra_walls: int):
    """A 4 m by 3 m box with ``extra_walls`` partitions inside, so that envs have different numbers of lines."""
    box = box_geometry()
    x = 0.5 + 0.5 * np.arange(extra_walls, dtype=np.float32)
    partitions = np.stack([np.stack([x, np.full_like(x, 0.2)], -1), np.stack([x, np.full_like(x, 1.0)], -1)], 1)
    return attrs.evolve(box, walls=np.concatenate([box.walls, partitions]))


def scene(n_envs: int, n_agents: int, device="cpu", seed=0):
    """A scenery whose body lines are NaN, so that a body line left undrawn shows, and random agents:
    positions in [-10, 10] metres, angles in [-360, 360] degrees."""
    scenery = build_scenery([room(3 * e % 5) for e in range(n_envs)], n_agents, agent_radius=0.3, device=device)
    scenery.lines.vals[~walls_of(scenery)] = float("nan")
    generator = torch.Generator().manual_seed(seed)
    agents = Agents.zeros(n_envs, n_agents, device)
    agents.positions[:] = (20 * torch.rand(n_envs, n_agents, 2, generator=generator) - 10).to(device)
    agents.angles[:] = (720 * torch.rand(n_envs, n_agents, generator=generator) - 360).to(device)
    return scenery, agents


def reference(scenery, agents) -> torch.Tensor:
    """``scenery.lines.vals`` with :func:`body_lines` written through each env's first ``A * M`` rows."""
    index = scenery.lines.starts[:, None] + torch.arange(scenery.n_body_lines, device=scenery.device)
    lines = scenery.lines.vals.clone()
    lines[index] = body_lines(agents, scenery.agent_radius)
    return lines


def assert_drawn_as_the_reference(scenery, expected, walls):
    lines = scenery.lines.vals
    assert torch.allclose(lines, expected, rtol=0, atol=1e-5)
    assert torch.equal(lines[walls_of(scenery)], walls)
    # each agent's square closes exactly, as the reference's does: every line ends where the next begins
    bodies = torch.stack([scenery.lines[e][: scenery.n_body_lines] for e in range(scenery.n_envs)])
    bodies = bodies.unflatten(1, (scenery.n_agents, BODY_LINES))
    assert torch.equal(bodies[:, :, :, 1], bodies.roll(-1, 2)[:, :, :, 0])


@pytest.mark.parametrize(("n_envs", "n_agents"), SIZES)
def test_the_kernel_draws_as_the_torch_reference(host_kernel, n_envs, n_agents):
    scenery, agents = scene(n_envs, n_agents, seed=n_envs * 10 + n_agents)
    assert len(set(scenery.lines.widths.tolist())) == n_envs  # so the envs' starts are irregular
    walls, expected = scenery.lines.vals[walls_of(scenery)].clone(), reference(scenery, agents)
    draw_bodies(scenery, agents)
    assert_drawn_as_the_reference(scenery, expected, walls)
    # and again where they moved: every body follows its agent
    agents.positions.add_(torch.tensor([0.3, -0.2]))
    agents.angles.add_(37.0)
    expected = reference(scenery, agents)
    draw_bodies(scenery, agents)
    assert_drawn_as_the_reference(scenery, expected, walls)


def test_the_kernel_puts_the_front_face_ahead(host_kernel):
    scenery, agents = scene(2, 2)
    agents.positions[1, 1] = torch.tensor([1.0, 2.0])
    agents.angles[1, 1] = 90.0
    draw_bodies(scenery, agents)
    half = 0.3 / 2**0.5  # a corner's offset along each axis from the centre
    front = torch.tensor([[1.0 + half, 2.0 + half], [1.0 - half, 2.0 + half]])  # from 45 to 135 degrees
    assert torch.allclose(scenery.lines[1][BODY_LINES], front, rtol=0, atol=1e-6)  # agent 1's first line


def test_the_kernel_refuses_agents_of_another_shape(host_kernel):
    scenery, _ = scene(3, 2)
    with pytest.raises(ValueError, match=r"3 envs of 2 agents, but the agents' positions are \(3, 4, 2\)"):
        draw_bodies(scenery, Agents.zeros(3, 4))


def test_bodies_are_squares():
    scenery, agents = scene(2, 1)
    with pytest.raises(ValueError, match="bodies are squares of 4 lines, but the scenery has 3"):
        draw_bodies(attrs.evolve(scenery, body_lines=3), agents)


def test_bad_backends_are_named():
    scenery, agents = scene(2, 1)
    with pytest.raises(ValueError, match=r"draw_bodies backend must be one of \('auto', 'torch', 'cuda'\)"):
        draw_bodies(scenery, agents, backend="quick")
    with pytest.raises(ValueError, match="draw_bodies backend='cuda' cannot run here: the world is not on a CUDA"):
        draw_bodies(scenery, agents, backend="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize(("n_envs", "n_agents"), SIZES)
def test_the_cuda_kernel_draws_as_the_torch_path(n_envs, n_agents):
    pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    fused, agents = scene(n_envs, n_agents, "cuda", seed=n_envs)
    walls = fused.lines.vals[walls_of(fused)].clone()
    torched = attrs.evolve(fused, lines=fused.lines.clone())
    draw_bodies(fused, agents, backend="cuda")
    draw_bodies(torched, agents, backend="torch")
    assert_drawn_as_the_reference(fused, torched.lines.vals, walls)


@pytest.mark.gpu
def test_a_captured_graph_redraws_the_bodies():
    pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    fused, agents = scene(5, 4, "cuda")
    walls = fused.lines.vals[walls_of(fused)].clone()
    draw_bodies(fused, agents, backend="cuda")  # compiles the kernel before the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        draw_bodies(fused, agents, backend="cuda")
    for _ in range(3):
        agents.positions.add_(0.25)
        agents.angles.add_(41.0)
        graph.replay()
        assert_drawn_as_the_reference(fused, reference(fused, agents), walls)
