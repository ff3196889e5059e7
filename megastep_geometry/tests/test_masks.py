import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from megastep_geometry import masks, toys


def test_grid_covers_the_box_with_padding():
    origin, shape = masks.grid([0.03, -0.41], [2.0, 1.0], resolution=0.1, pad=1)
    assert np.allclose(origin, [-0.1, -0.6])
    assert shape == (17, 22)
    with pytest.raises(ValueError, match="resolution"):
        masks.grid([0, 0], [1, 1], resolution=0)


@given(st.lists(st.tuples(st.integers(-40, 40), st.integers(-40, 40)), min_size=1, max_size=20))
def test_cells_and_metres_round_trip(cells):
    cells = np.array(cells)
    origin = np.array([-1.3, 0.7])
    points = masks.cells_to_metres(cells, origin, 0.05)
    assert np.array_equal(masks.metres_to_cells(points, origin, 0.05), cells)


boxes = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(5, 300), st.integers(5, 300)).map(
        lambda b: (b[0] / 100, b[1] / 100, (b[0] + b[2]) / 100, (b[1] + b[3]) / 100)  # centimetres
    ),
    min_size=1, max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(boxes, st.sampled_from([0.05, 0.1, 0.25]))
def test_box_fast_path_matches_shapely(rects, resolution):
    origin, shape = masks.grid([0, 0], [7, 7], resolution)
    union = shapely.union_all([shapely.box(*r) for r in rects])
    centres = masks.cell_centres(shape, origin, resolution)
    on_edge = shapely.dwithin(union.boundary, shapely.points(centres), 1e-9)
    fast = masks.rasterize_boxes(rects, shape, origin, resolution)
    exact = masks.rasterize(union, shape, origin, resolution)
    assert np.array_equal(fast[~on_edge], exact[~on_edge])


def test_free_space_skips_the_inside_of_thick_walls():
    box = toys.box(3, 2)
    free = masks.free_space(box.walls)
    assert free.area == pytest.approx(6.0, abs=1e-4)
    assert free.bounds == pytest.approx((0, 0, 3, 2), abs=1e-6)


def test_wall_mask_holds_the_walls_and_nothing_far_from_them():
    box = toys.box(3, 2)
    walls = masks.wall_mask(box.walls, box.mask.shape, box.origin, box.resolution)
    centres = masks.cell_centres(box.mask.shape, box.origin, box.resolution)
    inside_walls = shapely.difference(shapely.box(-0.1, -0.1, 3.1, 2.1), shapely.box(0, 0, 3, 2))
    assert walls[shapely.contains_xy(inside_walls, centres[..., 0], centres[..., 1])].all()
    distance = masks.wall_distances(centres.reshape(-1, 2), box.walls).reshape(walls.shape)
    assert not walls[distance > box.resolution].any()


def test_room_labels():
    rooms = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 3, 1)]
    origin, shape = masks.grid([0, 0], [3, 1], 0.1)
    labels = masks.room_labels(rooms, shape, origin, 0.1)
    assert (labels == 0).sum() == 100 and (labels == 1).sum() == 200 and (labels == -1).sum() == labels.size - 300


def test_wall_distances_match_shapely():
    rng = np.random.default_rng(0)
    walls = rng.uniform(0, 5, (30, 2, 2))
    points = rng.uniform(-1, 6, (200, 2))
    lines = shapely.MultiLineString(list(walls))
    expected = shapely.distance(lines, shapely.points(points))
    assert np.allclose(masks.wall_distances(points, walls, chunk=64), expected)
    keep = masks.clear_points(points, walls, 0.3)
    assert np.array_equal(keep, expected > 0.3)


@pytest.mark.parametrize("resolution", [0.05, 0.1, 0.3])
def test_clear_mask_matches_measured_distances(resolution):
    rng = np.random.default_rng(1)
    walls = rng.uniform(0, 4, (25, 2, 2))  # slanted walls too
    walls[:5, 1, 1] = walls[:5, 0, 1]  # and some horizontal ones
    origin, shape = masks.grid([0, 0], [4, 4], resolution)
    mask = rng.random(shape) < 0.8
    clear = masks.clear_mask(mask, origin, resolution, walls, 0.23)
    centres = masks.cell_centres(shape, origin, resolution).reshape(-1, 2)
    expected = mask & (masks.wall_distances(centres, walls) > 0.23).reshape(shape)
    assert np.array_equal(clear, expected)


def test_components():
    mask = np.zeros((5, 7), bool)
    mask[1, 1:3] = True
    mask[3, :] = True
    mask[0, 6] = True
    mask[1, 6] = True  # touches (0, 6) but only diagonally touches nothing else
    labels, count = masks.components(mask)
    assert count == 3
    assert labels[1, 1] == labels[1, 2] != labels[3, 0]
    assert (labels[~mask] == -1).all()
