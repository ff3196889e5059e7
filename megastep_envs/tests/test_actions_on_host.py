"""The action check kernel (``actions.cu``) compiled for the CPU (:mod:`megastep_core.host_kernels`),
against the torch reference: the same clamped actions, and the flag raised exactly when one was out of range."""
import pytest
import torch

from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_core.spaces import Discrete
from megastep_envs.step.checks import ActionCheck, ActionError


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_envs.step", "actions.cu", tmp_path_factory.mktemp("kernels"))


@pytest.mark.parametrize("actions", [[[0, 6], [3, 2]], [[-1, 6], [7, 2]], [[0, 0], [0, 99]]])
def test_the_kernel_clamps_and_flags_as_the_torch_reference(library, actions):
    actions = torch.tensor(actions)
    fused = ActionCheck(Discrete(7), (2, 2), "cpu", backend="torch")
    fused._kernel = HostKernel(library, "clamp_actions")
    bad = bool(((actions < 0) | (actions >= 7)).any())
    assert torch.equal(fused.sanitize(actions), actions.clamp(0, 6))
    assert bool(fused.values.flag) == bad
    reference = ActionCheck(Discrete(7), (2, 2), "cpu", backend="torch")
    if bad:
        with pytest.raises(ActionError, match=r"integers in \[0, 7\)"):
            reference.sanitize(actions)
    else:
        assert torch.equal(reference.sanitize(actions), actions)
