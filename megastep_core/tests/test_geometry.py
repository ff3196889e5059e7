import numpy as np
import pytest
from conftest import box_geometry

from megastep_core import Geometry, GeometryError


def test_a_good_geometry_validates(box):
    assert box.validate() is box
    lo, hi = box.extent
    assert lo.tolist() == [0, 0] and hi.tolist() == [4, 3]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: setattr(g, "walls", np.zeros((0, 2, 2), np.float32)), "no walls"),
        (lambda g: g.walls.__setitem__((1, 0, 0), np.nan), "NaN or infinite"),
        (lambda g: g.walls.__setitem__((2, 1, 1), np.inf), "NaN or infinite"),
        (lambda g: g.walls.__setitem__(0, g.walls[0, 0]), "zero length"),
        (lambda g: setattr(g, "lights", np.array([[9.0, 1.0, 1.0]], np.float32)), "outside the walls"),
        (lambda g: setattr(g, "mask", np.zeros((3, 4), bool)), "no free space"),
        (lambda g: setattr(g, "resolution", 0.0), "resolution"),
    ],
)
def test_bad_geometries_are_rejected_by_name(change, message):
    geometry = box_geometry(name="kitchen")
    change(geometry)
    with pytest.raises(GeometryError, match=message) as info:
        geometry.validate()
    assert "'kitchen'" in str(info.value)


def test_cells_and_metres_round_trip():
    geometry = Geometry(box_geometry().walls, [[1, 1, 1]], np.ones((30, 40), bool), 0.1, origin=[-1.0, 2.0])
    cells = np.array([[0, 0], [29, 39], [5, 7]])
    centres = geometry.cell_centres(cells)
    assert np.allclose(centres[0], [-0.95, 2.05])
    assert (geometry.cells_of(centres) == cells).all()
