"""Episode bookkeeping: the torch reference, and the fused kernel (``episodes.cu``) against it, compiled
for the CPU (:mod:`megastep_core.host_kernels`) and, on a GPU, as it is."""
import pytest
import torch

from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_core.testing import devices
from megastep_envs.step.episodes import Episodes
from megastep_envs.step.lifespans import Lifespans

E, A, STEPS = 7, 2, 12


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_envs.step", "episodes.cu", tmp_path_factory.mktemp("kernels"))


def episodes(device, backend):
    return Episodes(E, A, Lifespans(E, 2, 4, device=device, seed=5), backend=backend)


def trace(episodes, device):
    """Every output and the state after each of STEPS steps with seeded rewards and terminations (none, as
    for a task that never terminates, every third step)."""
    inputs = torch.Generator().manual_seed(9)
    out = []
    for step in range(STEPS):
        reward = torch.randn(E, A, generator=inputs).to(device)
        terminated = (torch.rand(E, generator=inputs) < 0.2).to(device) if step % 3 else None
        out.append([t.clone() for t in episodes.step(reward, terminated)])
        spans = episodes.lifespans
        out[-1] += [episodes.lengths.clone(), episodes.returns.clone(), spans.limits.clone(),
                    spans.random.counters.clone()]
    return out


def test_the_reference_counts_ends_and_restarts_episodes():
    run = episodes("cpu", "torch")
    length, ended = torch.zeros(E, dtype=torch.int64), 0
    for _ in range(8):
        limits = run.lifespans.limits.clone()
        terminated, truncated, done, lengths, returns = run.step(torch.ones(E, A), None)  # a task that never ends
        assert not terminated.any()
        length += 1
        assert torch.equal(truncated, length == limits) and torch.equal(done, truncated)
        assert torch.equal(lengths, length) and torch.equal(returns, length[:, None].float().expand(E, A))
        length.masked_fill_(done, 0)  # the return and length were reported; the next episode starts at 0
        assert torch.equal(run.lengths, length) and not run.returns[done].any()
        assert torch.equal(run.lifespans.limits[~done], limits[~done])
        ended += int(done.sum())
    assert ended > E  # every env went through at least one episode
    terminated = torch.tensor([True] + [False] * (E - 1))
    got, truncated, done, _, _ = run.step(torch.ones(E, A), terminated)
    assert got is terminated and done[0] and not truncated[0]  # terminated is never also truncated


def test_the_kernel_keeps_the_books_as_the_torch_reference(library):
    fused = episodes("cpu", "torch")
    fused._kernel = HostKernel(library, "step_episodes")
    for step, (got, want) in enumerate(zip(trace(fused, "cpu"), trace(episodes("cpu", "torch"), "cpu"))):
        for a, b in zip(got, want):
            assert torch.equal(a, b), f"step {step}"


@pytest.mark.parametrize("device", [d for d in devices() if d != "cpu"])
def test_the_kernel_keeps_the_books_as_the_torch_reference_on_the_gpu(device):
    fused = episodes(device, "cuda")
    assert fused._kernel is not None
    for step, (got, want) in enumerate(zip(trace(fused, device), trace(episodes(device, "torch"), device))):
        for a, b in zip(got, want):
            assert torch.equal(a, b), f"step {step}"


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match=r"episodes option backend must be one of"):
        episodes("cpu", "quick")
