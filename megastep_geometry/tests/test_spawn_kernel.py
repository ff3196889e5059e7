"""The random spawner's fused kernel (``cuda/spawn.cu``) against its torch reference: compiled for the CPU
(:mod:`megastep_core.host_kernels`), and for real on a GPU. Both must spawn exactly the same agents."""
import pytest
import torch

from megastep_core import make_backend
from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_geometry import spawners, toys


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_geometry.cuda", "spawn.cu", tmp_path_factory.mktemp("kernels"))


@pytest.fixture
def host_kernel(library, monkeypatch):
    """Makes every random spawner with a non-torch backend run the kernel compiled for the CPU."""
    def load(self, device):
        return None if self.backend == "torch" else HostKernel(library, "spawn_random")

    monkeypatch.setattr(spawners.RandomSpawner, "_load_kernel", load)


def crowded():
    """Rooms where four agents often collide: some envs take a later try, some fall back."""
    return [toys.box(1.2, 1.2), toys.box(1.3, 1.1), toys.maze(3, 3, seed=2), toys.box(3, 3)] * 10


def spawn(make_world, geometries, n_agents, backend, device="cpu", masks=None):
    """The world after a seeded spawner ran once with every env masked, then with each of ``masks``."""
    world = make_world(geometries, n_agents=n_agents, device=device)
    spawner = make_backend("spawner", "random", seed=4, backend=backend)
    everything = torch.ones(world.n_envs, dtype=torch.bool, device=device)
    for mask in [everything, *(masks or [])]:
        world.agents.velocity.fill_(0.5)  # to be zeroed in masked envs only
        world.agents.angvelocity.fill_(-20.0)
        spawner(world, mask.to(device))
    assert (spawner._kernel is None) == (backend == "torch")
    return world, spawner


def assert_same(fused, reference):
    for name in ("positions", "angles", "velocity", "angvelocity"):
        assert torch.equal(getattr(fused.agents, name), getattr(reference.agents, name)), name
    assert torch.equal(fused.scenery.lines.vals, reference.scenery.lines.vals)  # world.place drew the same bodies


def outcomes(world, spawner, seed=4):
    """``(E,)`` int per env of a world spawned once: the try its agents came from, or -1 for the fallback."""
    table = spawner.candidates(world)
    generator = torch.Generator(world.device).manual_seed(seed)
    uniforms = torch.rand((world.n_envs, spawners.PLACEMENT_TRIES, world.n_agents), generator=generator,
                          device=world.device)
    counts = table.env_counts[:, None, None]
    points = table.points[table.env_geometry[:, None, None], (uniforms * counts).long().clamp_max(counts - 1)]
    positions = world.agents.positions[:, None]
    taken = (points == positions).flatten(2).all(-1).int().argmax(1)
    fallen = (world.agents.positions == table.fallback[table.env_geometry]).flatten(1).all(-1)
    return torch.where(fallen, -1, taken)


@pytest.mark.parametrize("n_agents", [1, 2, 4])
def test_the_kernel_spawns_as_the_torch_reference(make_world, host_kernel, n_agents):
    geometries = [toys.box(3, 3), toys.maze(4, 4, seed=1), toys.column(3, 3, side=1.2), toys.corridor(6, 0.9)] * 3
    masks = [torch.arange(12) % 3 == 0, torch.ones(12, dtype=torch.bool)]
    reference, _ = spawn(make_world, geometries, n_agents, "torch", masks=masks)
    fused, _ = spawn(make_world, geometries, n_agents, "auto", masks=masks)
    assert_same(fused, reference)


def test_crowded_envs_take_later_tries_or_fall_back_as_the_reference(make_world, host_kernel):
    reference, spawner = spawn(make_world, crowded(), 4, "torch")
    fused, _ = spawn(make_world, crowded(), 4, "auto")
    assert_same(fused, reference)
    taken = outcomes(reference, spawner)
    assert (taken == 0).any() and (taken > 0).any() and (taken == -1).any(), taken


def test_the_kernel_leaves_unmasked_envs_untouched(make_world, host_kernel):
    mask = torch.tensor([True, False, False, True] * 10)
    reference, _ = spawn(make_world, crowded(), 4, "torch", masks=[mask])
    fused, _ = spawn(make_world, crowded(), 4, "auto", masks=[mask])
    assert_same(fused, reference)
    assert (fused.agents.velocity[~mask] == 0.5).all() and (fused.agents.angvelocity[~mask] == -20).all()
    assert (fused.agents.velocity[mask] == 0).all() and (fused.agents.angvelocity[mask] == 0).all()


@pytest.mark.gpu
@pytest.mark.parametrize("n_agents", [1, 4])
def test_the_cuda_kernel_spawns_as_the_torch_reference(make_world, n_agents):
    pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    reference, spawner = spawn(make_world, crowded(), n_agents, "torch", "cuda")
    fused, _ = spawn(make_world, crowded(), n_agents, "cuda", "cuda")
    assert_same(fused, reference)
    if n_agents > 1:
        taken = outcomes(reference, spawner)
        assert (taken == 0).any() and (taken > 0).any() and (taken == -1).any(), taken
    mask = torch.tensor([True, False, False, True] * 10)
    reference, _ = spawn(make_world, crowded(), n_agents, "torch", "cuda", masks=[mask])
    fused, _ = spawn(make_world, crowded(), n_agents, "cuda", "cuda", masks=[mask])
    assert_same(fused, reference)


def test_bad_backends_are_named(make_world):
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'torch', 'cuda'\), got 'bogus'"):
        make_backend("spawner", "random", backend="bogus")
    world = make_world([toys.box(3, 3)] * 2)
    spawner = make_backend("spawner", "random", backend="cuda")
    with pytest.raises(ValueError, match="backend='cuda' cannot run here: the world is not on a CUDA device; use"):
        spawner(world, torch.ones(2, dtype=torch.bool))
