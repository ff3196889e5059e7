"""Small, fast worlds for the env tests: toy rooms rather than procedural homes."""
import pytest

from megastep_geometry import toys


@pytest.fixture(scope="session")
def room():
    """A 3 x 3 m empty room."""
    return toys.box(3.0, 3.0)


@pytest.fixture(scope="session")
def open_room():
    """A 4 x 4 m empty room, for PointGoal's greedy-against-random test."""
    return toys.box(4.0, 4.0)


@pytest.fixture(scope="session")
def pillar_room():
    """A 4 x 4 m room with a 1 m column in the middle: agents can hide from each other."""
    return toys.column(4.0, 4.0, 1.0)
