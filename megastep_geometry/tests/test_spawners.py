import numpy as np
import pytest
import torch

from megastep_core import GeometryError, make_backend
from megastep_core.random import counter_key, counter_uniforms
from megastep_core.scenery import body_lines
from megastep_core.testing import devices
from megastep_geometry import spawners, toys
from megastep_geometry.masks import wall_distances
from megastep_geometry.plugin import megastep_backends


def _all(world):
    return torch.ones(world.n_envs, dtype=torch.bool, device=world.device)


def _check_safe(world, margin=spawners.DEFAULT_MARGIN):
    positions = world.agents.positions.cpu().numpy()
    radius = world.agent_radius
    for env, geometry in enumerate(world.geometries):
        assert wall_distances(positions[env], geometry.walls).min() >= radius + margin - 1e-5
        gaps = np.linalg.norm(positions[env][:, None] - positions[env][None], axis=-1)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() >= 2 * radius + margin - 1e-5
        cells = geometry.cells_of(positions[env])
        assert geometry.mask[cells[:, 0], cells[:, 1]].all()


def test_backends_are_listed():
    names = {(info.kind, info.name) for info in megastep_backends()}
    assert names == {("spawner", "random"), ("spawner", "fixed")}
    assert isinstance(make_backend("spawner", "random"), spawners.RandomSpawner)


@pytest.mark.parametrize("device", devices())
def test_random_spawns_are_clear_of_walls_and_each_other(make_world, device):
    geometries = [toys.box(2, 2), toys.maze(4, 4, seed=1), toys.column(3, 3, side=1.2), toys.corridor(6, 0.9)]
    world = make_world(geometries * 8, n_agents=4, device=device)
    spawner = make_backend("spawner", "random", seed=0)
    world.agents.velocity.fill_(1.0)
    world.agents.angvelocity.fill_(30.0)
    for _ in range(5):
        spawner(world, _all(world))
        _check_safe(world)
    assert (world.agents.velocity == 0).all() and (world.agents.angvelocity == 0).all()
    angles = world.agents.angles
    assert (angles >= -180).all() and (angles < 180).all() and angles.std() > 50


def test_bodies_are_redrawn(make_world):
    world = make_world([toys.box(3, 3)] * 2, n_agents=2)
    make_backend("spawner", "random", seed=1)(world, _all(world))
    expected = body_lines(world.agents, world.agent_radius)
    drawn = torch.stack([world.scenery.lines[e][: world.scenery.n_body_lines] for e in range(2)])
    assert torch.allclose(drawn, expected)


def test_only_masked_envs_move(make_world):
    world = make_world([toys.box(3, 3)] * 6, n_agents=2)
    spawner = make_backend("spawner", "random", seed=2)
    spawner(world, _all(world))
    before = world.agents.clone()
    world.agents.velocity.fill_(0.5)
    mask = torch.tensor([True, False, True, False, False, True])
    spawner(world, mask)
    assert torch.equal(world.agents.positions[~mask], before.positions[~mask])
    assert torch.equal(world.agents.angles[~mask], before.angles[~mask])
    assert (world.agents.velocity[~mask] == 0.5).all() and (world.agents.velocity[mask] == 0).all()
    assert not torch.equal(world.agents.positions[mask], before.positions[mask])


def _spawned(make_world, seed, device="cpu", n_agents=1, calls=1):
    """Positions and angles of a fresh world after ``calls`` calls of a random spawner seeded ``seed``."""
    world = make_world([toys.box(4, 4), toys.maze(4, 4, seed=1)] * 25, n_agents=n_agents, device=device)
    spawner = make_backend("spawner", "random", seed=seed)
    for _ in range(calls):
        spawner(world, _all(world))
    return world.agents.positions.cpu(), world.agents.angles.cpu()


