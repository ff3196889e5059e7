"""The soak: agents driven by random forward-biased momentum actions through the benchmark homes.

Every step of every agent is checked: its centre crosses no wall, comes no
closer than its radius to a wall along the way, and ends clear of the other
agents. The count of failures must be zero: at least 200,000 agent-steps on
the CPU, and 10 million on a GPU.
"""
import pytest
from soak_common import soak


@pytest.mark.slow
@pytest.mark.parametrize("name, options", [("stop:torch", {}), ("slide:torch", {"record_paths": True})])
def test_cpu_soak(homes, name, options):
    n_envs, n_agents, n_steps = 64, 4, 800  # 204,800 agent-steps
    failures, seconds = soak(homes, name, n_envs, n_agents, n_steps, "cpu", options)
    print(f"{name}: {n_envs * n_agents * n_steps} agent-steps, physics {seconds:.1f} s, {failures}")
    assert failures == {"crossings": 0, "penetrations": 0, "overlaps": 0}


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("name, options", [("stop:torch", {}), ("slide:torch", {"record_paths": True})])
def test_gpu_soak_torch_backends(homes, name, options):
    n_envs, n_agents, n_steps = 16384, 4, 153  # 10,027,008 agent-steps
    failures, seconds = soak(homes, name, n_envs, n_agents, n_steps, "cuda", options)
    print(f"{name} on cuda: {n_envs * n_agents * n_steps} agent-steps, physics {seconds:.1f} s, {failures}")
    assert failures == {"crossings": 0, "penetrations": 0, "overlaps": 0}
