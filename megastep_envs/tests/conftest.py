"""Small, fast worlds for the env tests (toy rooms rather than procedural homes), and one thread for tiny nets."""
import functools
import warnings

import pytest
import torch

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


@pytest.fixture
def one_thread():
    """One intra-op thread: the training tests' networks and batches are tiny, and on a busy 2-core machine a
    second OpenMP thread waiting for a core makes each small convolution many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def traced_alike(monkeypatch):
    """``run(build, trace) -> (got, expected)``: ``trace(build())`` with an env's compilable methods run plain, then
    with a new ``build()`` whose compilable methods the compiler traces (its ``eager`` backend, which runs on a CPU),
    where a method that falls back to running uncompiled (it warns) is an error."""
    from torch._dynamo.utils import counters

    import megastep_envs.step.env
    from megastep_envs.step.compiling import compiling

    def run(build, trace):
        expected = trace(build())
        monkeypatch.setattr(megastep_envs.step.env, "compiling", functools.partial(compiling, backend="eager"))
        env = build()
        env.compiled = True
        counters.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = trace(env)
        return got, expected

    return run