def test_seeded_spawns_repeat_and_cover_the_room(make_world):
    runs = []
    for _ in range(2):
        world = make_world([toys.box(4, 4)] * 50, n_agents=1)
        make_backend("spawner", "random", seed=7)(world, _all(world))
        runs.append(world.agents.positions.clone())
    assert torch.equal(runs[0], runs[1])
    points = runs[0].reshape(-1, 2)
    assert points.min() < 1.0 and points.max() > 3.0  # spread over the room, not clumped


@pytest.mark.parametrize("n_agents", [1, 3])
def test_the_same_seed_spawns_the_same_and_another_seed_differently(make_world, n_agents):
    same = [_spawned(make_world, 5, n_agents=n_agents, calls=2) for _ in range(2)]
    other = _spawned(make_world, 6, n_agents=n_agents, calls=2)
    (positions, angles), (positions_again, angles_again) = same
    assert torch.equal(positions, positions_again) and torch.equal(angles, angles_again)
    assert (positions != other[0]).any(-1).float().mean() > 0.5 and (angles != other[1]).float().mean() > 0.9


def test_unseeded_spawners_pick_different_seeds():
    first, second = (make_backend("spawner", "random") for _ in range(2))
    assert first.seed is None and first.random_seed != second.random_seed
    assert make_backend("spawner", "random", seed=3).random_seed == 3


@pytest.mark.parametrize("device", devices())
def test_a_seeded_first_placement_does_not_depend_on_the_device(make_world, device):
    on_cpu = _spawned(make_world, 9, n_agents=3)
    here = _spawned(make_world, 9, device, n_agents=3)
    for mine, theirs in zip(here, on_cpu):
        assert torch.equal(mine, theirs)


def test_crowded_envs_fall_back_to_separated_points(make_world, monkeypatch):
    """With a single try, 4 agents in a 1.2 m room collide often; the fallback keeps them apart."""
    monkeypatch.setattr(spawners, "PLACEMENT_TRIES", 1)
    world = make_world([toys.box(1.2, 1.2)] * 20, n_agents=4)
    make_backend("spawner", "random", seed=3)(world, _all(world))
    _check_safe(world)


def test_geometry_too_narrow_for_an_agent_is_an_error(make_world):
    world = make_world([toys.corridor(4, 0.3)], n_agents=1)
    with pytest.raises(GeometryError, match="corridor.*from every wall"):
        make_backend("spawner", "random")(world, _all(world))


def test_room_too_small_for_the_agents_is_an_error(make_world):
    world = make_world([toys.box(0.6, 0.6)], n_agents=4)
    with pytest.raises(GeometryError, match="cannot find 4 spawn points"):
        make_backend("spawner", "random")(world, _all(world))


@pytest.mark.parametrize("kind", ["random", "fixed"])
def test_bad_mask_is_named(make_world, kind):
    world = make_world([toys.box()] * 3, n_agents=2)
    spawner = make_backend("spawner", kind, points=[[1.0, 1.0], [2.0, 2.0]])
    both = r"either \(3,\) \(every agent of those envs\) or \(3, 2\) \(just those agents\); got "
    with pytest.raises(ValueError, match=both + r"\(3,\) torch.float32 on cpu"):
        spawner(world, torch.ones(3))
    with pytest.raises(ValueError, match=both + r"\(4,\) torch.bool"):
        spawner(world, torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=both + r"\(3, 3\) torch.bool"):
        spawner(world, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"on the world's device cpu, either .* got \(3, 2\) torch.bool on meta"):
        spawner(world, torch.ones(3, 2, dtype=torch.bool, device="meta"))
    with pytest.raises(ValueError, match=both + "list"):
        spawner(world, [True, True, True])


