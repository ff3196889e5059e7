"""What every megastep environment shares: batching, resets, episode statistics and checks.

An environment is a :class:`~megastep_core.World` of ``E`` envs plus the
little that makes it a task: a movement module, observation modules, a reward
plugin, a spawner plugin, lifespans, and a few methods of its own. Each env in
this package subclasses :class:`Env` and adds only what is particular to it.

Step semantics (for learners and adapters)
------------------------------------------

``step(actions)`` advances every env by one step and returns a :class:`Step`
``(obs, reward, terminated, truncated, info)`` of tensors on the world's device:

``obs``
    a dict of observations, ``(E, ...)`` for single-agent envs and
    ``(E, A, ...)`` for multi-agent ones (:attr:`Env.multi_agent`).
``reward``
    ``(E,)`` or ``(E, A)`` float: what the step just taken earned.
``terminated``
    ``(E,)`` bool: the episode reached a terminal state; its value there is 0.
``truncated``
    ``(E,)`` bool: the episode ran out of its lifespan; it could have gone on,
    so a learner should bootstrap from the value of its final observation.
    Never True where ``terminated`` is.
``info``
    ``"final_obs"``: the observations of the state each env reached by this
    step, before any reset; meaningful where ``info["_final_obs"]`` (``(E,)``
    bool, ``terminated | truncated``) is True, as in Gymnasium. Its other
    rows are finite but unspecified (zeros, an older final observation, or
    ``obs``): read it through the flag, as below. ``"episode"``: a dict with
    ``"r"``, the return of the episode (``(E,)`` or ``(E, A)``), and ``"l"``,
    its length in steps (``(E,)`` int64), meaningful where ``info["_episode"]``
    is True: the finished episodes, as in Gymnasium's ``RecordEpisodeStatistics``.

Envs whose episode ended reset themselves in the same step (Gymnasium's
``SAME_STEP`` autoreset): ``obs`` already holds the first observation of their
next episode, and ``info["final_obs"]`` the last one of the episode that
ended. A learner bootstraps with::

    next_value = torch.where(truncated, value(info["final_obs"]), value(obs)) * ~terminated
    delta = reward + gamma * next_value - value(previous_obs)
    advantage = delta + gamma * lam * ~(terminated | truncated) * next_advantage

that is, from the final observation where the lifespan cut the episode, from
nothing where it terminated; and it carries no return or recurrent state
across a step where ``terminated | truncated``.

Producing both observations of a resetting env takes a second render of the
envs that reset (:meth:`~megastep_core.World.rerender`, which the ``cuda``
renderer does for little more than a launch) and observing them again: a
module with ``refresh`` (RGB and Depth) observes only those envs again, in
place, and moves their old pixels into ``final_obs``; any other module
observes every env again. Keeping ``final_obs`` whole instead, equal to
``obs`` outside the envs that reset, would cost a copy of every env's pixels
each step: 65 µs of Explorer's 1.29 ms at 65,536 envs on an H100.
``final_observations=False`` skips both: then the ``obs`` of an env that just
finished *is* its final observation (``info["final_obs"]`` is ``obs``
itself, so the bootstrap above still reads the right values), and the first
action of the new episode is chosen seeing that stale frame; the env's state
has been reset all the same.

The order inside a step is: check actions, move (physics), render, reward,
task update (which may terminate episodes), episode bookkeeping
(:class:`~megastep_envs.episodes.Episodes`: lifespans may truncate episodes;
the lengths and returns of those that ended are recorded and their counts
restarted), observe, respawn the agents and restart the task and reward of
the envs that finished, and observe those envs again. Observations that read
only the agents (the IMU) are taken as the physics left them, before the task
update, and those that read only the render (RGB, depth) may be computed any
time between the render and the second render; on a GPU both run beside the
rest of the step (:class:`~megastep_envs.graphs.Beside`).

CUDA graphs
-----------

With ``cuda_graph=True`` on a GPU, the step is captured in a CUDA graph on its
third call (after one eager step that sets things up and one checked for
waits on the GPU) and replayed from then on (:mod:`megastep_envs.graphs`): one
launch instead of a hundred-odd, which is what lets a few thousand envs run at
the GPU's speed rather than Python's. Everything a step returns is then the
*same* tensors each step, overwritten by the next one: clone what you keep.
Envs written on :class:`Env` get this for free as long as they update their
state in place (``tensor.copy_(...)``, ``add_``, ``masked_fill_``) rather than
rebinding attributes, and never read a device value on the host in a step.

Compiled task code
------------------

A replayed step costs its chain of kernels, about 1.2-2.5 µs each however
little each does, so a task's few lines of arithmetic can cost more than the
render at a few thousand envs. Methods marked :func:`~megastep_envs.fusion.fused`
(an env's ``update`` or part of it, and the shipped rewards) run compiled by
``torch.compile`` in an env made with ``compile=True`` (the default) on a GPU:
each becomes one or two fused kernels, and the env is still plain PyTorch
(:mod:`megastep_envs.fusion`).
"""
from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from megastep_core import Camera, Geometry, Render, World, get_plugin_manager
from megastep_core.spaces import Dict

