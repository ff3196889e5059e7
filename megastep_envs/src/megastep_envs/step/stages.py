"""The env step as a list of stages, each declaring what it reads and writes, and the code that runs them.

:data:`STAGES` is the step in order; :class:`SteppedStages` (which :class:`~megastep_envs.step.env.Env` is made
of) runs it. The docs draw their picture of the step from :data:`STAGES` (the ``megastep-stages`` directive), so
the two cannot drift, and :func:`beside` derives from the declarations where a stage may run on a side stream:
from the first point its inputs are all written until the first later stage that writes what it reads or reads
what it writes. ``tests/test_stages.py`` checks that the side blocks :meth:`SteppedStages._advance` opens and
joins are the ones :func:`beside` derives.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from megastep_core import Render

from .graphs import SideBlock, cuda_generators
from .outputs import Step


@dataclass(frozen=True)
class Stage:
    """One stage of the step: what it does, where its code lives, what it reads and writes."""

    name: str
    code: str
    """Where the stage's code lives: a file of megastep_envs, or a plugin package."""
    does: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    side: bool = False
    """Whether it may run beside the step's chain, on a side stream (a GPU only; see :func:`beside`)."""


STAGES: tuple[Stage, ...] = (
    Stage("act", "modules/movement.py", "turns actions into velocities", ("actions",), ("velocities",)),
    Stage("move", "physics plugin (World.move)",
          "moves the agents by their velocities (the IMU keeps where they stood), redraws their bodies",
          ("velocities", "walls"), ("agents", "progress")),
    Stage("observe agents", "modules/observations.py", "observations that read only the agents (IMU)",
          ("agents",), ("obs of the agents",), side=True),
    Stage("render", "render plugin (World.render)", "casts every camera's rays", ("agents", "walls"), ("render",)),
    Stage("reward", "tasks/<env>.py", "the task's reward plugin pays the step", ("render", "agents"), ("reward",)),
    Stage("observe render", "modules/observations.py", "observations that read only the render (RGB, depth)",
          ("render",), ("obs of the render",), side=True),
    Stage("task update", "tasks/<env>.py", "the task moves on; may terminate episodes or move agents",
          ("render", "reward"), ("task", "agents", "terminated")),
    Stage("episodes", "step/episodes.py", "lifespans truncate; lengths and returns of ended episodes",
          ("reward", "terminated"), ("done", "truncated", "lengths", "returns")),
    Stage("observe task", "modules/observations.py", "observations that may read anything (a goal vector)",
          ("task", "agents", "render"), ("obs of the task",)),
    Stage("restart", "geometry spawner, tasks/<env>.py", "respawns the agents, restarts task and reward where done",
          ("done",), ("agents", "task")),
    Stage("observe again", "modules/observations.py", "renders the restarted envs again and observes them",
          ("done", "agents", "render"), ("render", "obs", "final_obs")),
)
"""The step, in order."""


def beside(name: str, stages: Sequence[Stage] = STAGES) -> tuple[str, str]:
    """The stages between which the side stage ``name`` may run: ``(after, before)``, from the declarations.

    It forks after the last earlier stage that writes what it reads, and must be joined before the first later
    stage that writes what it reads or reads what it writes.
    """
    index = next(i for i, stage in enumerate(stages) if stage.name == name)
    stage = stages[index]
    after = next((s.name for s in reversed(stages[:index]) if set(s.writes) & set(stage.reads)), "start")
    before = next((s.name for s in stages[index + 1:] if set(s.writes) & set(stage.reads)
                   or set(s.reads) & set(stage.writes)), "end")
    return after, before


def reads_only(module) -> str | None:
    """What an observation module or a reward says it reads, when only the ``"agents"`` or only the ``"render"``."""
    reads = getattr(module, "reads", None)
    return reads if reads in ("agents", "render") else None


