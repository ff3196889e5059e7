import numpy as np
import pytest

from megastep_core import Geometry


def box_geometry(width=4.0, height=3.0, name="box") -> Geometry:
    """A rectangular room with one light in its middle, and a mask at 10 cm."""
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    walls = np.stack([corners, np.roll(corners, -1, 0)], 1)
    mask = np.ones((int(height / 0.1), int(width / 0.1)), bool)
    return Geometry(walls, [[width / 2, height / 2, 1.0]], mask, 0.1, name=name)


@pytest.fixture
def box():
    return box_geometry()
