"""The collector on the CPU: truncated episodes earn the value of their final observation, discounted once."""
import pytest
import torch

from megastep_envs.registry import make
from megastep_envs.train.model import Agent
from megastep_envs.train.rollout import Collector, Finals, observe, per_agent, unsqueeze


class Watched(Collector):
    """Keeps what each step gave before the collector adds the bootstrap: the reference's inputs."""

    def _observe(self, step) -> None:
        self.seen.append((per_agent(self.env, step.truncated).clone(), per_agent(self.env, step.reward).float(),
                          {k: v.clone() for k, v in observe(self.env, step.info["final_obs"]).items()},
                          tuple(m.clone() for m in self.memory)))
        super()._observe(step)


@pytest.mark.parametrize("kept", [None, 1])
def test_truncated_rows_earn_the_discounted_value_of_their_final_observation(kept, pillar_room):
    """Every cut row gets ``gamma * V(final observation, its memory)`` added to its last reward; with room for
    ``kept`` rows a step, the rest get the value before the step and are counted."""
    torch.manual_seed(0)
    env = make("explorer", 8, geometries=[pillar_room], lifespan=(3, 5), seed=3)
    model = Agent(env.observation_space, env.action_space, hidden=16, lstm=True)
    collector = Watched(env, model, "explorer", env.reset().obs, steps=12, gamma=0.9,
                        generator=torch.Generator().manual_seed(1))
    if kept is not None:
        collector.bootstrap_rows = kept
        collector.finals = Finals(12, kept, observe(env, env.reset().obs), collector.memory, collector.device)
    collector.seen = []
    rollout, _ = collector.collect()
    cut = missed = 0
    with torch.no_grad():
        for t, (truncated, reward, final, memory) in enumerate(collector.seen):
            value = model(unsqueeze(final), memory, torch.zeros(1, len(reward), dtype=torch.bool))[1][0]
            if kept is not None:  # the first `kept` cut rows fit; the others take the value before the step
                fits = truncated & (truncated.cumsum(0) <= kept)
                value = torch.where(fits, value, rollout.values[t])
                missed += int((truncated & ~fits).sum())
            expected = reward + 0.9 * value * truncated
            assert torch.allclose(rollout.rewards[t], expected, atol=1e-6), f"step {t}"
            cut += int(truncated.sum())
    assert cut > 0
    assert collector.statistics[4].item() == missed
    if kept is not None:
        assert missed > 0
