import numpy as np
import pytest
import shapely

from megastep_geometry import toys
from megastep_geometry.masks import components, free_space

BUILDERS = [toys.box, toys.column, toys.corridor, toys.maze]


@pytest.mark.parametrize("builder", BUILDERS)
def test_toys_are_valid_connected_and_lit_inside(builder):
    geometry = builder()
    assert geometry.validate() is geometry
    assert geometry.walls.dtype == np.float32 and geometry.walls.shape[1:] == (2, 2)
    assert components(geometry.mask)[1] == 1
    free = free_space(geometry.walls)
    for x, y, intensity in geometry.lights:
        assert free.contains(shapely.Point(x, y)) and intensity > 0
    assert geometry.name


def test_box_mask_covers_exactly_its_floor():
    geometry = toys.box(4.0, 3.0)
    assert geometry.mask.sum() * geometry.resolution**2 == pytest.approx(12.0)
    free = free_space(geometry.walls)
    assert free.area == pytest.approx(12.0, abs=1e-4)
    assert free.bounds == pytest.approx((0, 0, 4, 3), abs=1e-5)


def test_walls_are_ten_centimetre_outlines():
    geometry = toys.box(4.0, 3.0)
    lengths = np.linalg.norm(geometry.walls[:, 1] - geometry.walls[:, 0], axis=-1)
    assert len(geometry.walls) == 16
    assert np.isclose(lengths, 0.1).sum() == 8  # the short ends of four wall rectangles


def test_column_is_not_free_space():
    plain, pillar = toys.box(5, 5), toys.column(5, 5, side=1.0)
    assert plain.mask.sum() - pillar.mask.sum() == 100  # 1 m^2 of 10 cm cells
    centre = pillar.cells_of(np.array([[2.5, 2.5]]))[0]
    assert not pillar.mask[tuple(centre)]


def test_maze_is_deterministic_and_seed_dependent():
    a, b, c = toys.maze(6, 7, seed=3), toys.maze(6, 7, seed=3), toys.maze(6, 7, seed=4)
    assert np.array_equal(a.walls, b.walls) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)
    assert a.mask.sum() * a.resolution**2 == pytest.approx(6 * 7 - 0.1 * (6 * 7 - 1) * 0.9, rel=0.15)


def test_maze_is_perfect():
    """A perfect maze of n cells has n - 1 passages: the walls remove all the others."""
    rows, cols = 5, 5
    geometry = toys.maze(rows, cols, cell=1.0, seed=1)
    centres = np.array([[[j + 0.5, i + 0.5] for j in range(cols)] for i in range(rows)]).reshape(-1, 2)
    cells = geometry.cells_of(centres)
    labels, count = components(geometry.mask)
    assert count == 1 and (labels[cells[:, 0], cells[:, 1]] == 0).all()
    free = free_space(geometry.walls)
    passages = 0
    for i in range(rows):
        for j in range(cols):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < rows and j + dj < cols:
                    path = shapely.LineString([(j + 0.5, i + 0.5), (j + dj + 0.5, i + di + 0.5)])
                    passages += free.contains(path)
    assert passages == rows * cols - 1


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: toys.box(0, 3), "width"),
        (lambda: toys.box(3, float("nan")), "height"),
        (lambda: toys.column(2, 2, side=2), "side"),
        (lambda: toys.corridor(-1), "length"),
        (lambda: toys.maze(1, 1), "rows"),
        (lambda: toys.maze(3, 3, cell=0.2), "cell"),
    ],
)
def test_bad_arguments_are_named(call, word):
    with pytest.raises(ValueError, match=word):
        call()
