"""The random spawner's fused kernel (``cuda/spawn.cu``) against its torch reference: compiled for the CPU
(:mod:`megastep_core.host_kernels`), and for real on a GPU. Both must spawn exactly the same agents."""
import numpy as np
import pytest
import torch

from megastep_core import make_backend
from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_core.random import counter_uniforms
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
    """The world after a seeded spawner ran once with every env masked, then with each of ``masks``; the
    spawner; and what each call returned (the agents placed)."""
    world = make_world(geometries, n_agents=n_agents, device=device)
    spawner = make_backend("spawner", "random", seed=4, backend=backend)
    everything = torch.ones(world.n_envs, dtype=torch.bool, device=device)
    placed = []
    for mask in [everything, *(masks or [])]:
        world.agents.velocity.fill_(0.5)  # to be zeroed in masked envs only
        world.agents.angvelocity.fill_(-20.0)
        placed.append(spawner(world, mask.to(device)))
    assert (spawner._kernel is None) == (backend == "torch")
    return world, spawner, placed


def assert_same(fused, reference, fused_spawner=None, reference_spawner=None):
    for name in ("positions", "angles", "velocity", "angvelocity"):
        assert torch.equal(getattr(fused.agents, name), getattr(reference.agents, name)), name
    # the kernel draws the bodies of the agents it placed as draw_bodies does (sines may differ in the last bit
    # between the host's C library and torch, as in the bodies kernel's own test); the walls stay
    lines, expected = fused.scenery.lines.vals, reference.scenery.lines.vals
    assert torch.allclose(lines, expected, rtol=0, atol=1e-5)
    walls = fused.scenery.lines.local >= fused.scenery.n_body_lines
    assert torch.equal(lines[walls], expected[walls])
    if fused_spawner is not None:
        assert torch.equal(fused_spawner.random.counters, reference_spawner.random.counters)


def tries(world):
    return spawners.PLACEMENT_TRIES if world.n_agents > 1 else 1


def drawn(spawner, world, counters):
    """The point uniforms ``(E, T, A)`` and the angle uniforms ``(E, A)`` of a call made at ``counters``."""
    n_tries, n_agents = tries(world), world.n_agents
    numbers = counter_uniforms(spawner.random.key, counters, n_tries * n_agents + n_agents)
    return numbers[:, : n_tries * n_agents].view(-1, n_tries, n_agents), numbers[:, n_tries * n_agents :]


def outcomes(world, spawner, counters=None):
    """``(E,)`` int per env of a world spawned once (at ``counters``, zero if None): the try its agents came from,
    or -1 for the fallback."""
    table = spawner.candidates(world)
    if counters is None:
        counters = torch.zeros(world.n_envs, dtype=torch.int64, device=world.device)
    uniforms, _ = drawn(spawner, world, counters)
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
    reference, spawner, placed = spawn(make_world, geometries, n_agents, "torch", masks=masks)
    fused, fused_spawner, fused_placed = spawn(make_world, geometries, n_agents, "auto", masks=masks)
    assert_same(fused, reference, fused_spawner, spawner)
    assert torch.equal(spawner.random.counters, 2 + masks[0].long())  # every env in calls 1 and 3, some in 2
    for mask, by_reference, by_kernel in zip([torch.ones(12, dtype=torch.bool), *masks], placed, fused_placed):
        assert torch.equal(by_reference, mask[:, None].expand(12, n_agents))  # an (E,) mask places whole envs
        assert torch.equal(by_kernel, by_reference)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_an_env_mask_spawns_as_the_same_mask_per_agent(make_world, host_kernel, backend):
    masks = [torch.tensor([True, False, False, True] * 10)]
    by_env, _, placed = spawn(make_world, crowded(), 4, backend, masks=masks)
    by_agent, _, _ = spawn(make_world, crowded(), 4, backend, masks=[masks[0][:, None].expand(40, 4)])
    assert_same(by_env, by_agent)
    assert torch.equal(placed[1], masks[0][:, None].expand(40, 4))


def test_crowded_envs_take_later_tries_or_fall_back_as_the_reference(make_world, host_kernel):
    reference, spawner, _ = spawn(make_world, crowded(), 4, "torch")
    fused, fused_spawner, _ = spawn(make_world, crowded(), 4, "auto")
    assert_same(fused, reference, fused_spawner, spawner)
    taken = outcomes(reference, spawner)
    assert (taken == 0).any() and (taken > 0).any() and (taken == -1).any(), taken


def test_the_kernel_leaves_unmasked_envs_untouched(make_world, host_kernel):
    mask = torch.tensor([True, False, False, True] * 10)
    reference, spawner, _ = spawn(make_world, crowded(), 4, "torch", masks=[mask])
    fused, fused_spawner, _ = spawn(make_world, crowded(), 4, "auto", masks=[mask])
    assert_same(fused, reference, fused_spawner, spawner)
    assert torch.equal(fused_spawner.random.counters, 1 + mask.long())  # only envs with a masked agent move on
    assert (fused.agents.velocity[~mask] == 0.5).all() and (fused.agents.angvelocity[~mask] == -20).all()
    assert (fused.agents.velocity[mask] == 0).all() and (fused.agents.angvelocity[mask] == 0).all()