from .checks import ActionCheck
from .episodes import Episodes
from .fusion import fusion, unavailable
from .graphs import Beside, Branch, StepGraph, cuda_generators
from .lifespans import Lifespans


def _cloned(value, tensors: bool = True):
    """``value`` with its dicts copied, and its tensors too if ``tensors``."""
    if isinstance(value, dict):
        return {key: _cloned(item, tensors) for key, item in value.items()}
    return value.clone() if tensors and torch.is_tensor(value) else value


def _reads(module) -> str | None:
    """What an observation module or a reward reads, when it says it reads only the ``"agents"`` or only the
    ``"render"``."""
    reads = getattr(module, "reads", None)
    return reads if reads in ("agents", "render") else None


class Step(NamedTuple):
    """What :meth:`Env.step` returns; see the module's docs for the meaning of each field."""

    obs: dict[str, torch.Tensor]
    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    info: dict[str, Any]

    def clone(self) -> Step:
        """A copy of every tensor: what to keep from an env with ``cuda_graph=True``, whose next step
        overwrites these."""
        return Step(*(_cloned(field) for field in self))


class Reset(NamedTuple):
    """What :meth:`Env.reset` returns: the first observations and an (empty) info dict."""

    obs: dict[str, torch.Tensor]
    info: dict[str, Any]


def cycle_geometries(geometries: Sequence[Geometry], n_envs: int) -> list[Geometry]:
    """``n_envs`` geometries: the given ones repeated in turn (envs sharing one share its textures)."""
    if isinstance(n_envs, bool) or int(n_envs) != n_envs or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    geometries = list(geometries)
    if not geometries or not all(isinstance(g, Geometry) for g in geometries):
        raise ValueError("geometries must be a non-empty sequence of megastep_core.Geometry")
    return [geometries[i % len(geometries)] for i in range(int(n_envs))]


