"""megastep's envs as Gymnasium environments (the ``gymnasium`` extra).

Importing this module registers one id per env, each with a vector entry point::

    import gymnasium
    import megastep_envs.adapters.gymnasium as megastep_gymnasium

    gymnasium.register_envs(megastep_gymnasium)  # megastep/Minimal-v0, Explorer-v0, PointGoal-v0, Deathmatch-v0
    envs = gymnasium.make_vec("megastep/Explorer-v0", num_envs=4096, vectorization_mode="vector_entry_point",
                              device="cuda")

Gymnasium 1.x has no plugin mechanism that would register them on ``import
gymnasium``; the module can instead be named in the id, which imports it
first: ``gymnasium.make_vec("megastep_envs.adapters.gymnasium:megastep/Explorer-v0", ...)``.

:class:`MegastepVectorEnv` keeps every tensor on the env's device, as torch
tensors: observations (a dict), rewards, flags, and the actions it takes.
Gymnasium's ``ArrayConversion`` wrapper turns them into NumPy arrays for the
wrappers of ``gymnasium.wrappers.vector``, and ``NumpyToTorch`` back
(:doc:`/tutorials/gymnasium`).

Its ``autoreset_mode`` is one of Gymnasium's three:

``SAME_STEP`` (the default, and what the envs do)
    a sub-env whose episode ended is reset within the step that ended it; its
    ``obs`` is already the first of the next episode, and ``info["final_obs"]``
    (where ``info["_final_obs"]``) holds the last of the finished one. No extra
    work: the fastest.
``NEXT_STEP`` (what Gymnasium's observation wrappers need)
    the step that ends an episode returns its last observation; the next step
    ignores that sub-env's action and returns the first observation of a new
    episode, with reward 0 and both flags False. Each step also resets the
    sub-envs that ended in the step before, with
    :meth:`Env.reset(mask) <megastep_envs.step.env.Env.reset>`: it renders those
    envs once more, and waits for nothing on a GPU.
``DISABLED``
    like ``NEXT_STEP`` but the caller resets finished sub-envs itself, with
    ``reset(options={"reset_mask": mask})``; stepping one it has not reset goes
    on with a new episode the env already began.

With ``episode_statistics=True`` (the default) finished episodes are reported
as Gymnasium's ``RecordEpisodeStatistics`` does, on the device and without
waiting for it: ``info["episode"]`` with ``"r"`` (return), ``"l"`` (length in
steps) and ``"t"`` (seconds since the episode began), valid where
``info["_episode"]``. Pass ``episode_statistics=False`` to wrap the env in
``RecordEpisodeStatistics`` instead, which refuses an info that has them
already.

In Deathmatch each *agent* is a sub-env (they act, and are paid, separately):
``num_envs`` counts agents, and must be a multiple of the agents per home.

:class:`MegastepEnv` is a single env with NumPy observations and actions, as
``gymnasium.make("megastep/Minimal-v0")`` returns: for tools that need one;
far slower per step than the vector env, since megastep's speed comes from
stepping thousands at once.
"""
from __future__ import annotations

import time
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from megastep_core import spaces as megastep_spaces
from megastep_envs.modules.observations import where_envs
from megastep_envs.registry import ENVS, env_class, make

IDS = {"minimal": "megastep/Minimal-v0", "explorer": "megastep/Explorer-v0", "pointgoal": "megastep/PointGoal-v0",
       "deathmatch": "megastep/Deathmatch-v0"}
"""The Gymnasium id of each env."""


def to_gymnasium_space(space) -> gymnasium.Space:
    """A per-agent :mod:`megastep_core.spaces` space as the Gymnasium space of one sub-env."""
    if isinstance(space, megastep_spaces.Box):
        dtype = {torch.float32: np.float32, torch.float64: np.float64, torch.uint8: np.uint8}[space.dtype]
        return gymnasium.spaces.Box(space.low, space.high, shape=space.shape, dtype=dtype)
    if isinstance(space, megastep_spaces.Discrete):
        return gymnasium.spaces.Discrete(space.n)
    if isinstance(space, megastep_spaces.Dict):
        return gymnasium.spaces.Dict({key: to_gymnasium_space(value) for key, value in space.items()})
    raise TypeError(f"no Gymnasium space for {space!r}")