@pytest.mark.parametrize("device", devices())
def test_random_respawns_single_agents_and_says_which(make_world, device):
    world = make_world([toys.box(4, 4), toys.maze(4, 4, seed=1)] * 8, n_agents=4, device=device)
    spawner = make_backend("spawner", "random", seed=0)
    assert torch.equal(spawner(world, _all(world)), torch.ones(16, 4, dtype=torch.bool, device=device))
    mask = torch.zeros(16, 4, dtype=torch.bool, device=device)
    mask[torch.arange(16), torch.arange(16) % 4] = True  # one agent per env
    for _ in range(3):
        world.agents.velocity.fill_(0.5)
        before = world.agents.clone()
        placed = spawner(world, mask)
        assert placed.shape == (16, 4) and placed.dtype == torch.bool and placed.device == world.agents.positions.device
        assert not (placed & ~mask).any() and placed.any()
        kept = ~placed
        assert torch.equal(world.agents.positions[kept], before.positions[kept])
        assert torch.equal(world.agents.angles[kept], before.angles[kept])
        assert (world.agents.velocity[kept] == 0.5).all() and (world.agents.velocity[placed] == 0).all()
        assert not torch.equal(world.agents.positions[placed], before.positions[placed])
        _check_safe(world)


@pytest.mark.parametrize("device", devices())
def test_fixed_spawns_at_the_given_points(make_world, device):
    world = make_world([toys.box(4, 4)] * 3, n_agents=2, device=device)
    points = [[1.0, 1.0], [3.0, 2.5]]
    spawner = make_backend("spawner", "fixed", points=points, angles=[90.0, -45.0])
    world.agents.velocity.fill_(1.0)
    spawner(world, _all(world))
    assert torch.equal(world.agents.positions.cpu(), torch.tensor(points).expand(3, 2, 2))
    assert torch.equal(world.agents.angles.cpu(), torch.tensor([90.0, -45.0]).expand(3, 2))
    assert (world.agents.velocity == 0).all()


