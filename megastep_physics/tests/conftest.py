"""Fixtures of the physics tests; the helpers live in physics_scenes.py (a unique name, since every
package's tests may run in one pytest process)."""
from __future__ import annotations

import pytest
import torch
from physics_scenes import bench_geometries

from megastep_core import Geometry


@pytest.fixture(scope="session")
def homes() -> list[Geometry]:
    return bench_geometries()


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Runs each test on one CPU thread: the physics' tensors are small, and on a busy machine with
    few cores torch's worker threads wait on each other (measured ten times slower on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
