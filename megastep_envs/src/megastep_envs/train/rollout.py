"""Collecting rollouts: every agent of every env acts with one network, for ``T`` steps, with no host sync.

A step of a rollout is three parts, each of which a GPU replays from a CUDA graph:

1. **act**: the network reads the current observations and memory, draws an
   action per agent, and writes the step's observations, actions, their
   log-probabilities and values into slot ``t`` of the :class:`Rollout`;
2. **the env step**, which the env replays from its own graph
   (``cuda_graph=True``);
3. **observe**: the step's rewards and ends go into slot ``t``, the new
   observations into the network's input, the finished episodes into the
   statistics, and ``t`` moves on.

The slot ``t`` is a counter on the device, so one captured graph serves every
step. The two graphs are captured once the env's own graph is (its step then
always returns the same tensors); until then the parts run eagerly, and on a
CPU always. Nothing here reads a value back to the host: the episode
statistics are summed on the device and read once per update.

**Truncated episodes.** Where a lifespan cut an episode short, the agent could
have gone on, so the value of its final observation is added to the last
reward, discounted once. Only a few agents are cut in any one step (lifespans
are random), so observe gathers them, up to :attr:`Collector.bootstrap_rows`
(``nonzero_static``, which needs no sync), and keeps their final observations
and memory; after the last step one forward values those of every step
together, where valuing them at every step would cost a second forward's
kernels in every step. Were more cut in one step, the rest would be
credited the value of the state they were in before the step, and counted in
``statistics[4]``.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass

import torch

from .model import Agent
from .selfplay import SelfPlay

STATISTICS = ("episodes", "returns", "lengths", "metric", "unbootstrapped", "games", "wins", "draws")
"""What :attr:`Collector.statistics` sums, in order: episodes finished, their returns, their lengths, the task's
metric of them (:func:`episode_metric`), truncated agents credited their value before the step, and with
self-play the games against the opponent, and those won and drawn (:data:`~.selfplay.SCORES`)."""


def per_agent(env, x: torch.Tensor) -> torch.Tensor:
    """``(E,)`` or ``(E, A, ...)`` from the env to ``(N, ...)`` rows; per-env flags are repeated per agent."""
    if env.multi_agent:
        if x.dim() == 1:  # a per-env flag such as terminated
            return x.repeat_interleave(env.n_agents)
        return x.reshape(env.n_envs * env.n_agents, *x.shape[2:])
    return x


def observe(env, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The env's observations as ``(N, ...)`` rows."""
    return {key: per_agent(env, value) for key, value in obs.items()}


