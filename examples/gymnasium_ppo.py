"""PPO on megastep's Minimal env through the Gymnasium interface alone, in the style of CleanRL's ``ppo.py``.

    python examples/gymnasium_ppo.py --total-steps 200000 --device cuda

Nothing here comes from megastep but the env's id: the envs are made by
``gymnasium.make_vec``, stepped as a Gymnasium vector env, and every tensor
stays on the device. It reads top to bottom: hyperparameters, the network,
then the loop of rollouts and updates. It prints, every update, the stable
names CleanRL logs (``charts/episodic_return``, ``charts/SPS``).

The env resets an episode in the step that ends it (same-step autoreset):
the ``obs`` after an end is the next episode's first, and the finished
episode's last is ``info["final_obs"]``, which the loop bootstraps from where
the episode was cut short (truncated), as the value there is not zero.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import time

import gymnasium
import torch
from torch import nn
from torch.distributions import Categorical

import megastep_envs.adapters.gymnasium as megastep_gymnasium

gymnasium.register_envs(megastep_gymnasium)


@dataclasses.dataclass
class Args:
    env_id: str = "megastep/Minimal-v0"
    """the Gymnasium id"""
    device: str = "cpu"
    """where the envs and the network run"""
    seed: int = 1
    """seeds the envs and the network"""
    total_steps: int = 100_000
    """env steps of the whole run, over all envs"""
    num_envs: int = 64
    """envs stepped together"""
    num_steps: int = 32
    """steps per env in each rollout"""
    learning_rate: float = 1e-3
    gamma: float = 0.95
    gae_lambda: float = 0.95
    update_epochs: int = 4
    minibatches: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5


class Agent(nn.Module):
    """A small MLP over the flattened RGB strip ``(N, C, 3, W)``, with a policy and a value head."""

    def __init__(self, observation_shape: tuple[int, ...], actions: int):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(observation_shape), 64), nn.Tanh(),
                                  nn.Linear(64, 64), nn.Tanh())
        self.actor = nn.Linear(64, actions)
        self.critic = nn.Linear(64, 1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.body(obs)).squeeze(-1)

    def act(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        hidden = self.body(obs)
        policy = Categorical(logits=self.actor(hidden))
        action = policy.sample() if action is None else action
        return action, policy.log_prob(action), policy.entropy(), self.critic(hidden).squeeze(-1)


def train(args: Args) -> list[float]:
    """Trains and returns the mean episodic return of each update that finished an episode."""
    torch.manual_seed(args.seed)
    envs = gymnasium.make_vec(args.env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point",
                              device=args.device, seed=args.seed)
    shape = envs.single_observation_space["rgb"].shape
    agent = Agent(shape, envs.single_action_space.n).to(args.device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    steps, n = args.num_steps, args.num_envs
    obs_buffer = torch.zeros((steps, n, *shape), device=args.device)
    actions = torch.zeros((steps, n), dtype=torch.int64, device=args.device)
    logprobs, rewards, dones, values = (torch.zeros((steps, n), device=args.device) for _ in range(4))

    obs, _ = envs.reset(seed=args.seed)
    obs = obs["rgb"]
    returns, global_step, start = [], 0, time.perf_counter()
    for update in range(1, args.total_steps // (steps * n) + 1):
        finished = []
        for t in range(steps):
            global_step += n
            obs_buffer[t] = obs
            with torch.no_grad():
                action, logprob, _, value = agent.act(obs)
            next_obs, reward, terminated, truncated, info = envs.step(action)
            with torch.no_grad():  # an episode cut short still had a future: bootstrap from its last observation
                reward = reward + args.gamma * agent.value(info["final_obs"]["rgb"]) * truncated
            actions[t], logprobs[t], values[t], rewards[t] = action, logprob, value, reward
            dones[t] = (terminated | truncated).float()
            finished += info["episode"]["r"][info["_episode"]].tolist()
            obs = next_obs["rgb"]

        with torch.no_grad():  # generalised advantage estimation, backwards through the rollout
            advantages = torch.zeros_like(rewards)
            next_value, next_advantage = agent.value(obs), torch.zeros(n, device=args.device)
            for t in reversed(range(steps)):
                carry = 1.0 - dones[t]
                delta = rewards[t] + args.gamma * next_value * carry - values[t]
                next_advantage = delta + args.gamma * args.gae_lambda * carry * next_advantage
                advantages[t], next_value = next_advantage, values[t]
            targets = advantages + values

        flat = lambda x: x.reshape(steps * n, *x.shape[2:])  # noqa: E731
        b_obs, b_actions, b_logprobs = flat(obs_buffer), flat(actions), flat(logprobs)
        b_advantages, b_targets = flat(advantages), flat(targets)
        size = steps * n // args.minibatches
        for _ in range(args.update_epochs):
            for batch in torch.randperm(steps * n, device=args.device).split(size):
                _, logprob, entropy, value = agent.act(b_obs[batch], b_actions[batch])
                ratio = (logprob - b_logprobs[batch]).exp()
                advantage = b_advantages[batch]
                advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
                policy_loss = torch.max(-advantage * ratio,
                                        -advantage * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                value_loss = 0.5 * (value - b_targets[batch]).pow(2).mean()
                loss = policy_loss - args.ent_coef * entropy.mean() + args.vf_coef * value_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        sps = global_step / (time.perf_counter() - start)
        line = f"update={update} global_step={global_step} charts/SPS={sps:.0f} losses/value_loss={value_loss:.4f}"
        if finished:
            returns.append(sum(finished) / len(finished))
            line += f" charts/episodic_return={returns[-1]:.3f}"
        print(line, flush=True)
    envs.close()
    return returns


def parse_args(argv: list[str] | None = None) -> Args:
    """``--total-steps 1000`` and so on, one flag per field of :class:`Args`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field in dataclasses.fields(Args):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    return Args(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    train(parse_args())
