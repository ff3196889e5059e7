"""megastep's envs as PettingZoo ``ParallelEnv`` environments (the ``pettingzoo`` extra)::

    from megastep_envs.adapters.pettingzoo import MegastepParallelEnv

    env = MegastepParallelEnv("deathmatch", device="cpu")
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

How it maps onto the batch
--------------------------

A megastep env is a batch of ``E`` homes of ``A`` agents; a ``ParallelEnv`` is
one home. :class:`MegastepParallelEnv` holds a megastep env of ``E = 1``, and
agent ``"agent_{a}"`` is row ``a`` of its agent axis: its observation is
``obs[name][0, a]`` as a NumPy array, its action goes to ``actions[0, a]``,
its reward is ``reward[0, a]``. Single-agent envs (Minimal, Explorer,
PointGoal) are a ``ParallelEnv`` of one agent, ``"agent_0"``.

A home's episode ends for all its agents at once (the done flags of megastep's
envs are per home: Deathmatch's agents respawn rather than die), so every
agent is terminated or truncated in the same step, the step returns each
agent's *final* observation (megastep's ``info["final_obs"]``), and
``agents`` is then empty until ``reset()``.

Stepping one home at a time gives up megastep's speed, which comes from
stepping thousands together: this adapter is for tools that take PettingZoo
envs (PufferLib's emulation, SuperSuit's vectorisation, multi-agent libraries).
For throughput, use the Gymnasium vector env, where every agent is a sub-env,
or the TorchRL env, which nests agents under ``"agents"`` with batch
``(E, A)`` (:doc:`/tutorials/multiagent`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pettingzoo import ParallelEnv

from megastep_envs.adapters.gymnasium import to_gymnasium_space
from megastep_envs.registry import make


class MegastepParallelEnv(ParallelEnv):
    """One home of a megastep env as a PettingZoo ``ParallelEnv``; see the module docs for the mapping.

    :param env: the env's name (``deathmatch``, or a single-agent env).
    :param render_mode: None, or ``"rgb_array"`` for frames of the plan and views, as ``megastep demo`` draws.
    :param seed: seeds the layout, spawns and lifespans; ``reset(seed=...)`` rebuilds the env with another.
    :param options: anything the env's class takes (``device``, ``n_agents``, ``geometries``, ``lifespan``, ...).
    """

    metadata = {"name": "megastep_v0", "render_modes": ["rgb_array"], "is_parallelizable": True}

    def __init__(self, env: str = "deathmatch", render_mode: str | None = None, seed: int = 0, **options):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.name, self.options = env, options
        self.env = make(env, 1, seed=seed, **options)
        self.seed_used, self.fresh = seed, True
        self.possible_agents = [f"agent_{a}" for a in range(self.env.n_agents)]
        self.agents: list[str] = []
        observation_space = to_gymnasium_space(self.env.observation_space)
        action_space = to_gymnasium_space(self.env.action_space)
        self.observation_spaces = {agent: observation_space for agent in self.possible_agents}
        self.action_spaces = {agent: action_space for agent in self.possible_agents}
        self._figure = None

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    def _agent_rows(self, x: torch.Tensor) -> np.ndarray:
        """Home 0's ``(A, ...)`` rows of an ``(1, A, ...)`` tensor, or of a single-agent ``(1, ...)`` one."""
        x = x[0] if self.env.multi_agent else x
        return x.detach().cpu().numpy()

    def _per_agent(self, obs: dict[str, torch.Tensor]) -> dict[str, dict[str, np.ndarray]]:
        rows = {name: self._agent_rows(value) for name, value in obs.items()}
        return {agent: {name: value[a] for name, value in rows.items()} for a, agent in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Starts a new episode with every agent. A ``seed`` other than the current one rebuilds the env
        with it, so that the same seed always gives the same episodes. ``options`` are ignored, as
        PettingZoo's own envs ignore those they do not know (its API test passes some)."""
        if seed is not None and (seed != self.seed_used or not self.fresh):
            self.env = make(self.name, 1, seed=int(seed), **self.options)
            self.seed_used = int(seed)
        self.fresh = False
        obs = self.env.reset().obs
        self.agents = list(self.possible_agents)
        return self._per_agent(obs), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, Any]):
        """Steps every agent; ``actions`` maps each agent in :attr:`agents` to an integer action."""
        if not self.agents:
            raise RuntimeError("every agent's episode is over: call reset() before step()")
        if set(actions) != set(self.agents):
            raise ValueError(f"actions must have one entry for each agent in env.agents {self.agents}, got "
                             f"{sorted(actions)}")
        self.fresh = False
        row = torch.tensor([int(actions[agent]) for agent in self.possible_agents], device=self.env.device)
        step = self.env.step(row[None] if self.env.multi_agent else row)
        done = bool(step.info["_final_obs"][0])
        obs = self._per_agent(step.info["final_obs"] if done else step.obs)
        reward = self._agent_rows(step.reward).reshape(-1)
        terminated, truncated = bool(step.terminated[0]), bool(step.truncated[0])
        agents = self.agents
        self.agents = [] if done else agents
        return (obs, {agent: float(reward[a]) for a, agent in enumerate(agents)},
                {agent: terminated for agent in agents}, {agent: truncated for agent in agents},
                {agent: {} for agent in agents})

    def render(self):
        """An RGB frame ``(H, W, 3)`` of the plan and every agent's view, or None without ``render_mode``."""
        if self.render_mode != "rgb_array":
            return None
        from megastep_envs.tools.plotting import figure_to_array, plot_state

        self._figure = plot_state(self.env.state(0), self._figure)
        return figure_to_array(self._figure)

    def close(self) -> None:
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure)
            self._figure = None