def unsqueeze(obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``(N, ...)`` observations as a sequence of one step, ``(1, N, ...)``."""
    return {key: value[None] for key, value in obs.items()}


def sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One action per row of ``(N, n)`` logits, drawn from ``generator``.

    The Gumbel-max trick (the argmax of the logits plus Gumbel noise, here ``-log`` of exponential noise)
    draws from the softmax with element-wise kernels only: unlike ``torch.multinomial`` it neither checks
    the probabilities on the host nor needs them finite, so it lives in a CUDA graph.
    """
    noise = torch.empty_like(logits, dtype=torch.float32).exponential_(generator=generator)
    return (logits.float() - noise.log()).argmax(-1)


def episode_metric(env_name: str, env, terminated: torch.Tensor, returns: torch.Tensor) -> torch.Tensor | None:
    """The task's own measure of a finished episode, ``(E,)``: PointGoal's success (1 if the goal was
    reached, which is the only way its episodes terminate) and Explorer's coverage (the fraction of its
    home's wall texels it saw, which its return counts in units of image widths)."""
    if env_name == "pointgoal":
        return terminated.float()
    if env_name == "explorer" and hasattr(env.reward, "env_texels"):
        pixels = sum(camera.pixels for camera in env.world.cameras)
        return returns * pixels / env.reward.scale / env.reward.env_texels
    return None


METRIC_NAMES = {"pointgoal": "charts/success_rate", "explorer": "charts/coverage"}

GOAL_TARGET = "target/goal"
"""Where a rollout holds, beside the observations, each row's goal in its own frame, ``(T, N, 2)`` metres, when
the network learns to predict it (``goal_prediction``): read from the env, and by the loss alone (the network
reads only the observations of its observation space)."""


class Rollout:
    """``T`` steps of ``N`` rows: what the policy saw, did and earned.

    :ivar obs: each ``(T, N, ...)``.
    :ivar starts: ``(T, N)`` bool, True where the row's episode began at that step.
    :ivar actions: ``(T, N)`` int64. :ivar logprobs: ``(T, N)`` of the actions taken.
    :ivar values: ``(T, N)``. :ivar rewards: ``(T, N)``, with truncated episodes' bootstrap added.
    :ivar dones: ``(T, N)`` bool, the episode ended after the step.
    :ivar initial_memory: the network's memory before step 0, each ``(1, N, hidden)``.
    :ivar next_value: ``(N,)``, the value of the state after step ``T - 1``.
    """

    _FIELDS = ("starts", "actions", "logprobs", "values", "rewards", "dones", "next_value")
    """The tensors beside ``obs`` and ``initial_memory``, for :meth:`like` and :meth:`copy_`."""

    def __init__(self, steps: int, n_rows: int, example: dict[str, torch.Tensor], memory, device):
        self.obs = {k: torch.empty(steps, *v.shape, dtype=v.dtype, device=device) for k, v in example.items()}
        self.starts = torch.empty(steps, n_rows, dtype=torch.bool, device=device)
        self.actions = torch.empty(steps, n_rows, dtype=torch.int64, device=device)
        self.logprobs = torch.empty(steps, n_rows, device=device)
        self.values = torch.empty(steps, n_rows, device=device)
        self.rewards = torch.empty(steps, n_rows, device=device)
        self.dones = torch.empty(steps, n_rows, dtype=torch.bool, device=device)
        self.initial_memory = tuple(torch.empty_like(m) for m in memory)
        self.next_value = torch.empty(n_rows, device=device)

    @classmethod
    def like(cls, other: Rollout) -> Rollout:
        """An unfilled rollout of ``other``'s shapes, dtypes and device."""
        rollout = cls.__new__(cls)
        rollout.obs = {key: torch.empty_like(value) for key, value in other.obs.items()}
        for name in cls._FIELDS:
            setattr(rollout, name, torch.empty_like(getattr(other, name)))
        rollout.initial_memory = tuple(torch.empty_like(m) for m in other.initial_memory)
        return rollout

    def copy_(self, other: Rollout) -> Rollout:
        """Copies ``other`` into this rollout's tensors, which stay where they are (captured graphs read them)."""
        torch._foreach_copy_(self._tensors(), other._tensors())
        return self

    def _tensors(self) -> list[torch.Tensor]:
        return [*self.obs.values(), *(getattr(self, name) for name in self._FIELDS), *self.initial_memory]


class Finals:
    """Where a rollout keeps, step by step, the final observations and memory of up to ``K`` rows whose episode
    a lifespan cut short, to value them all after its last step.

    :ivar rows: ``(T, K)`` int64, the rows kept at each step, -1 in places left unused.
    :ivar obs: each ``(T, K, ...)``. :ivar memory: each ``(T, K, hidden)``, the memory before the final
        observation.
    """

    def __init__(self, steps: int, kept: int, example: dict[str, torch.Tensor], memory, device):
        self.rows = torch.full((steps, kept), -1, dtype=torch.int64, device=device)
        # zeros, not empty: unused places are valued too (times 0), and must give finite values
        self.obs = {k: torch.zeros(steps, kept, *v.shape[1:], dtype=v.dtype, device=device) for k, v in example.items()}
        self.memory = tuple(torch.zeros(steps, kept, m.shape[-1], dtype=m.dtype, device=device) for m in memory)


@dataclass
class PhaseTimes:
    """GPU seconds of a rollout's parts, measured with CUDA events (:meth:`Collector.collect` with ``timed``)."""

    act: float = 0.0
    env: float = 0.0
    observe: float = 0.0


class Collector:
    """Steps ``env`` with ``model``'s actions and fills one :class:`Rollout` again and again.

    :param env: an env from :func:`megastep_envs.registry.make`, already reset, with ``obs`` its first
        observations.
    :param model: the network that acts (not a DDP wrapper: acting needs no gradients).
    :param env_name: names the task's metric (:func:`episode_metric`).
    :param steps: ``T``. :param gamma: the discount, for truncated episodes' bootstrap.
    :param generator: draws the actions.
    :param bf16: run the network under bfloat16 autocast (on a GPU).
    :param selfplay: opponents for some agents (:mod:`.selfplay`), whose actions replace the network's there.
    :param goal_target: also store each row's goal in its own frame under :data:`GOAL_TARGET` (the env must
        have ``goal_now()``, as PointGoal has).
    :ivar statistics: ``(8,)`` float on the device, the sums of :data:`STATISTICS` since last cleared.
    """

    def __init__(self, env, model: Agent, env_name: str, obs: dict[str, torch.Tensor], steps: int, gamma: float,
                 generator: torch.Generator, bf16: bool = False, selfplay: SelfPlay | None = None,
                 goal_target: bool = False):
        self.env, self.model, self.env_name, self.selfplay = env, model, env_name, selfplay
        self.device = env.device
        self.steps, self.gamma, self.generator = steps, gamma, generator
        self.n_rows = env.n_envs * env.n_agents
        self.autocast = bf16 and self.device.type == "cuda"
        rows = observe(env, obs)
        if goal_target:
            rows[GOAL_TARGET] = self._goal()
        self.obs = {key: value.clone() for key, value in rows.items()}
        self.starts = torch.ones(self.n_rows, dtype=torch.bool, device=self.device)
        self.memory = model.initial_state(self.n_rows, self.device)
        self.actions = torch.zeros(self.n_rows, dtype=torch.int64, device=self.device)
        self.rollout = Rollout(steps, self.n_rows, self.obs, self.memory, self.device)
        self.t = torch.zeros((), dtype=torch.int64, device=self.device)
        self.statistics = torch.zeros(len(STATISTICS), device=self.device)
        # lifespans cut a few agents a step; on a CPU, asking how many costs nothing
        self.bootstrap_rows = self.n_rows if self.device.type == "cpu" else min(self.n_rows, max(256, self.n_rows // 8))
        self.finals = Finals(steps, self.bootstrap_rows, observe(env, obs), self.memory, self.device)
        self._graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None
        self._outputs: list[int] | None = None  # the addresses of the env's last step's tensors
        self.eager_reason: str | None = None  # why acting is not replayed from graphs, once capture failed

    # the carried state, for checkpoints -----------------------------------------------------------------

    def state_dict(self) -> dict:
        """What the next rollout continues from: observations, episode starts and memory (on the CPU)."""
        return {"obs": {k: v.cpu() for k, v in self.obs.items()}, "starts": self.starts.cpu(),
                "memory": [m.cpu() for m in self.memory]}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state["obs"].items():
            if key in self.obs:  # a goal target that this run does not learn from is left out
                self.obs[key].copy_(value)
        self.starts.copy_(state["starts"])
        for mine, saved in zip(self.memory, state["memory"]):
            mine.copy_(saved)

    # a rollout ---------------------------------------------------------------------------------------

    def _network(self):
        if not self.autocast:
            return contextlib.nullcontext()
        # a graph cannot keep autocast's cached casts of the weights, which the optimizer changes in place
        return torch.autocast("cuda", torch.bfloat16, cache_enabled=False)

    def _act(self) -> None:
        """Slot ``t``: the observations, and the actions drawn for them, their log-probabilities and values."""
        with self._network():
            logits, value, memory = self.model(unsqueeze(self.obs), self.memory, self.starts[None])
            logits = logits[0]
            if self.selfplay is not None:  # the opponents' rows act with the opponent's network
                rows = self.selfplay.rows
                theirs, their_memory = self.selfplay.act(self.obs, self.memory, self.starts)
                logits = logits.index_copy(0, rows, theirs.to(logits.dtype))
                memory = tuple(m.index_copy(1, rows, t.to(m.dtype)) for m, t in zip(memory, their_memory))
        value = value[0]
        action = sample(logits, self.generator)
        logprob = torch.log_softmax(logits, -1).gather(-1, action[:, None]).squeeze(-1)
        slot = self.t.view(1)
        for key, value_ in self.obs.items():
            self.rollout.obs[key].index_copy_(0, slot, value_[None])
        for into, what in ((self.rollout.starts, self.starts), (self.rollout.actions, action),
                           (self.rollout.logprobs, logprob), (self.rollout.values, value)):
            into.index_copy_(0, slot, what[None])
        for mine, new in zip(self.memory, memory):
            mine.copy_(new)
        self.actions.copy_(action)

    def _keep_finals(self, step, truncated: torch.Tensor) -> torch.Tensor:
        """Slot ``t`` of :attr:`finals`: the final observations and memory of up to :attr:`bootstrap_rows` of
        the ``truncated`` rows, valued after the rollout (:meth:`_value_finals`). Returns ``(N,)``, the value
        before the step where a truncated row did not fit, else 0."""
        rows = torch.nonzero_static(truncated, size=self.bootstrap_rows, fill_value=-1).squeeze(-1)
        slot, kept = self.t.view(1), rows.clamp_min(0)
        self.finals.rows.index_copy_(0, slot, rows[None])
        for key, value in observe(self.env, step.info["final_obs"]).items():
            self.finals.obs[key].index_copy_(0, slot, value.index_select(0, kept)[None])
        for into, memory in zip(self.finals.memory, self.memory):
            into.index_copy_(0, slot, memory.index_select(1, kept))
        # nonzero_static keeps the first rows: the rest did not fit
        missed = truncated & (truncated.cumsum(0) > self.bootstrap_rows)
        self.statistics[4] += missed.sum()
        return self.rollout.values.index_select(0, slot)[0] * missed

    def _value_finals(self) -> None:
        """Adds to each kept row's last reward the value of its final observation, discounted once: one
        forward for the truncated rows of the whole rollout."""
        rows = self.finals.rows
        found = (rows >= 0).flatten()
        places = (torch.arange(self.steps, device=self.device)[:, None] * self.n_rows + rows.clamp_min(0)).flatten()
        obs = {key: value.flatten(0, 1) for key, value in self.finals.obs.items()}
        memory = tuple(m.flatten(0, 1)[None] for m in self.finals.memory)
        if self.device.type == "cpu":  # asking costs nothing here: value only the rows that were cut
            kept = found.nonzero().squeeze(-1)
            if not len(kept):
                return
            obs = {key: value.index_select(0, kept) for key, value in obs.items()}
            memory = tuple(m.index_select(1, kept) for m in memory)
            places, found = places.index_select(0, kept), found.index_select(0, kept)
        starts = torch.zeros(1, len(places), dtype=torch.bool, device=self.device)
        with self._network():
            value = self.model(unsqueeze(obs), memory, starts)[1][0]
        self.rollout.rewards.view(-1).index_add_(0, places, self.gamma * value.float() * found)

    def _observe(self, step) -> None:
        """Slot ``t``: the step's rewards (with truncated episodes' bootstrap) and ends; then the next input."""
        env = self.env
        reward = per_agent(env, step.reward).float()
        terminated, truncated = per_agent(env, step.terminated), per_agent(env, step.truncated)
        if self.device.type != "cpu" or bool(truncated.any()):
            reward = reward + self.gamma * self._keep_finals(step, truncated)
        done = terminated | truncated
        slot = self.t.view(1)
        self.rollout.rewards.index_copy_(0, slot, reward[None])
        self.rollout.dones.index_copy_(0, slot, done[None])
        for key, value in observe(env, step.obs).items():
            self.obs[key].copy_(value)
        if GOAL_TARGET in self.obs:
            self.obs[GOAL_TARGET].copy_(self._goal())
        self.starts.copy_(done)
        finished = step.info["_episode"]
        returns = step.info["episode"]["r"]
        returns = returns.mean(-1) if returns.dim() == 2 else returns  # per env, over its agents
        metric = episode_metric(self.env_name, env, step.terminated, returns)
        self.statistics[:4] += torch.stack([
            finished.sum(), (returns * finished).sum(), (step.info["episode"]["l"] * finished).sum(),
            (metric * finished).sum() if metric is not None else finished.sum() * 0,
        ]).float()
        if self.selfplay is not None:
            self.statistics[5:] += self.selfplay.score(finished, step.info["episode"]["r"])
        self.t += 1

    def _goal(self) -> torch.Tensor:
        """``(N, 2)``: each row's goal in its own frame, from the env (after any reset of this step)."""
        return self.env.goal_now().reshape(self.n_rows, 2).float()

    def _env_step(self):
        return self.env.step(self.actions.view(self.env.batch))

    def collect(self, timed: bool = False) -> tuple[Rollout, PhaseTimes | None]:
        """Fills the rollout with the next ``T`` steps of every env.

        :param timed: also measure the GPU time of acting, env steps and observing (CUDA events; on the
            CPU, host time). Costs a few event records a step.
        :returns: the rollout (the same object every call: use it before the next) and the times if asked.
        """
        rollout = self.rollout
        for mine, memory in zip(rollout.initial_memory, self.memory):
            mine.copy_(memory)
        self.t.zero_()
        self.finals.rows.fill_(-1)
        marks: list[tuple] = []
        with torch.no_grad(), self.model.fixed_strips(torch.bfloat16 if self.autocast else None):
            for _ in range(self.steps):
                if timed:
                    marks.append(tuple(self._mark() for _ in range(4)))
                self._record(marks, 0)
                if self._graphs is not None:
                    self._graphs[0].replay()
                else:
                    self._act()
                self._record(marks, 1)
                step = self._env_step()
                self._record(marks, 2)
                if self._graphs is not None:
                    self._graphs[1].replay()
                else:
                    self._observe(step)
                    self._capture_when_steady(step)
                self._record(marks, 3)
            self._value_finals()
            with self._network():
                rollout.next_value.copy_(self.model(unsqueeze(self.obs), self.memory, self.starts[None])[1][0])
        return rollout, self._times(marks) if timed else None

    # graphs ------------------------------------------------------------------------------------------

    def _capture_when_steady(self, step) -> None:
        """Captures act and observe once the env's step returns the same tensors twice in a row."""
        if self.device.type != "cuda" or self.eager_reason is not None or not getattr(self.env, "graphed", False):
            return
        tensors = [step.reward, step.terminated, step.truncated, *step.obs.values(), *step.info["final_obs"].values(),
                   step.info["_episode"], step.info["episode"]["r"], step.info["episode"]["l"]]
        addresses = [t.data_ptr() for t in tensors]
        if addresses != self._outputs:
            self._outputs = addresses
            return
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        graphs = (torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph())
        graphs[0].register_generator_state(self.generator)
        # a capture runs nothing: this step's observe ran already, and the graphs replay from the next step on
        try:
            with torch.cuda.graph(graphs[0], stream=stream):
                self._act()
            with torch.cuda.graph(graphs[1], stream=stream):
                self._observe(step)
        except RuntimeError as error:  # an operation a graph cannot hold: act eagerly, as on a CPU
            self.eager_reason = f"capture failed ({str(error).strip().splitlines()[0]})"
            warnings.warn(f"megastep train: acting runs eagerly, not from CUDA graphs: {self.eager_reason}",
                          stacklevel=4)
            return
        finally:
            torch.cuda.current_stream(self.device).wait_stream(stream)
        self._graphs = graphs

    @property
    def graphed(self) -> bool:
        """Whether acting and observing are replayed from CUDA graphs."""
        return self._graphs is not None

    def _mark(self):
        if self.device.type == "cuda":
            return torch.cuda.Event(enable_timing=True)
        return [0.0]

    def _record(self, marks: list, index: int) -> None:
        if not marks:
            return
        mark = marks[-1][index]
        if self.device.type == "cuda":
            mark.record()
        else:
            mark[0] = time.perf_counter()

    def _times(self, marks: list) -> PhaseTimes:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            span = lambda a, b: a.elapsed_time(b) / 1000
        else:
            span = lambda a, b: b[0] - a[0]
        times = PhaseTimes()
        for start, acted, stepped, observed in marks:
            times.act += span(start, acted)
            times.env += span(acted, stepped)
            times.observe += span(stepped, observed)
        return times
