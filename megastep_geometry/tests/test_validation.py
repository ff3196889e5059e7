"""Every kind of geometry megastep cannot simulate is refused, naming the geometry and the problem."""
import numpy as np
import pytest

from megastep_core import Geometry, GeometryError, build_scenery
from megastep_geometry import toys


def _broken(change):
    box = toys.box(3, 3)
    parts = dict(walls=box.walls.copy(), lights=box.lights.copy(), mask=box.mask.copy(),
                 resolution=box.resolution, origin=box.origin, name="broken box")
    change(parts)
    return Geometry(**parts)


def _set(key, index, value):
    def change(parts):
        parts[key][index] = value
    return change


CASES = {
    "nan wall": (_set("walls", (2, 0, 1), np.nan), r"walls \[2\] have NaN or infinite"),
    "infinite wall": (_set("walls", (5, 1, 0), np.inf), r"walls \[5\] have NaN or infinite"),
    "infinite light": (_set("lights", (0, 0), np.inf), "lights have NaN or infinite"),
    "nan intensity": (_set("lights", (0, 2), np.nan), "lights have NaN or infinite"),
    "zero-length wall": (lambda p: p["walls"].__setitem__((3, 1), p["walls"][3, 0]), r"walls \[3\] have zero length"),
    "no walls": (lambda p: p.update(walls=np.zeros((0, 2, 2))), "has no walls"),
    "light outside": (_set("lights", (0, 0), 40.0), r"lights \[0\] lie outside the walls' extent"),
    "no free space": (lambda p: p.update(mask=np.zeros_like(p["mask"])), "has no free space"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_geometry_is_refused(case):
    change, message = CASES[case]
    geometry = _broken(change)
    with pytest.raises(GeometryError, match=f"geometry 'broken box': .*{message}"):
        geometry.validate()


@pytest.mark.parametrize("case", ["nan wall", "no free space"])
def test_worlds_refuse_bad_geometry_too(case):
    change, message = CASES[case]
    with pytest.raises(GeometryError, match=message):
        build_scenery([toys.box(), _broken(change)], n_agents=1)


def test_unnamed_geometry_says_so():
    geometry = _broken(lambda p: p.update(mask=np.zeros_like(p["mask"]), name=""))
    with pytest.raises(GeometryError, match=r"geometry \(unnamed\): has no free space"):
        geometry.validate()


def test_good_geometry_passes():
    geometry = _broken(lambda parts: None)
    assert geometry.validate() is geometry