class Env:
    """``E`` envs of one task, stepped together. See the module docs for what ``step`` returns.

    Subclasses set :attr:`movement` and :attr:`observations` after calling
    ``super().__init__``, and may override :meth:`reset_task`, :meth:`update`
    and :meth:`task_state`.

    :param geometries: one per env, or fewer, repeated in turn up to ``n_envs``.
    :param n_envs: ``E``.
    :param n_agents: ``A``, agents per env.
    :param cameras: the cameras each agent carries.
    :param reward: the name of a ``megastep_reward`` plugin.
    :param spawner: the name of a ``megastep_spawner`` plugin.
    :param lifespan: ``(low, high)``: each episode lasts a random number of steps in this range, unless it ends first.
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch device.
    :param physics: the name of a physics backend (``"auto"``: CUDA kernels on a GPU when available).
    :param renderer: the name of a renderer backend.
    :param seed: seeds textures, spawns, lifespans and :meth:`sample_actions`.
    :param fps: steps per simulated second.
    :param final_observations: render resetting envs twice per step to give both their final
        and their first observation (True), or once (False); see the module docs.
    :param cuda_graph: on a GPU, replay steps from a CUDA graph (see the module docs: the
        returned tensors are then overwritten by the next step). Ignored, with a warning, on the CPU.
    :param compile: on a GPU, run the env's :func:`~megastep_envs.fusion.fused` methods compiled by
        ``torch.compile`` (a few seconds at the first reset and step). Ignored on the CPU.
    :param reward_options: keywords for the reward plugin.
    :param spawner_options: keywords for the spawner plugin.
    """

    name: ClassVar[str] = "env"
    multi_agent: ClassVar[bool] = False

    def __init__(
        self,
        geometries: Sequence[Geometry],
        n_envs: int,
        *,
        n_agents: int = 1,
        cameras: Sequence[Camera],
        reward: str,
        spawner: str = "random",
        lifespan: tuple[int, int] = (512, 1024),
        device="auto",
        physics: str = "auto",
        renderer: str = "auto",
        seed: int = 0,
        fps: float = 10.0,
        final_observations: bool = True,
        cuda_graph: bool = False,
        compile: bool = True,
        reward_options: Mapping[str, Any] | None = None,
        spawner_options: Mapping[str, Any] | None = None,
    ):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of steps per second, got {fps!r}")
        if not self.multi_agent and n_agents != 1:
            raise ValueError(f"{type(self).__name__} has one agent per env (its multi_agent is False), got "
                             f"n_agents={n_agents!r}; an env for several sets multi_agent = True")
        for label, name in (("reward", reward), ("spawner", spawner)):
            if not isinstance(name, str):
                raise ValueError(f"{label} must be the name of a {label} plugin (a str), got {name!r}")
        self.world = World(
            cycle_geometries(geometries, n_envs), n_agents, cameras, physics, renderer, device, fps, seed=int(seed)
        )
        self.device = self.world.device
        self.seed = int(seed)
        self.final_observations = bool(final_observations)
        manager = get_plugin_manager()
        self.reward = manager.make("reward", reward, {"device": self.device, **(reward_options or {})})
        spawner_options = {"device": self.device, "seed": self.seed, **(spawner_options or {})}
        self.spawner = manager.make("spawner", spawner, spawner_options)
        self.lifespans = Lifespans(self.n_envs, *lifespan, device=self.device, seed=self.seed)
        self.episodes = Episodes(self.n_envs, self.n_agents, self.lifespans)
        self.action_generator = torch.Generator(device=self.device).manual_seed(self.seed * 1000 + 2)
        if cuda_graph and self.device.type != "cuda":
            warnings.warn(f"megastep: cuda_graph=True is ignored on the {self.device.type}: CUDA graphs replay GPU "
                          f"work only; leave it out, or pass device='cuda'", stacklevel=2)
        self.cuda_graph = bool(cuda_graph) and self.device.type == "cuda"
        why_not = unavailable(self.device)
        if compile and why_not is not None and self.device.type == "cuda":
            warnings.warn(f"megastep: the env's fused methods run uncompiled: {why_not}", stacklevel=2)
        self.compiled = bool(compile) and why_not is None
        self._graph: StepGraph | None = None
        self._beside = Beside(self.device)
        self.movement = None
        self.observations: dict[str, Any] = {}
        self._check: ActionCheck | None = None
        self.last_render: Render | None = None
        self.last_obs: dict[str, torch.Tensor] | None = None
        self.last_reward: torch.Tensor | None = None

    # sizes and spaces -------------------------------------------------------------------------------

    @property
    def n_envs(self) -> int:
        return self.world.n_envs

    @property
    def n_agents(self) -> int:
        return self.world.n_agents

    @property
    def lengths(self) -> torch.Tensor:
        """``(E,)`` int64: steps taken in each env's current episode."""
        return self.episodes.lengths

    @property
    def returns(self) -> torch.Tensor:
        """``(E, A)`` float: reward summed over each env's current episode."""
        return self.episodes.returns

    @property
    def batch(self) -> tuple[int, ...]:
        """The leading shape of actions and observations: ``(E, A)``, or ``(E,)`` for a single-agent env."""
        return (self.n_envs, self.n_agents) if self.multi_agent else (self.n_envs,)

    @property
    def action_space(self):
        """The per-agent action space (:mod:`megastep_core.spaces`)."""
        return self.movement.space

    @property
    def observation_space(self) -> Dict:
        """The per-agent observation spaces, by name."""
        return Dict({name: module.space for name, module in self.observations.items()})

    def sample_actions(self) -> torch.Tensor:
        """Uniformly random actions of shape :attr:`batch`, from the env's own seeded generator."""
        return self.action_space.sample(self.batch, self.device, self.action_generator)

    # the task's own parts, overridden by each env ------------------------------------------------------

    def reset_task(self, mask: torch.Tensor) -> None:
        """Starts the task anew in the envs where ``mask`` (``(E,)`` bool) is True, after their agents spawned."""

    def update(self, render: Render, reward: torch.Tensor) -> torch.Tensor | None:
        """Advances the task by one step, given what the agents see and earned (``(E, A)``).

        :returns: ``(E,)`` bool, True where the episode reached a terminal state; or None for a task that never
            terminates (cheaper than a tensor of zeros: no kernel).
        """
        return None

    def task_state(self, e: int) -> dict[str, Any]:
        """Task-specific entries of :meth:`state` for env ``e``, as numpy arrays."""
        return {}

    # the batched interface --------------------------------------------------------------------------

    def reset(self, mask: torch.Tensor | None = None) -> Reset:
        """Starts a new episode in every env, or only in the envs where ``mask`` (``(E,)`` bool) is True,
        and returns the observations of every env.

        A partial reset is what adapters with their own reset protocols use (TorchRL's ``"_reset"``,
        Gymnasium's next-step autoreset). It waits for nothing on a GPU, renders only the masked envs again
        (:meth:`~megastep_core.World.rerender`), and writes their first observations *in place* into the
        tensors the last step returned, as that step's resets did; the other envs go on where they were.
        """
        if mask is not None:
            return self._reset_some(mask)
        if self.movement is None or not self.observations:
            raise TypeError(f"{type(self).__name__} must set self.movement and self.observations in its __init__")
        if self._check is None:  # made once: a captured step reads its flag where it is
            self._check = ActionCheck(self.action_space, self.batch, self.device)
            if self.cuda_graph:
                self._graph = StepGraph(self._advance, self._generators, self._check.sanitize, self._check.kernel,
                                        self._check.kernel_input)
        with fusion(self.compiled):
            self._reset(torch.ones(self.n_envs, dtype=torch.bool, device=self.device))
            self._beside.join_all()  # the reward's reset ran beside
            self.last_render = self.world.render()
            self.last_obs = self._observe(self.last_render)
        return Reset(self._squeeze(self.last_obs), {})

    def _reset_some(self, mask: torch.Tensor) -> Reset:
        if self.last_obs is None:
            raise RuntimeError("call reset() once before resetting some envs with reset(mask)")
        if not torch.is_tensor(mask) or mask.dtype != torch.bool or mask.shape != (self.n_envs,):
            got = tuple(mask.shape) if torch.is_tensor(mask) else type(mask).__name__
            raise ValueError(f"mask must be a ({self.n_envs},) bool tensor, got {got}")
        mask = mask.to(self.device)
        # nothing to do, as a CPU can tell for free; a GPU does the masked work rather than wait to find out
        if self.device.type == "cpu" and not bool(mask.any()):
            return Reset(self._squeeze(self.last_obs), {})
        with fusion(self.compiled):
            self._reset(mask)
            self._beside.join_all()  # the reward's reset ran beside
            render = self.world.rerender(self.last_render, mask)
            obs = dict(self.last_obs)
            for name, module in self.observations.items():
                if hasattr(module, "refresh"):
                    module.refresh(render, mask, obs[name])  # the masked rows only, in place
                else:
                    obs[name] = module(render)
            self.last_obs = obs
        return Reset(self._squeeze(obs), {})

    def step(self, actions: torch.Tensor) -> Step:
        """Takes one step in every env with ``actions`` of shape :attr:`batch`; see the module docs."""
        if self._check is None:
            raise RuntimeError("call reset() before the first step()")
        actions = self._check.validate(actions)
        with fusion(self.compiled):  # a replayed step runs no Python: this is for eager steps and the capture
            if self._graph is None:
                step, self.last_render, self.last_obs = self._advance(self._check.sanitize(actions))
            else:  # which sanitizes them into its input
                step, self.last_render, self.last_obs = self._graph(actions)
        self.last_reward = step.reward
        # a replay hands back the captured dicts themselves: the caller gets its own, holding the same tensors
        return Step(*(_cloned(field, tensors=False) for field in step)) if self._graph is not None else step

    @property
    def graphed(self) -> bool:
        """Whether steps are now replayed from a CUDA graph."""
        return self._graph is not None and self._graph.captured

    def _advance(self, actions: torch.Tensor) -> tuple[Step, Render, dict[str, torch.Tensor]]:
        """The step itself, on sanitized actions: what a CUDA graph captures. Never waits on the GPU.

        Observations that read only the agents or only the render run beside the rest (see
        :mod:`~megastep_envs.observations`): the agents' during the render, which moves no agent, and the
        render's until the envs that reset are rendered into it again. So does a reward that reads only the
        agents (``reads = "agents"``), during the render.
        """
        self.movement(actions if self.multi_agent else actions[:, None])
        early = _reads(self.reward) == "agents"  # a reward of the agents alone is paid during the render
        with self._beside.fork() as moved:
            obs = self._observe(None, "agents")
            if early:
                reward = self.reward(self, None)
        render = self.world.render()
        moved.join()  # the task may move agents from here on
        rendered = self._beside.mark()
        if not early:
            reward = self.reward(self, render)  # enqueued first, it is not kept waiting by the observations
        seen = []  # each on its own side stream: one queued behind another would hold SMs the step's chain needs
        for name, module in self.observations.items():
            if _reads(module) == "render":
                with self._beside.fork(after=rendered) as branch:
                    obs[name] = module(render)
                seen.append(branch)
        terminated, truncated, done, lengths, returns = self.episodes.step(reward, self.update(render, reward))
        obs |= self._observe(render, None)
        self._restart_task(done)  # the episodes restarted their counts already
        obs = final = {name: obs[name] for name in self.observations}
        if self.final_observations and (self.device.type != "cpu" or bool(done.any())):
            obs, final = self._observe_again(render, done, obs, seen)
        self._beside.join_all()
        info = {
            "final_obs": self._squeeze(final),
            "_final_obs": done,
            "episode": {"r": self._squeeze_one(returns), "l": lengths},
            "_episode": done,
        }
        step = Step(self._squeeze(obs), self._squeeze_one(reward), terminated, truncated, info)
        return step, render, obs

    def _generators(self) -> list[torch.Generator]:
        """The CUDA generators a step may draw from, for :class:`~megastep_envs.graphs.StepGraph`: every one the
        env and its parts hold, but :meth:`sample_actions`', which steps do not use. Each costs the replay of
        every step two small kernels, so the shipped parts draw counter-based numbers instead
        (:mod:`megastep_core.random`)."""
        parts = (self, self.lifespans, self.spawner, self.reward, self.movement, *self.observations.values())
        return [g for g in cuda_generators(*parts) if g is not self.action_generator]

    def _reset(self, mask: torch.Tensor) -> None:
        self._restart_task(mask)
        self.episodes.restart(mask)

    def _restart_task(self, mask: torch.Tensor) -> None:
        """Spawns the agents and restarts the task and reward of the envs where ``mask`` is True."""
        # resetting no env changes nothing; a CPU can tell for free, a GPU would stall to find out
        if self.device.type == "cpu" and not bool(mask.any()):
            return
        self.spawner(self.world, mask)
        self.reset_task(mask)
        with self._beside.fork():  # a reward's reset writes only the reward's own state, which this step is done with
            self.reward.reset(self, mask)

    def _observe(self, render: Render | None, reads: str | None = "any") -> dict[str, torch.Tensor]:
        """The observations of ``render`` by the modules that read ``reads`` (``"any"``: every module)."""
        return {name: module(render) for name, module in self.observations.items()
                if reads in ("any", _reads(module))}

    def _observe_again(self, render: Render, mask: torch.Tensor, obs: dict[str, torch.Tensor],
                       seen: Sequence[Branch]) -> tuple[dict, dict]:
        """The observations after the envs where ``mask`` is True reset, and the final ones that ``obs`` held
        there; ``seen`` are the branches that observed ``render`` first, which rendering into it must wait for.

        A module with ``refresh`` observes those envs again in place, after they are rendered again, and hands
        back the rows it replaced; any other observes every env again (beside, if it reads only the agents),
        and its first look is the final one.
        """
        fresh, final = dict(obs), dict(obs)
        again = {name: module for name, module in self.observations.items() if not hasattr(module, "refresh")}
        with self._beside.fork():
            fresh |= {name: module(render) for name, module in again.items() if _reads(module) == "agents"}
        for branch in seen:
            branch.join()
        self.world.rerender(render, mask)
        fresh |= {name: module(render) for name, module in again.items() if _reads(module) != "agents"}
        refreshed = [name for name in self.observations if name not in again]
        for name in refreshed:  # each beside the others: they read the render and write their own rows
            with self._beside.fork() if name != refreshed[-1] else contextlib.nullcontext():
                final[name] = self.observations[name].refresh(render, mask, obs[name])
        return fresh, final

    def _squeeze_one(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.multi_agent else x[:, 0]

    def _squeeze(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return obs if self.multi_agent else {name: value[:, 0] for name, value in obs.items()}

    # looking at one env ----------------------------------------------------------------------------

    def state(self, e: int) -> dict[str, Any]:
        """A snapshot of env ``e`` as numpy arrays, for :func:`~megastep_envs.plotting.plot_state`.

        Holds the walls ``(W, 2, 2)`` and lights ``(K, 3)``, the agents' positions
        ``(A, 2)`` and angles ``(A,)``, each ray's distance ``(A, C, R)`` and angle
        relative to its agent ``(C, R)``, the latest observations ``(A, ...)``,
        reward and return ``(A,)``, and the task's own entries.
        """
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or not 0 <= e < self.n_envs:
            raise IndexError(f"e must be an env index in [0, {self.n_envs}), got {e!r}")
        if self.last_render is None:
            raise RuntimeError("call reset() before state()")
        e = int(e)
        scenery, agents = self.world.scenery, self.world.agents
        numpy = lambda t: t.detach().cpu().numpy()
        reward = self.last_reward[e] if self.last_reward is not None else torch.zeros(self.n_agents)
        return {
            "env": self.name,
            "index": e,
            "step": int(self.lengths[e]),
            "walls": numpy(scenery.lines[e][scenery.n_body_lines :]),
            "lights": numpy(scenery.lights[e]),
            "agent_radius": self.world.agent_radius,
            "positions": numpy(agents.positions[e]),
            "angles": numpy(agents.angles[e]),
            "distances": numpy(self.last_render.distances[e]),
            "ray_angles": np.stack([c.ray_angles().numpy() for c in self.world.cameras]),
            "obs": {name: numpy(value[e]) for name, value in self.last_obs.items()},
            "reward": numpy(reward),
            "return": numpy(self.returns[e]),
            **self.task_state(e),
        }

    @staticmethod
    def plot_state(state: dict[str, Any], fig=None):
        """Draws a :meth:`state` as a matplotlib figure: see :func:`megastep_envs.plotting.plot_state`."""
        from .plotting import plot_state

        return plot_state(state, fig)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(envs={self.n_envs}, agents={self.n_agents}, world={self.world!r})"
