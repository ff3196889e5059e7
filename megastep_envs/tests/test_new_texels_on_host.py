"""Explorer's fused reward kernel (``new_texels.cu``) compiled for the CPU
(:mod:`megastep_core.host_kernels`), against the torch reference: the same pay and the same stamps."""
import pytest
import torch

from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_envs import make
from megastep_envs.tasks.rewards import NewTexels
from megastep_geometry import toys

KERNEL = "new_texels"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_envs.tasks", "new_texels.cu", tmp_path_factory.mktemp("kernels"))


def run(name, agents, geometries):
    options = {"n_agents": agents} if agents > 1 else {}
    env = make(name, 6, geometries=geometries, physics="stop:torch", renderer="raycast:torch", lifespan=(3, 5), seed=2,
               reward="new_texels", **options)
    env.reset()
    return env, [env.step(env.sample_actions()).reward.clone() for _ in range(8)]


@pytest.mark.parametrize("claims", ["in shared memory", "in global memory", "in a full table"])
@pytest.mark.parametrize("name, agents", [("explorer", 1), ("deathmatch", 3)])
def test_the_kernel_pays_as_the_torch_reference(library, monkeypatch, name, agents, claims, pillar_room, room):
    layouts = [pillar_room, room, toys.box(2.5, 4.0)]  # envs of three layouts, each with its own walls
    reference, expected = run(name, agents, layouts)
    monkeypatch.setattr(NewTexels, "_load_kernels", lambda self, device: {KERNEL: HostKernel(library, KERNEL)})
    if claims == "in global memory":
        monkeypatch.setattr(NewTexels, "SHARED_CLAIMS", 0)
    if claims == "in a full table":  # a slot a pixel: a view of distinct new texels fills it, probing far
        monkeypatch.setattr(NewTexels, "SLOTS_PER_PIXEL", 1)
    fused, paid = run(name, agents, layouts)
    assert fused.reward._kernels is not None and reference.reward._kernels is None
    assert sum(float(r.sum()) for r in expected) > 0
    for step, (a, b) in enumerate(zip(paid, expected)):
        assert torch.equal(a, b), f"step {step}"
    assert torch.equal(fused.reward.stamps, reference.reward.stamps)
