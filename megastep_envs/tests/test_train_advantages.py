"""GAE in one vectorised pass equals the step-by-step recurrence."""
import pytest
import torch

from megastep_envs.train.advantages import gae, gae_loop


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 32, 64, 100])
@pytest.mark.parametrize("done_rate", [0.0, 0.05, 0.5, 1.0])
def test_the_vectorised_pass_equals_the_loop(steps, done_rate):
    generator = torch.Generator().manual_seed(steps * 100 + int(done_rate * 10))
    rows = 9
    rewards = torch.randn(steps, rows, generator=generator, dtype=torch.float64)
    values = torch.randn(steps, rows, generator=generator, dtype=torch.float64)
    dones = torch.rand(steps, rows, generator=generator) < done_rate
    next_value = torch.randn(rows, generator=generator, dtype=torch.float64)
    fast = gae(rewards, values, dones, next_value, 0.99, 0.95)
    slow = gae_loop(rewards, values, dones, next_value, 0.99, 0.95)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_float32_stays_within_rounding_over_a_long_rollout():
    generator = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(2, 256, 50, generator=generator)
    dones = torch.rand(256, 50, generator=generator) < 0.01
    next_value = torch.randn(50, generator=generator)
    fast, _ = gae(rewards, values, dones, next_value, 0.999, 0.99)
    slow, _ = gae_loop(rewards.double(), values.double(), dones, next_value.double(), 0.999, 0.99)
    assert (fast.double() - slow).norm() / slow.norm() < 1e-5
