import warnings

import numpy as np
import pytest
import shapely

from megastep_geometry import floorplans, homes
from megastep_geometry.masks import components, free_cell_centres, free_mask, rasterize

SEEDS_AND_INDICES = [(0, i) for i in range(12)] + [(7, i) for i in range(100, 108)]


@pytest.fixture(scope="module")
def some_homes():
    return [floorplans.generate(seed, index) for seed, index in SEEDS_AND_INDICES]


def test_same_arguments_give_the_same_homes(tmp_path):
    first = homes.sample(5, seed=3, cache=tmp_path / "a")
    again = homes.sample(5, seed=3, cache=tmp_path / "b")
    cached = homes.sample(5, seed=3, cache=tmp_path / "a")
    for a, b, c in zip(first, again, cached):
        for other in (b, c):
            assert np.array_equal(a.walls, other.walls) and np.array_equal(a.lights, other.lights)
            assert np.array_equal(a.mask, other.mask) and np.array_equal(a.origin, other.origin)
            assert a.name == other.name


def test_homes_are_distinct_and_seeds_differ():
    pool = homes.sample(100, split="all", seed=0)
    assert len({g.walls.tobytes() for g in pool}) == 100
    other = homes.sample(10, split="all", seed=1)
    assert not any(np.array_equal(a.walls, b.walls) for a in pool[:10] for b in other)


def test_split_is_fixed_ninety_ten():
    training, test = homes.split_indices("training"), homes.split_indices("test")
    assert len(training) == 4500 and len(test) == 500 and len(homes.split_indices("all")) == homes.POOL_SIZE
    assert not set(training) & set(test)
    assert set(training) | set(test) == set(range(homes.POOL_SIZE))
    names = [g.name for g in homes.sample(3, split="test", seed=0)]
    assert names == ["home(seed=0, index=9)", "home(seed=0, index=19)", "home(seed=0, index=29)"]
    assert all(int(g.name[:-1].split("index=")[1]) % 10 != 9 for g in homes.sample(12, split="training"))


def test_bad_sample_arguments():
    with pytest.raises(ValueError, match="from 1 to 500 for the 'test' split"):
        homes.sample(501, split="test")
    with pytest.raises(ValueError, match="split must be one of"):
        homes.sample(1, split="validation")
    with pytest.raises(ValueError, match="n must be"):
        homes.sample(0)


def test_every_room_is_reachable_from_every_other(some_homes):
    for home in some_homes:
        geometry = home.geometry
        labels, count = components(geometry.mask)
        assert count == 1, geometry.name
        centres = free_cell_centres(geometry.mask, geometry.origin, geometry.resolution)
        for room in home.rooms:
            inside = rasterize(room, geometry.mask.shape, geometry.origin, geometry.resolution) & geometry.mask
            assert inside.sum() * geometry.resolution**2 > 0.5 * room.area, geometry.name
        assert len(centres) == geometry.mask.sum()


def test_homes_look_like_the_benchmark_homes(some_homes):
    for home in some_homes:
        geometry = home.geometry
        assert floorplans.WALL_LINES[0] <= len(geometry.walls) <= floorplans.WALL_LINES[1]
        size = np.ptp(geometry.walls.reshape(-1, 2), axis=0)
        assert (size >= 8.0).all() and (size <= 18.2).all(), geometry.name
        # every wall is a 10 cm thick rectangle: four sides, two of them 10 cm long
        sides = np.linalg.norm(geometry.walls[:, 1] - geometry.walls[:, 0], axis=-1).reshape(-1, 4)
        assert np.allclose(sides.min(1), 0.1, atol=1e-5)


def test_every_room_is_lit_from_inside(some_homes):
    for home in some_homes:
        lights = shapely.points(home.geometry.lights[:, :2])
        for room in home.rooms:
            assert shapely.contains(room, lights).any(), home.geometry.name
        cells = home.geometry.cells_of(home.geometry.lights[:, :2])
        assert home.geometry.mask[cells[:, 0], cells[:, 1]].all()


def test_plans_vary(some_homes):
    """Corridors, L-shaped rooms, L-shaped homes and rooms of many sizes all turn up."""
    def is_rectangle(shape):
        return abs(shape.area - shape.envelope.area) < 1e-6

    corridors = l_rooms = l_homes = 0
    areas = []
    for home in some_homes:
        for room in home.rooms:
            areas.append(room.area)
            x0, y0, x1, y1 = room.bounds
            corridors += min(x1 - x0, y1 - y0) <= 1.4 and max(x1 - x0, y1 - y0) >= 4
            l_rooms += not is_rectangle(room)
        l_homes += not is_rectangle(shapely.union_all(home.rooms))
    assert corridors >= 5 and l_rooms >= 3 and l_homes >= 3
    assert min(areas) < 8 and max(areas) > 25


def test_mask_matches_the_general_rasteriser(some_homes):
    for home in some_homes[:4]:
        geometry = home.geometry
        mask, origin = free_mask(geometry.walls, geometry.resolution)
        assert np.array_equal(origin, geometry.origin) and np.array_equal(mask, geometry.mask)


def test_cache_folder_comes_from_the_environment_or_the_argument(private_cache, tmp_path):
    homes.sample(2)
    assert (private_cache / "homes" / "seed0" / "chunk0000.npz").exists()
    homes.sample(2, cache=tmp_path / "mine")
    assert (tmp_path / "mine" / "homes" / "seed0" / "chunk0000.npz").exists()


def test_cached_homes_are_not_regenerated(monkeypatch):
    homes.sample(3, seed=5)

    def refuse(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(floorplans, "generate", refuse)
    assert len(homes.sample(3, seed=5)) == 3


def _chunk(private_cache, seed):
    return private_cache / "homes" / f"seed{seed}" / "chunk0000.npz"


def test_truncated_cache_is_rebuilt(private_cache):
    expected = homes.sample(3, seed=2)
    path = _chunk(private_cache, 2)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="unreadable"):
        rebuilt = homes.sample(3, seed=2)
    assert all(np.array_equal(a.walls, b.walls) for a, b in zip(expected, rebuilt))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        homes.sample(3, seed=2)  # and the rebuilt file is good


def test_tampered_cache_is_rebuilt(private_cache):
    expected = homes.sample(3, seed=2)
    path = _chunk(private_cache, 2)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["walls"][0] += 1.0  # a flipped value the zip format itself cannot notice
    np.savez(path, **arrays)
    with pytest.warns(UserWarning, match="corrupt"):
        rebuilt = homes.sample(3, seed=2)
    assert np.array_equal(expected[0].walls, rebuilt[0].walls)


def test_stale_cache_is_rebuilt(private_cache, monkeypatch):
    homes.sample(2, seed=4)
    monkeypatch.setattr(homes, "_fingerprint", lambda resolution: "a newer generator")
    with pytest.warns(UserWarning, match="stale"):
        homes.sample(2, seed=4)
    with np.load(_chunk(private_cache, 4)) as data:
        assert str(data["fingerprint"]) == "a newer generator"


def test_parallel_generation_gives_the_same_homes(tmp_path):
    """Two chunks made in two fresh processes hold the homes made here."""
    parallel = homes.sample(200, split="all", seed=6, cache=tmp_path, workers=2)
    for index in (0, 99, 100, 199):
        here = floorplans.generate(6, index).geometry
        assert np.array_equal(parallel[index].walls, here.walls) and np.array_equal(parallel[index].mask, here.mask)
    with pytest.raises(ValueError, match="workers"):
        homes.sample(1, workers=0)