def test_fixed_per_env_points_and_random_angles(make_world):
    world = make_world([toys.box(4, 4)] * 2, n_agents=1)
    points = np.array([[[1.0, 2.0]], [[3.0, 3.0]]])
    make_backend("spawner", "fixed", points=points, seed=0)(world, torch.tensor([True, False]))
    assert world.agents.positions[0, 0].tolist() == [1.0, 2.0]
    assert world.agents.positions[1, 0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("device", devices())
def test_fixed_places_just_the_masked_agents(make_world, device):
    world = make_world([toys.box(4, 4)] * 3, n_agents=2, device=device)
    points = torch.tensor([[1.0, 1.0], [3.0, 2.5]])
    spawner = make_backend("spawner", "fixed", points=points.tolist(), angles=[90.0, -45.0])
    world.agents.velocity.fill_(1.0)
    mask = torch.tensor([[True, False], [False, False], [True, True]], device=device)
    placed = spawner(world, mask)
    assert torch.equal(placed, mask) and placed is not mask
    positions, angles = world.agents.positions.cpu(), world.agents.angles.cpu()
    at_rest = world.agents.velocity.abs().sum(-1) == 0
    assert torch.equal(positions[mask.cpu()], points.expand(3, 2, 2)[mask.cpu()])
    assert torch.equal(positions[~mask.cpu()], torch.zeros(3, 2))  # where they started: the origin
    assert torch.equal(angles[mask.cpu()], torch.tensor([90.0, 90.0, -45.0]))
    assert torch.equal(at_rest, mask)
    assert torch.equal(spawner(world, mask[:, 0]), mask[:, :1].expand(3, 2))  # an (E,) mask: every agent of those


def test_fixed_random_angles_turn_just_the_masked_agents(make_world):
    world = make_world([toys.box(4, 4)] * 50, n_agents=2)
    mask = torch.zeros(50, 2, dtype=torch.bool)
    mask[:, 1] = True
    placed = make_backend("spawner", "fixed", points=[[1.0, 1.0], [3.0, 3.0]], seed=0)(world, mask)
    assert torch.equal(placed, mask)
    assert (world.agents.angles[:, 0] == 0).all() and world.agents.angles[:, 1].std() > 50


def test_fixed_rejects_bad_points(make_world):
    with pytest.raises(ValueError, match="needs the option points"):
        make_backend("spawner", "fixed")
    with pytest.raises(ValueError, match=r"\(A, 2\) or \(E, A, 2\)"):
        make_backend("spawner", "fixed", points=[1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        make_backend("spawner", "fixed", points=[[np.nan, 1.0]])
    world = make_world([toys.box(4, 4)] * 2, n_agents=2)
    with pytest.raises(ValueError, match=r"\(2, 2\) or \(2, 2, 2\)"):
        make_backend("spawner", "fixed", points=[[1.0, 1.0]])(world, _all(world))
    with pytest.raises(GeometryError, match="within the agent radius"):
        make_backend("spawner", "fixed", points=[[1.0, 1.0], [0.05, 2.0]])(world, _all(world))


@pytest.mark.gpu
@pytest.mark.parametrize("per_agent", [False, True])
def test_respawn_does_not_synchronise(make_world, per_agent):
    world = make_world([toys.box(3, 3), toys.maze(3, 3)] * 16, n_agents=4, device="cuda")
    spawner = make_backend("spawner", "random", seed=0)
    spawner(world, _all(world))  # the first call precomputes on the host
    mask = torch.rand((world.n_envs, 4) if per_agent else world.n_envs, device="cuda") < 0.5
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        spawner(world, mask)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    _check_safe(world)


def test_spawns_in_homes_never_touch_walls(make_world):
    from megastep_geometry import homes

    world = make_world(homes.sample(6, split="all", seed=0) * 4, n_agents=4)
    spawner = make_backend("spawner", "random", seed=5)
    for _ in range(4):
        spawner(world, _all(world))
        _check_safe(world)


def test_devices_compare_as_torch_places_tensors():
    assert spawners.same_device("cuda", "cuda:0")  # without CUDA, "cuda" reads as device 0
    assert spawners.same_device(torch.device("cuda:1"), "cuda:1")
    assert not spawners.same_device("cuda:0", "cuda:1")
    assert not spawners.same_device("cpu", "cuda")
    assert spawners.same_device("cpu", torch.device("cpu"))


def test_seeded_spawner_keeps_drawing_new_numbers(make_world):
    world = make_world([toys.box(4, 4)] * 8, n_agents=1)
    spawner = make_backend("spawner", "random", seed=1)
    spawner(world, _all(world))
    first = world.agents.positions.clone()
    spawner(world, _all(world))
    assert not torch.equal(first, world.agents.positions)
    assert spawner.random.counters.tolist() == [2] * 8


def test_a_new_world_gets_new_counters(make_world):
    spawner = make_backend("spawner", "random", seed=1)
    for _ in range(2):
        world = make_world([toys.box(4, 4)] * 8, n_agents=1)
        spawner(world, _all(world))
        assert spawner.random.counters.tolist() == [1] * 8
        assert spawner.random.key == counter_key(1, "spawn")


@pytest.mark.parametrize("per_agent", [False, True])
def test_fixed_random_angles_are_counter_numbers_and_advance_masked_envs(make_world, per_agent):
    world = make_world([toys.box(4, 4)] * 4, n_agents=2)
    spawner = make_backend("spawner", "fixed", points=[[1.0, 1.0], [3.0, 3.0]], seed=2)
    spawner(world, _all(world))
    mask = torch.tensor([[True, False], [False, False], [True, True], [False, True]])
    envs = mask.any(1)
    before = world.agents.angles.clone()
    spawner(world, mask if per_agent else envs)
    placed = mask if per_agent else envs[:, None].expand(4, 2)
    angles = counter_uniforms(counter_key(2, "spawn"), torch.ones(4, dtype=torch.int64), 2) * 360.0 - 180.0
    assert torch.equal(world.agents.angles, torch.where(placed, angles, before))
    assert spawner.random.counters.tolist() == [2, 1, 2, 2]
