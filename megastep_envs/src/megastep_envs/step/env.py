"""What every megastep environment shares: batching, resets, episode statistics and checks.

An environment is a :class:`~megastep_core.World` of ``E`` envs plus the little that makes it a task: a
movement module, observation modules, a reward plugin, a spawner plugin, lifespans, and a few methods of its
own. Each env in ``tasks/`` subclasses :class:`Env` and adds only what is particular to it. The step's stages
are in :mod:`~megastep_envs.step.stages`; what a step returns, its autoreset, CUDA graphs and compiled task code
are explained in :doc:`/explanations/step`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from megastep_core import Camera, Geometry, Render, World, get_plugin_manager
from megastep_core.spaces import Dict

from .checks import ActionCheck
from .compiling import compiling, unavailable
from .episodes import Episodes
from .graphs import SideStreams, StepGraph
from .lifespans import Lifespans
from .outputs import Reset, Step, cloned
from .stages import SteppedStages


def cycle_geometries(geometries: Sequence[Geometry], n_envs: int) -> list[Geometry]:
    """``n_envs`` geometries: the given ones repeated in turn (envs sharing one share its textures)."""
    if isinstance(n_envs, bool) or int(n_envs) != n_envs or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    geometries = list(geometries)
    if not geometries or not all(isinstance(g, Geometry) for g in geometries):
        raise ValueError("geometries must be a non-empty sequence of megastep_core.Geometry")
    return [geometries[i % len(geometries)] for i in range(int(n_envs))]


class Env(SteppedStages):
    """``E`` envs of one task, stepped together. See :doc:`/explanations/step` for what ``step`` returns.

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
        and their first observation (True), or once (False); see :doc:`/explanations/step`.
    :param cuda_graph: on a GPU, replay steps from a CUDA graph (see :doc:`/explanations/step`: the
        returned tensors are then overwritten by the next step). Ignored, with a warning, on the CPU.
    :param compile: on a GPU, run the env's :func:`~megastep_envs.step.compiling.compilable` methods compiled by
        ``torch.compile`` (a few seconds at the first reset and step). Ignored on the CPU.
    :param reward_options: keywords for the reward plugin.
    :param spawner_options: keywords for the spawner plugin.
    :ivar last_progress: ``(E, A)``, the fraction of its intended move each agent achieved in the last step's
        move stage (the physics' answer; None before the first step). Overwritten by the next step.
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
            warnings.warn(f"megastep: the env's compilable methods run uncompiled: {why_not}", stacklevel=2)
        self.compiled = bool(compile) and why_not is None
        self._graph: StepGraph | None = None
        self._side_streams = SideStreams(self.device)
        self.last_progress: torch.Tensor | None = None
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
        with compiling(self.compiled):
            self._reset(torch.ones(self.n_envs, dtype=torch.bool, device=self.device))
            self._side_streams.join_all()  # the reward's reset ran beside
            self._mark_poses()  # nothing has moved yet: the IMU's first readings are zeros
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
        with compiling(self.compiled):
            self._reset(mask)
            self._side_streams.join_all()  # the reward's reset ran beside
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
        """Takes one step in every env with ``actions`` of shape :attr:`batch`; see :doc:`/explanations/step`."""
        if self._check is None:
            raise RuntimeError("call reset() before the first step()")
        actions = self._check.validate(actions)
        with compiling(self.compiled):  # a replayed step runs no Python: this is for eager steps and the capture
            if self._graph is None:
                step, self.last_render, self.last_obs = self._advance(self._check.sanitize(actions))
            else:  # which sanitizes them into its input
                step, self.last_render, self.last_obs = self._graph(actions)
        self.last_reward = step.reward
        # a replay hands back the captured dicts themselves: the caller gets its own, holding the same tensors
        return Step(*(cloned(field, tensors=False) for field in step)) if self._graph is not None else step

    @property
    def graphed(self) -> bool:
        """Whether steps are now replayed from a CUDA graph."""
        return self._graph is not None and self._graph.captured

    # looking at one env ----------------------------------------------------------------------------

    def state(self, e: int) -> dict[str, Any]:
        """A snapshot of env ``e`` as numpy arrays, for :func:`~megastep_envs.tools.plotting.plot_state`.

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
        """Deprecated: use :func:`megastep_envs.tools.plotting.plot_state` (the runtime imports no tool)."""
        warnings.warn("Env.plot_state is deprecated; use megastep_envs.tools.plotting.plot_state",
                      DeprecationWarning, stacklevel=2)
        from ..tools.plotting import plot_state

        return plot_state(state, fig)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(envs={self.n_envs}, agents={self.n_agents}, world={self.world!r})"