@pytest.mark.gpu
@pytest.mark.parametrize("n_agents", [1, 4])
def test_the_cuda_kernel_spawns_as_the_torch_reference(make_world, n_agents):
    pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    reference, spawner, _ = spawn(make_world, crowded(), n_agents, "torch", "cuda")
    fused, fused_spawner, _ = spawn(make_world, crowded(), n_agents, "cuda", "cuda")
    assert_same(fused, reference, fused_spawner, spawner)
    if n_agents > 1:
        taken = outcomes(reference, spawner)
        assert (taken == 0).any() and (taken > 0).any() and (taken == -1).any(), taken
    mask = torch.tensor([True, False, False, True] * 10)
    reference, spawner, _ = spawn(make_world, crowded(), n_agents, "torch", "cuda", masks=[mask])
    fused, fused_spawner, _ = spawn(make_world, crowded(), n_agents, "cuda", "cuda", masks=[mask])
    assert_same(fused, reference, fused_spawner, spawner)
    assert torch.equal(fused_spawner.random.counters.cpu(), 1 + mask.long())


# What one env's call did, as found by `expected`.
NOTHING_MASKED, NOT_PLACED, FELL_BACK = -3, -2, -1  # else the try taken, 0 or more


def expected(table, uniforms, mask, before, min_gap2):
    """What the spawner must do, from its specification in plain loops (float32, rounded as the reference).

    :param uniforms: ``(E, T, A)`` the point uniforms the call drew.
    :param mask: ``(E, A)`` bool; ``before``: ``(E, A, 2)`` metres, the positions before the call.
    :returns: ``(E,)`` outcomes (the try taken, or one of the constants above), ``(E, A, 2)`` the new positions of
        the agents placed (and the old ones of the others) and ``(E, A)`` bool, the agents placed.
    """
    points, fallback = table.points.cpu().numpy(), table.fallback.cpu().numpy()
    geometry, counts = table.env_geometry.cpu().numpy(), table.env_counts.cpu().numpy()
    uniforms, mask, before = uniforms.cpu().numpy(), mask.cpu().numpy(), before.cpu().numpy()
    n_envs, tries, n_agents = uniforms.shape
    outcomes, positions, placed = np.full(n_envs, NOTHING_MASKED), before.copy(), np.zeros_like(mask)
    for e in range(n_envs):
        if not mask[e].any():
            continue
        count = counts[e]
        for t in range(tries):
            index = [min(int(u * np.float32(count)), count - 1) for u in uniforms[e, t]]
            standing = [points[geometry[e], index[a]] if mask[e, a] else before[e, a] for a in range(n_agents)]
            gaps2 = [(dx * dx + dy * dy) for i in range(n_agents) for j in range(n_agents) if i != j
                     and (mask[e, i] or mask[e, j]) for dx, dy in [standing[i] - standing[j]]]
            if all(gap2 >= min_gap2 for gap2 in gaps2):
                outcomes[e], new = t, np.stack(standing)
                break
        else:
            outcomes[e], new = (FELL_BACK, fallback[geometry[e]]) if mask[e].all() else (NOT_PLACED, None)
        if new is not None:
            placed[e] = mask[e]
            positions[e, mask[e]] = new[mask[e]]
    return outcomes, positions, placed


def agent_masks(n_envs, n_agents, n_masks):
    """``(E, A)`` bool masks of every kind: about half the agents of each env, every agent of some envs, none of
    others."""
    generator = torch.Generator().manual_seed(0)
    masks = []
    for _ in range(n_masks):
        mask = torch.rand((n_envs, n_agents), generator=generator) < 0.5
        kind = torch.randint(4, (n_envs,), generator=generator)
        mask[kind == 0] = True
        mask[kind == 1] = False
        masks.append(mask)
    return masks


def respawn(make_world, n_agents, backend, device, masks):
    """Spawns crowded rooms with every agent masked, then respawns each of ``masks`` ``(E, A)``. Returns the
    spawner and, for each mask, the agents before and after the call, the spawner's counters before and after
    it, and what it returned."""
    world = make_world(crowded(), n_agents=n_agents, device=device)
    spawner = make_backend("spawner", "random", seed=4, backend=backend)
    spawner(world, torch.ones(world.n_envs, dtype=torch.bool, device=device))
    calls = []
    for mask in masks:
        world.agents.velocity.fill_(0.5)  # to be zeroed for the agents placed only
        world.agents.angvelocity.fill_(-20.0)
        before, counters = world.agents.clone(), spawner.random.counters.clone()
        placed = spawner(world, mask.to(device))
        calls.append((before, world.agents.clone(), counters, spawner.random.counters.clone(), placed))
    assert (spawner._kernel is None) == (backend == "torch")
    return world, spawner, calls