def to_autoreset_mode(mode) -> AutoresetMode:
    """``mode`` as an :class:`~gymnasium.vector.AutoresetMode`: one, or its value (``"NextStep"``) or name
    (``"next_step"``)."""
    if isinstance(mode, AutoresetMode):
        return mode
    for member in AutoresetMode:
        if isinstance(mode, str) and mode in (member.value, member.name, member.name.lower()):
            return member
    choices = ", ".join(f"AutoresetMode.{m.name} ({m.value!r})" for m in AutoresetMode)
    raise ValueError(f"autoreset_mode must be one of {choices}, got {mode!r}")


class MegastepVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` sub-envs of one megastep env, stepped together, with torch tensors on its device.

    :param env: the env's name (``minimal``, ``explorer``, ``pointgoal``, ``deathmatch``).
    :param num_envs: sub-envs; for Deathmatch, agents (homes times agents per home).
    :param seed: seeds layouts, spawns and lifespans; ``reset(seed=...)`` rebuilds the env with another.
    :param autoreset_mode: ``SAME_STEP``, ``NEXT_STEP`` or ``DISABLED`` (see the module docs).
    :param episode_statistics: report finished episodes in ``info["episode"]`` (see the module docs).
    :param options: anything the env's class takes (``device``, ``physics``, ``renderer``, ``n_agents``,
        ``cuda_graph``: with it, each step's results are cloned, since the graph overwrites them, ...).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env: str, num_envs: int = 64, seed: int = 0, *, autoreset_mode=AutoresetMode.SAME_STEP,
                 episode_statistics: bool = True, **options):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.metadata = {**self.metadata, "autoreset_mode": to_autoreset_mode(autoreset_mode)}
        self.episode_statistics = bool(episode_statistics)
        self.name = env
        self.options = options
        agents = options.get("n_agents", 4) if env_class(env).multi_agent else 1
        if num_envs % agents:
            raise ValueError(f"num_envs counts agents in {env}: it must be a multiple of the {agents} agents per "
                             f"home, got {num_envs}")
        self.homes = int(num_envs) // agents
        self.env = make(env, self.homes, seed=seed, **options)
        self.seed_used, self.fresh = seed, True
        self.num_envs = int(num_envs)
        self.device = self.env.device
        self.single_observation_space = to_gymnasium_space(self.env.observation_space)
        self.single_action_space = to_gymnasium_space(self.env.action_space)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.started = torch.zeros(self.homes, dtype=torch.float64, device=self.device)
        # (E,) bool: homes whose episode ended in the last step, which NEXT_STEP starts anew in this one
        self.restarting = torch.zeros(self.homes, dtype=torch.bool, device=self.device)

    @property
    def mode(self) -> AutoresetMode:
        return self.metadata["autoreset_mode"]

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        """``(E, ...)`` or ``(E, A, ...)`` to one row per sub-env; per-home flags repeat for its agents."""
        if not self.env.multi_agent:
            return x
        if x.dim() == 1:
            return x.repeat_interleave(self.env.n_agents)
        return x.reshape(self.num_envs, *x.shape[2:])

    def _homes(self, mask) -> torch.Tensor:
        """A ``(num_envs,)`` mask of sub-envs (NumPy or torch) as the ``(E,)`` mask of their homes; the agents
        of a home reset together, so a home resets where any of its agents is asked to."""
        mask = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask, device=self.device)
        if mask.dtype != torch.bool or mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must be a ({self.num_envs},) bool array, got "
                             f"{mask.dtype} {tuple(mask.shape)}")
        return mask.reshape(self.homes, -1).any(1)

    def _observations(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: self._rows(value) for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Starts every sub-env anew, or with ``options={"reset_mask": mask}`` (``(num_envs,)`` bool) those
        where ``mask`` is True. A ``seed`` other than the current one rebuilds the env with it, so that the
        same seed always gives the same episodes."""
        super().reset(seed=seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise ValueError(f"reset options: only 'reset_mask' is supported, got {sorted(options)}")
        if mask is not None and not self.fresh:
            homes = self._homes(mask)
            obs = self.env.reset(homes).obs
            self.started = torch.where(homes, time.perf_counter(), self.started)
            self.restarting &= ~homes
            return self._observations(obs), {}
        if seed is not None and (seed != self.seed_used or not self.fresh):
            self.env = make(self.name, self.homes, seed=int(seed), **self.options)
            self.seed_used = int(seed)
        self.fresh = False
        obs, _ = self.env.reset()
        self.started.fill_(time.perf_counter())
        self.restarting.zero_()
        return self._observations(obs), {}

    def step(self, actions):
        """Steps every sub-env; ``actions`` is ``(num_envs,)`` integers, a tensor (moved to the env's device)
        or anything NumPy can read."""
        self.fresh = False
        actions = torch.as_tensor(np.asarray(actions) if not torch.is_tensor(actions) else actions,
                                  device=self.device)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {tuple(actions.shape)}")
        step = self.env.step(actions.reshape(self.env.batch))
        if self.env.cuda_graph:  # a vector env's results are the caller's to keep
            step = step.clone()
        obs, reward, terminated, truncated = step.obs, step.reward, step.terminated, step.truncated
        done = step.info["_final_obs"]
        info = {}
        if self.mode is AutoresetMode.SAME_STEP:
            info |= {"final_obs": self._observations(step.info["final_obs"]), "_final_obs": self._rows(done)}
        else:
            # the episode's last observation now, and the first of the next one with the following step
            obs = {name: where_envs(done, step.info["final_obs"][name], value) for name, value in obs.items()}
        if self.mode is AutoresetMode.NEXT_STEP:
            # the env began new episodes in the homes that ended last step, and this step went on with them:
            # they start again, as if this step had not been taken (it is not counted, nor paid)
            restarting = self.restarting
            first = self.env.reset(restarting).obs
            obs = {name: where_envs(restarting, first[name], value) for name, value in obs.items()}
            keep = ~restarting[:, None] if reward.dim() == 2 else ~restarting
            reward, done = reward * keep, done & ~restarting
            terminated, truncated = terminated & ~restarting, truncated & ~restarting
            self.restarting = done
        now = time.perf_counter()
        if self.episode_statistics:
            info |= {
                "episode": {"r": self._rows(step.info["episode"]["r"]), "l": self._rows(step.info["episode"]["l"]),
                            "t": self._rows(now - self.started)},
                "_episode": self._rows(done),
            }
        self.started = torch.where(done, now, self.started)
        return self._observations(obs), self._rows(reward), self._rows(terminated), self._rows(truncated), info

    def __repr__(self) -> str:
        return f"MegastepVectorEnv({self.name}, num_envs={self.num_envs}, device={self.device})"


class MegastepEnv(gymnasium.Env):
    """One single-agent megastep env as a plain Gymnasium env, with NumPy observations.

    :param env: the env's name (not ``deathmatch``, whose agents need the vector env).
    :param options: anything the env's class takes.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, env: str, render_mode: str | None = None, **options):
        if env_class(env).multi_agent:
            raise ValueError(f"{env} has several agents per home: use gymnasium.make_vec({IDS[env]!r}, ...)")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.vector = MegastepVectorEnv(env, 1, **options)
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space
        self._figure = None

    @staticmethod
    def _numpy(obs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {key: value[0].cpu().numpy() for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, _ = self.vector.reset(seed=seed, options=options)
        return self._numpy(obs), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {self.action_space.n}), got {action!r}")
        obs, reward, terminated, truncated, info = self.vector.step(torch.tensor([int(action)]))
        done = bool(info["_final_obs"][0])
        # a plain env reports the episode's last observation and leaves the reset to the caller
        shown = info["final_obs"] if done else obs
        return self._numpy(shown), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def render(self):
        """An RGB frame ``(H, W, 3)`` of the plan and observations, as ``megastep demo`` draws them."""
        if self.render_mode != "rgb_array":
            return None
        from megastep_envs.tools.plotting import figure_to_array, plot_state

        self._figure = plot_state(self.vector.env.state(0), self._figure)
        return figure_to_array(self._figure)


def make_vector(num_envs: int = 64, *, env: str, max_episode_steps: int | None = None, **options) -> MegastepVectorEnv:
    """The vector entry point of every id (``env`` comes from the id's registered kwargs)."""
    if max_episode_steps is not None:
        raise ValueError("max_episode_steps: megastep envs set their episode lengths with lifespan=(low, high)")
    return MegastepVectorEnv(env, num_envs, **options)


def register() -> None:
    """Registers :data:`IDS` with Gymnasium (done on import; calling it again changes nothing)."""
    for name, env_id in IDS.items():
        if env_id in gymnasium.registry or name not in ENVS:
            continue
        # Deathmatch's single entry point only says to use make_vec, with the reason
        gymnasium.register(env_id, entry_point=f"{__name__}:MegastepEnv", vector_entry_point=f"{__name__}:make_vector",
                           kwargs={"env": name})


register()