class SteppedStages:
    """The stages of :data:`STAGES` as the methods of an env; :class:`~megastep_envs.step.env.Env` is made of it."""

    def _advance(self, actions: torch.Tensor) -> tuple[Step, Render, dict[str, torch.Tensor]]:
        """The step itself, on sanitized actions: what a CUDA graph captures. Never waits on the GPU.

        Observations that read only the agents or only the render run beside the rest, on side streams: the
        agents' during the render, which moves no agent, and the render's until the envs that reset are rendered
        into it again. So does a reward that reads only the agents (``reads = "agents"``), during the render.
        """
        self._mark_poses()  # before the act stage too: an old movement module moved the agents itself
        moved = self.movement(actions if self.multi_agent else actions[:, None])  # act
        if moved is None:
            moved = self.world.move()  # move: (E, A), the fraction of each agent's move achieved
        else:  # a movement module written before physics became a stage of its own, which moved the agents itself
            warnings.warn(f"{type(self.movement).__name__} returned the physics' progress: a movement module now sets "
                          f"velocities only and returns None, and the env runs the physics (World.move) itself",
                          DeprecationWarning, stacklevel=3)
        self.last_progress = moved
        reward_of_agents = reads_only(self.reward) == "agents"  # such a reward is paid during the render
        with self._side_streams.fork() as during_render:
            obs = self._observe(None, "agents")  # observe agents
            if reward_of_agents:
                reward = self.reward(self, None)
        render = self.world.render()  # render
        during_render.join()  # the task may move agents from here on
        rendered = self._side_streams.mark()
        if not reward_of_agents:
            reward = self.reward(self, render)  # reward; enqueued first, the observations do not keep it waiting
        render_readers = []  # each on its own side stream: one queued behind another would hold SMs the chain needs
        for name, module in self.observations.items():  # observe render
            if reads_only(module) == "render":
                with self._side_streams.fork(after=rendered) as block:
                    obs[name] = module(render)
                render_readers.append(block)
        terminated = self.update(render, reward)  # task update
        terminated, truncated, done, lengths, returns = self.episodes.step(reward, terminated)  # episodes
        obs |= self._observe(render, None)  # observe task
        self._restart_task(done)  # restart; the episodes restarted their counts already
        obs = final = {name: obs[name] for name in self.observations}
        if self.final_observations and (self.device.type != "cpu" or bool(done.any())):
            obs, final = self._observe_again(render, done, obs, render_readers)  # observe again
        self._side_streams.join_all()
        info = {
            "final_obs": self._squeeze(final),
            "_final_obs": done,
            "episode": {"r": self._squeeze_one(returns), "l": lengths},
            "_episode": done,
        }
        step = Step(self._squeeze(obs), self._squeeze_one(reward), terminated, truncated, info)
        return step, render, obs

    def _mark_poses(self) -> None:
        """Has the observations that measure a move (a ``mark_poses`` method: the IMU) keep the agents' poses now."""
        for module in self.observations.values():
            mark = getattr(module, "mark_poses", None)
            if mark is not None:
                mark()

    def _generators(self) -> list[torch.Generator]:
        """The CUDA generators a step may draw from, for :class:`~megastep_envs.step.graphs.StepGraph`: every one
        the env and its parts hold, but :meth:`sample_actions`', which steps do not use. Each costs the replay of
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
        with self._side_streams.fork():  # a reward's reset writes only its own state, which this step is done with
            self.reward.reset(self, mask)

    def _observe(self, render: Render | None, reads: str | None = "any") -> dict[str, torch.Tensor]:
        """The observations of ``render`` by the modules that read ``reads`` (``"any"``: every module)."""
        return {name: module(render) for name, module in self.observations.items()
                if reads in ("any", reads_only(module))}

    def _observe_again(self, render: Render, mask: torch.Tensor, obs: dict[str, torch.Tensor],
                       render_readers: Sequence[SideBlock]) -> tuple[dict, dict]:
        """The observations after the envs where ``mask`` is True reset, and the final ones that ``obs`` held
        there; ``render_readers`` are the side blocks that observed ``render`` first, which rendering into it
        must wait for.

        A module with ``refresh`` observes those envs again in place, after they are rendered again, and hands
        back the rows it replaced; any other observes every env again (beside, if it reads only the agents),
        and its first look is the final one.
        """
        next_obs, final = dict(obs), dict(obs)
        observed_whole = {name: module for name, module in self.observations.items() if not hasattr(module, "refresh")}
        with self._side_streams.fork():
            next_obs |= {name: module(render) for name, module in observed_whole.items()
                         if reads_only(module) == "agents"}
        for block in render_readers:
            block.join()
        self.world.rerender(render, mask)
        next_obs |= {name: module(render) for name, module in observed_whole.items()
                     if reads_only(module) != "agents"}
        refreshed = [name for name in self.observations if name not in observed_whole]
        for name in refreshed:  # each beside the others: they read the render and write their own rows
            with self._side_streams.fork() if name != refreshed[-1] else contextlib.nullcontext():
                final[name] = self.observations[name].refresh(render, mask, obs[name])
        return next_obs, final

    def _squeeze_one(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.multi_agent else x[:, 0]

    def _squeeze(self, obs: dict[str, torch.Tensor]) -> dict[str, Any]:
        return obs if self.multi_agent else {name: value[:, 0] for name, value in obs.items()}