def check_respawns(make_world, n_agents, backend, device="cpu"):
    """The kernel respawns ``(E, A)`` masks as the reference, which does as its specification says: places only
    masked agents, leaves the others as they were, and crowds no one. Returns each call's outcomes."""
    masks = agent_masks(40, n_agents, 4)
    reference, spawner, calls = respawn(make_world, n_agents, "torch", device, masks)
    fused, fused_spawner, fused_calls = respawn(make_world, n_agents, backend, device, masks)
    assert_same(fused, reference, fused_spawner, spawner)
    table = spawner.candidates(reference)
    separation = 2 * reference.agent_radius + spawners.DEFAULT_MARGIN
    seen = []
    for mask, call, fused_call in zip(masks, calls, fused_calls):
        before, after, counters, counters_after, placed = call
        _, fused_after, fused_counters, fused_counters_after, fused_placed = fused_call
        assert torch.equal(fused_placed, placed)
        for name in ("positions", "angles", "velocity", "angvelocity"):
            assert torch.equal(getattr(fused_after, name), getattr(after, name)), name
        assert torch.equal(fused_counters, counters) and torch.equal(fused_counters_after, counters_after)
        assert torch.equal(counters_after.cpu(), counters.cpu() + mask.any(1))  # only envs with masked agents
        uniforms, angle_uniforms = drawn(spawner, reference, counters)
        outcomes, positions, expected_placed = expected(table, uniforms, mask, before.positions,
                                                        np.float32(separation**2))
        assert torch.equal(placed.cpu(), torch.from_numpy(expected_placed))
        assert torch.equal(after.positions.cpu(), torch.from_numpy(positions))
        assert torch.equal(after.angles[placed], (angle_uniforms * 360.0 - 180.0)[placed])
        kept = ~placed
        for name in ("positions", "angles", "velocity", "angvelocity"):  # agents not placed keep their state
            assert torch.equal(getattr(after, name)[kept], getattr(before, name)[kept]), name
        assert (after.velocity[placed] == 0).all() and (after.angvelocity[placed] == 0).all()
        gaps = (after.positions[:, :, None] - after.positions[:, None]).norm(dim=-1)  # (E, A, A)
        gaps.diagonal(dim1=1, dim2=2).fill_(np.inf)
        assert (gaps.min(-1).values[placed] >= separation - 1e-5).all()  # a placed agent crowds no one
        seen.append(outcomes)
    return np.concatenate(seen)


def test_agent_masks_spawn_as_the_reference_whatever_the_outcome(make_world, host_kernel):
    """Try 0, a later try, no one placed (a partial mask) and the fallback (a full mask) all happen, so that the
    kernel is checked against the reference on each."""
    seen = check_respawns(make_world, 4, "auto")
    assert {0, 1, NOT_PLACED, FELL_BACK} <= {min(o, 1) for o in seen}, np.unique(seen, return_counts=True)


@pytest.mark.gpu
@pytest.mark.parametrize("n_agents", [1, 4])
def test_the_cuda_kernel_respawns_agent_masks_as_the_torch_reference(make_world, n_agents):
    pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    seen = check_respawns(make_world, n_agents, "cuda", "cuda")
    if n_agents > 1:
        assert {0, 1, NOT_PLACED, FELL_BACK} <= {min(o, 1) for o in seen}, np.unique(seen, return_counts=True)


def test_bad_backends_are_named(make_world):
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'torch', 'cuda'\), got 'bogus'"):
        make_backend("spawner", "random", backend="bogus")
    world = make_world([toys.box(3, 3)] * 2)
    spawner = make_backend("spawner", "random", backend="cuda")
    with pytest.raises(ValueError, match="backend='cuda' cannot run here: the world is not on a CUDA device; use"):
        spawner(world, torch.ones(2, dtype=torch.bool))


@pytest.mark.gpu
@pytest.mark.parametrize("per_agent", [False, True])
def test_a_cuda_call_is_one_launch(make_world, per_agent):
    """No torch draw kernels (``distribution_...``), nor generator fills: the kernel hashes its own numbers; and
    no ``draw_bodies``: it draws the bodies of the agents it places."""
    pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    from torch.profiler import ProfilerActivity, profile

    world = make_world(crowded(), n_agents=4, device="cuda")
    spawner = make_backend("spawner", "random", seed=4, backend="cuda")
    spawner(world, torch.ones(world.n_envs, dtype=torch.bool, device="cuda"))  # the first call precomputes
    shape = (world.n_envs, 4) if per_agent else (world.n_envs,)
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(0)).lt(0.5).cuda()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        spawner(world, mask)
        torch.cuda.synchronize()
    names = [event.name for event in prof.events() if event.device_type == torch.autograd.DeviceType.CUDA]
    assert names == ["spawn_random"], names
    assert not any("distribution" in name or "rand" in name.replace("spawn_random", "") for name in names)
