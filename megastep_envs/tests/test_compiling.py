"""Compilable methods: each compiles as one graph, changes no result, and falls back with a warning when it cannot."""
import warnings

import pytest
import torch

from megastep_envs import make
from megastep_envs.step.compiling import compilable, compiling, unavailable


@compilable
def _twice_plus_one(x):
    return x * 2 + 1


@compilable
def _branches_on_a_value(x):
    return x * 2 if x.sum() > 0 else x  # a branch on a device value: no single graph


def test_a_compilable_function_is_the_plain_one_outside_a_compiling_block():
    x = torch.arange(3.0)
    assert torch.equal(_twice_plus_one(x), torch.tensor([1.0, 3.0, 5.0]))
    assert _twice_plus_one.eager(x).tolist() == [1.0, 3.0, 5.0]


def test_a_function_the_compiler_cannot_take_whole_runs_as_written_with_a_warning():
    x = torch.arange(3.0)
    with compiling(True, backend="eager"), pytest.warns(UserWarning, match="_branches_on_a_value runs uncompiled"):
        assert _branches_on_a_value(x).tolist() == [0.0, 2.0, 4.0]
    with compiling(True, backend="eager"), warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once: later calls just run as written
        assert _branches_on_a_value(x).tolist() == [0.0, 2.0, 4.0]


def test_an_error_of_the_function_itself_still_raises():
    with compiling(True, backend="eager"), pytest.raises(RuntimeError):
        _twice_plus_one(torch.zeros(2, 3) @ torch.zeros(2, 3))


def test_fused_methods_compile_only_for_gpus():
    assert "GPUs" in unavailable(torch.device("cpu"))


def trace(env, steps=8):
    """The observations of a reset, then the observations, rewards and flags of some steps, cloned."""
    out = [[v.clone() for v in env.reset().obs.values()]]
    for _ in range(steps):
        step = env.step(env.sample_actions())
        out.append([*(v.clone() for v in step.obs.values()), step.reward.clone(), step.terminated.clone(),
                    step.truncated.clone()])
    return out


@pytest.mark.parametrize("name, graphs", [("minimal", 2), ("explorer", 2), ("pointgoal", 3), ("deathmatch", 2)])
def test_every_compilable_method_of_an_env_compiles_whole_and_changes_nothing(name, graphs, pillar_room, traced_alike):
    """With the compiler's tracing but no code generation (the ``eager`` backend, which runs on a CPU), every
    compilable method of each env and its reward is one graph, and the steps are those of the plain methods."""
    options = dict(geometries=[pillar_room], physics="stop:torch", renderer="raycast:torch", lifespan=(3, 5), seed=4)
    got, expected = traced_alike(lambda: make(name, 3, **options), trace)
    for step, (a_step, b_step) in enumerate(zip(got, expected)):
        for a, b in zip(a_step, b_step):
            assert torch.equal(a, b), f"step {step}"
