from pathlib import Path

import numpy as np
import pytest

from megastep_core import GeometryError
from megastep_geometry import toys
from megastep_geometry.layouts import load_layouts, save_layouts, spawn_points
from megastep_geometry.masks import wall_distances

REPO = Path(__file__).resolve().parents[2]
# the benchmark layouts, or the repo's own copy of them for clones without ../shared
BENCH = next((p for p in (REPO.parent / "shared" / "bench" / "layouts.npz", REPO / "testdata" / "layouts.npz")
              if p.exists()), None)


def _bench_format(path, geometries):
    """Writes only the arrays the benchmark's file has: no masks, no names."""
    np.savez(
        path,
        walls=np.concatenate([g.walls for g in geometries]),
        wall_counts=np.array([len(g.walls) for g in geometries], np.int32),
        lights=np.concatenate([g.lights for g in geometries]),
        light_counts=np.array([len(g.lights) for g in geometries], np.int32),
        spawns=np.stack([spawn_points(g) for g in geometries]),
    )


def test_round_trip_keeps_everything(tmp_path):
    geometries = [toys.box(3, 4), toys.maze(4, 5, seed=2), toys.column()]
    path = save_layouts(tmp_path / "a.npz", geometries)
    loaded = load_layouts(path)
    assert len(loaded) == 3
    for before, after in zip(geometries, loaded):
        assert np.array_equal(before.walls, after.walls)
        assert np.array_equal(before.lights, after.lights)
        assert np.array_equal(before.mask, after.mask)
        assert np.allclose(before.origin, after.origin) and before.resolution == pytest.approx(after.resolution)
        assert after.name == before.name
        assert after.spawns.shape == (256, 2)
        assert wall_distances(after.spawns, after.walls).min() >= 0.156
    with np.load(path, allow_pickle=False) as data:
        assert data["walls"].dtype == np.float32 and data["spawns"].shape == (3, 256, 2)


def test_files_without_masks_get_them_from_walls(tmp_path):
    geometries = [toys.box(3, 4), toys.maze(4, 5, seed=2)]
    _bench_format(tmp_path / "b.npz", geometries)
    loaded = load_layouts(tmp_path / "b.npz")
    for before, after in zip(geometries, loaded):
        assert np.array_equal(before.mask, after.mask) and np.allclose(before.origin, after.origin)
        assert after.name.startswith("b.npz[")


@pytest.mark.skipif(BENCH is None, reason="the benchmark layouts are not checked out here")
def test_a_file_of_no_layouts_holds_no_geometries(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, walls=np.zeros((0, 2, 2), np.float32), wall_counts=np.zeros(0, np.int32),
             lights=np.zeros((0, 3), np.float32), light_counts=np.zeros(0, np.int32))
    assert load_layouts(path) == []


def test_benchmark_layouts_load():
    loaded = load_layouts(BENCH)
    assert len(loaded) == 64
    for geometry in loaded:
        assert 88 <= len(geometry.walls) <= 368 and geometry.mask.sum() > 1000


def test_malformed_files_name_the_file(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(GeometryError, match="junk.npz"):
        load_layouts(junk)
    np.savez(tmp_path / "partial.npz", walls=np.zeros((4, 2, 2), np.float32))
    with pytest.raises(GeometryError, match="partial.npz.*lacks"):
        load_layouts(tmp_path / "partial.npz")
    box = toys.box()
    np.savez(tmp_path / "counts.npz", walls=box.walls, wall_counts=np.array([3]), lights=box.lights,
             light_counts=np.array([len(box.lights)]))
    with pytest.raises(GeometryError, match="counts.npz.*sum"):
        load_layouts(tmp_path / "counts.npz")


def test_pickled_arrays_are_refused(tmp_path):
    box = toys.box()
    np.savez(tmp_path / "pickle.npz", walls=box.walls, wall_counts=np.array([16]), lights=box.lights,
             light_counts=np.array([len(box.lights)]), names=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(GeometryError, match="pickle.npz"):
        load_layouts(tmp_path / "pickle.npz")


def test_invalid_geometry_in_a_file_is_named(tmp_path):
    box = toys.box()
    walls = box.walls.copy()
    walls[3] = np.nan
    np.savez(tmp_path / "nan.npz", walls=walls, wall_counts=np.array([16]), lights=box.lights,
             light_counts=np.array([len(box.lights)]))
    with pytest.raises(GeometryError, match=r"nan.npz\[0\].*NaN"):
        load_layouts(tmp_path / "nan.npz")


def test_save_needs_geometries(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        save_layouts(tmp_path / "none.npz", [])


def test_a_text_file_named_npz_is_not_a_layouts_file(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("walls: four\n")
    with pytest.raises(GeometryError, match=r"notes.npz: not a layouts file: a layouts file is a .npz \(zip\) "
                                            r"archive, .* starts b'walls: four\\n'") as caught:
        load_layouts(text)
    assert "allow_pickle" not in str(caught.value)
