"""Proximal Policy Optimisation for megastep's envs, in one loop that reads top to bottom.

:func:`train` collects a rollout of ``steps`` steps from ``envs`` envs (every
agent of every env acts with one shared network), computes advantages with
GAE, and runs ``epochs`` passes of clipped-objective minibatch updates over
it; then again, until ``total_steps`` env steps are done. With ``torchrun``,
every process does this on its own envs and the gradients are averaged
(:mod:`.distributed`).

Episodes end in two ways (see :mod:`megastep_envs.base`): *terminated*,
where the value of what follows is zero, and *truncated* by the env's random
lifespan, where the agent could have gone on. For a truncated episode the
value of its final observation is added to the last reward, discounted once,
so the advantage does not pretend that time-outs are deaths.

Logged keys (TensorBoard and ``metrics.jsonl``), stable across versions:
``charts/episodic_return``, ``charts/episodic_length``, ``charts/success_rate``
(PointGoal), ``charts/coverage`` (Explorer), ``charts/learning_rate``,
``charts/SPS`` (agent-steps per second, end to end),
``charts/env_agent_steps_per_s``, ``charts/learner_samples_per_s``,
``losses/policy_loss``, ``losses/value_loss``, ``losses/entropy``,
``losses/approx_kl``, ``losses/clipfrac``, ``losses/explained_variance``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from megastep_core.errors import MegastepError
from megastep_core.world import resolve_device

from . import checkpoint, distributed
from .envstate import EnvState
from .logger import Logger
from .model import Agent


class TrainError(MegastepError, ValueError):
    """Hyperparameters or a resume that training cannot work with."""


@dataclass
class Hyperparameters:
    """Everything that decides a training run. ``megastep train ENV --NAME VALUE`` sets any field.

    Sizes are per process: with ``torchrun --nproc-per-node N`` each of the N processes
    steps ``envs`` envs, and ``total_steps`` counts the env steps of all of them.
    """

    envs: int = 64
    """``E``, envs stepped together by each process."""
    steps: int = 32
    """``T``, steps per env in each rollout (and the length of the sequences the LSTM is trained on)."""
    total_steps: int = 500_000
    """Env steps to train for, over all processes (an env with ``A`` agents yields ``A`` samples a step)."""
    learning_rate: float = 3e-4
    """Adam's step size at the start."""
    anneal_learning_rate: bool = True
    """Decay the learning rate linearly to zero over ``total_steps``."""
    gamma: float = 0.99
    """Discount per step."""
    gae_lambda: float = 0.95
    """GAE's lambda: 0 bootstraps after one step, 1 sums the whole rollout's rewards."""
    epochs: int = 4
    """Passes over each rollout."""
    minibatches: int = 4
    """Minibatches per pass (over envs when there is an LSTM, so that sequences stay whole)."""
    clip: float = 0.2
    """PPO's clipping of the probability ratio, and of the value change."""
    entropy: float = 0.01
    """Weight of the entropy bonus."""
    value_weight: float = 0.5
    """Weight of the value loss against the policy loss."""
    max_grad_norm: float = 0.5
    """Gradients are scaled down to at most this norm."""
    hidden: int = 256
    """Width of the network's features and LSTM state."""
    lstm: bool = False
    """Give the agent memory: an LSTM between the encoder and the heads."""
    seed: int = 0
    """Seeds the network, the envs (process ``r`` uses ``seed + 1000 r``) and the action draws."""
    device: str = "auto"
    """``auto`` (CUDA when there is a GPU), ``cpu`` or ``cuda``."""
    physics: str = "auto"
    """The physics backend (``megastep plugins`` lists them)."""
    renderer: str = "auto"
    """The renderer backend."""
    checkpoint_minutes: float = 10.0
    """Minutes between checkpoints (one is always written at the end)."""
    time_limit_minutes: float = 0.0
    """Stop (with a checkpoint) after this many minutes; 0 for no limit."""

    def check(self) -> None:
        """Raises :class:`TrainError` naming the first field out of its range."""
        positive = ["envs", "steps", "total_steps", "epochs", "minibatches", "hidden"]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainError(f"{name} must be a positive integer, got {value!r}")
        for name in ["learning_rate", "clip", "max_grad_norm"]:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise TrainError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        for name in ["gamma", "gae_lambda"]:
            if not 0 <= getattr(self, name) <= 1:
                raise TrainError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ["entropy", "value_weight", "checkpoint_minutes", "time_limit_minutes"]:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise TrainError(f"{name} must be a non-negative number, got {getattr(self, name)!r}")


DEFAULTS: dict[str, Hyperparameters] = {
    # one agent running laps of a box: learns in a few minutes on a CPU
    "minimal": Hyperparameters(envs=32, steps=32, total_steps=200_000, learning_rate=1e-3, hidden=64),
    # the goal is shown once, at spawn: the LSTM must remember it and integrate the motion since
    "pointgoal": Hyperparameters(envs=1024, steps=64, total_steps=20_000_000, learning_rate=5e-4, lstm=True),
    "explorer": Hyperparameters(envs=1024, steps=64, total_steps=20_000_000, learning_rate=5e-4, lstm=True),
    # four agents share one network, each a sample of the same policy (self-play)
    "deathmatch": Hyperparameters(envs=256, steps=64, total_steps=10_000_000, learning_rate=5e-4, lstm=True),
}
"""Defaults per env, tuned for an H100 except Minimal's; ``--envs`` scales any of them down for a CPU."""


def defaults(env_name: str) -> Hyperparameters:
    """The default hyperparameters of an env (a copy); Minimal's for an env without its own."""
    return dataclasses.replace(DEFAULTS.get(env_name, DEFAULTS["minimal"]))


# ---------------------------------------------------------------------------------------------------
# the env's tensors as the learner sees them: one row per agent, N = E * A rows


def make_env(env_name: str, config: Hyperparameters, seed: int, device: torch.device, options=None):
    """The env to train on; ``options`` are further keywords of its class (``lifespan``, ``pixels``, ...)."""
    from megastep_envs.registry import make

    options = {"cuda_graph": device.type == "cuda", **(options or {})}
    return make(env_name, config.envs, device=device, physics=config.physics, renderer=config.renderer, seed=seed,
                **options)


def per_agent(env, x: torch.Tensor) -> torch.Tensor:
    """``(E,)`` or ``(E, A, ...)`` from the env to ``(N, ...)`` rows; per-env flags are repeated per agent."""
    if env.multi_agent:
        if x.dim() == 1:  # a per-env flag such as terminated
            return x.repeat_interleave(env.n_agents)
        return x.reshape(env.n_envs * env.n_agents, *x.shape[2:])
    return x


def observe(env, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: per_agent(env, value) for key, value in obs.items()}


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


def sample(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One action per row of ``(N, n)`` logits, from ``generator`` so that a resumed run draws the same."""
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(-1)


# ---------------------------------------------------------------------------------------------------
# training


@dataclass
class Result:
    """What :func:`train` returns: the trained network and the last logged figures."""

    model: Agent
    env_steps: int
    updates: int
    metrics: dict[str, float]
    checkpoint: Path | None


def train(
    env_name: str,
    config: Hyperparameters,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    updates: int | None = None,
    env_options: dict[str, Any] | None = None,
) -> Result:
    """Trains an agent on ``env_name`` with PPO.

    :param env_name: ``minimal``, ``explorer``, ``pointgoal`` or ``deathmatch``.
    :param config: the hyperparameters (ignored when resuming, except ``total_steps``,
        ``checkpoint_minutes``, ``time_limit_minutes`` and ``device``, which may change).
    :param out: the run's folder: ``checkpoint.pt``, ``metrics.jsonl`` and TensorBoard events.
        ``None`` writes nothing.
    :param resume: a checkpoint to continue from, exactly where it stopped.
    :param progress: show a progress bar (on rank 0).
    :param updates: stop after this many updates in this call (for tests and resumable chunks),
        writing a checkpoint as at any stop.
    :param env_options: further keywords for the env's class (numbers, strings, and lists or tuples of
        them, since they are saved in the checkpoint), like ``{"lifespan": (64, 128)}``.
    """
    started = time.perf_counter()
    state = None
    if resume is not None:
        state = checkpoint.load(resume)
        if state["env"] != env_name:
            raise TrainError(f"checkpoint {resume} trained {state['env']!r}, not {env_name!r}")
        config = resumed_hyperparameters(state["hyperparameters"], config)
        env_options = state["env_options"]
    config.check()
    if out is not None and not _plain(env_options or {}):
        raise TrainError(f"env_options must hold only numbers, strings and lists of them, to be saved in the "
                         f"checkpoint, got {env_options!r}")
    process = distributed.start(resolve_device(config.device))
    device = process.device

    # every process gets its own envs (seeded apart) and its own sampling generator
    torch.manual_seed(config.seed)  # the same initial network everywhere; broadcast makes sure of it
    env_seed = config.seed + 1000 * process.rank
    env = make_env(env_name, config, env_seed, device, env_options)
    obs = observe(env, env.reset().obs)
    env_state = EnvState(env)
    n_rows = env.n_envs * env.n_agents
    model = Agent(env.observation_space, env.action_space, config.hidden, config.lstm).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    generator = torch.Generator(device).manual_seed(config.seed + 7919 * (process.rank + 1))
    starts = torch.ones(n_rows, dtype=torch.bool, device=device)
    memory = model.initial_state(n_rows, device)
    env_steps, update = 0, 0
    batch_env_steps = config.envs * config.steps * process.world_size
    total_updates = max(1, config.total_steps // batch_env_steps)

    if state is not None:
        if state["world_size"] != process.world_size:
            raise TrainError(
                f"checkpoint {resume} was written by {state['world_size']} processes; resume it with as many"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        env_steps, update = state["env_steps"], state["update"]
        if process.world_size == 1:
            # a single process continues exactly: the same envs, memory and random draws
            generator.set_state(state["generator"])
            env_state.load_state_dict(state["env_state"])
            obs = {key: value.to(device) for key, value in state["carry"]["obs"].items()}
            starts = state["carry"]["starts"].to(device)
            memory = tuple(m.to(device) for m in state["carry"]["memory"])
        # several processes keep only the learner's state: each one's envs start new episodes
    distributed.broadcast_parameters(process, model)

    logger = Logger(out, config, env_name, enabled=process.is_main and out is not None,
                    progress=progress and process.is_main, total=config.total_steps, initial=env_steps)
    path = Path(out) / "checkpoint.pt" if out is not None else None
    last_checkpoint = time.perf_counter()

    # episode statistics, summed on the device and read once per update (no host sync per step)
    finished = torch.zeros(4, device=device)  # episodes, sum of returns, sum of lengths, sum of the task metric
    stop_after = update + updates if updates is not None else total_updates
    metrics: dict[str, float] = {}

    def save() -> Path | None:
        if path is None or not process.is_main:
            return None
        payload = {
            "env": env_name, "env_options": dict(env_options or {}), "hyperparameters": dataclasses.asdict(config),
            "world_size": process.world_size,
            "update": update, "env_steps": env_steps, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
            "env_state": env_state.state_dict() if process.world_size == 1 else {},
            "carry": {"obs": {k: v.cpu() for k, v in obs.items()}, "starts": starts.cpu(),
                      "memory": [m.cpu() for m in memory]},
        }
        return checkpoint.save(path, payload)

    finished = False
    try:
        while update < min(total_updates, stop_after):
            if config.anneal_learning_rate:
                optimizer.param_groups[0]["lr"] = config.learning_rate * (1.0 - update / total_updates)

            # 1. rollout: T steps of every env, acting with the current policy ---------------------
            rollout_started = time.perf_counter()
            rollout = Rollout(config.steps, n_rows, obs, device)
            initial_memory = tuple(m.clone() for m in memory)
            with torch.no_grad():
                for t in range(config.steps):
                    logits, value, memory = model(unsqueeze(obs), memory, starts[None])
                    logits, value = logits[0], value[0]
                    action = sample(logits, generator)
                    step = env.step(action.reshape(env.batch))
                    reward = per_agent(env, step.reward).float()
                    terminated = per_agent(env, step.terminated)
                    truncated = per_agent(env, step.truncated)
                    # a lifespan cut the episode short: credit the value of where it stood (a CPU can
                    # skip this when no env was cut, but asking a GPU would stall it)
                    if device.type != "cpu" or bool(truncated.any()):
                        final_obs = unsqueeze(observe(env, step.info["final_obs"]))
                        final_value = model(final_obs, memory, torch.zeros_like(starts)[None])[1][0]
                        reward = reward + config.gamma * final_value * truncated
                    rollout.store(t, obs, starts, action, logits, value, reward, terminated | truncated)
                    # a copy: a step replayed from a CUDA graph overwrites what the last one returned
                    obs, starts = {k: v.clone() for k, v in observe(env, step.obs).items()}, terminated | truncated
                    done = step.info["_episode"]
                    returns = step.info["episode"]["r"]
                    returns = returns.mean(-1) if returns.dim() == 2 else returns  # per env, over its agents
                    metric = episode_metric(env_name, env, step.terminated, returns)
                    finished += torch.stack([
                        done.sum(), (returns * done).sum(), (step.info["episode"]["l"] * done).sum(),
                        (metric * done).sum() if metric is not None else done.sum() * 0,
                    ]).float()
                next_value = model(unsqueeze(obs), memory, starts[None])[1][0]
            advantages, targets = rollout.advantages(next_value, config.gamma, config.gae_lambda)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rollout_seconds = time.perf_counter() - rollout_started

            # 2. learning: epochs of clipped-objective minibatch updates ---------------------------
            learn_started = time.perf_counter()
            losses = torch.zeros(6, device=device)
            for _ in range(config.epochs):
                for rows, cols in minibatches(config, n_rows, generator, device):
                    observations = {key: take(tensor, rows, cols) for key, tensor in rollout.obs.items()}
                    mb_memory = tuple(m[:, cols] for m in initial_memory) if config.lstm else ()
                    logits, value, _ = model(observations, mb_memory, take(rollout.starts, rows, cols))
                    logprobs = torch.log_softmax(logits, -1)
                    new_logprob = logprobs.gather(-1, take(rollout.actions, rows, cols)[..., None]).squeeze(-1)
                    log_ratio = new_logprob - take(rollout.logprobs, rows, cols)
                    ratio = log_ratio.exp()
                    advantage = take(advantages, rows, cols)
                    # normalised per minibatch; a minibatch of one sample has a spread of 0, not NaN
                    advantage = (advantage - advantage.mean()) / (advantage.std(correction=0) + 1e-8)
                    policy_loss = torch.max(-advantage * ratio,
                                            -advantage * ratio.clamp(1 - config.clip, 1 + config.clip)).mean()
                    old_value, target = take(rollout.values, rows, cols), take(targets, rows, cols)
                    clipped = old_value + (value - old_value).clamp(-config.clip, config.clip)
                    value_loss = 0.5 * torch.max((value - target) ** 2, (clipped - target) ** 2).mean()
                    entropy = -(logprobs.exp() * logprobs).sum(-1).mean()
                    loss = policy_loss + config.value_weight * value_loss - config.entropy * entropy

                    optimizer.zero_grad(set_to_none=False)
                    loss.backward()
                    distributed.average_gradients(process, list(model.parameters()))
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    with torch.no_grad():
                        approx_kl = ((ratio - 1) - log_ratio).mean()
                        clipfrac = ((ratio - 1).abs() > config.clip).float().mean()
                        losses += torch.stack([policy_loss, value_loss, entropy, approx_kl, clipfrac,
                                               torch.ones((), device=device)]).detach()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            learn_seconds = time.perf_counter() - learn_started
            update += 1
            env_steps += batch_env_steps

            # 3. logging (rank 0) and checkpoints ---------------------------------------------------
            samples = config.steps * n_rows
            finished_all = distributed.sum_over_processes(process, finished)
            losses_mean = distributed.mean_over_processes(process, losses / losses[-1])
            values = rollout.values.flatten()
            explained = 1 - (targets.flatten() - values).var() / targets.flatten().var().clamp_min(1e-8)
            figures = torch.cat([finished_all, losses_mean, explained[None]]).tolist()  # the one sync
            episodes = figures[0]
            metrics = {
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "charts/SPS": samples * process.world_size / (rollout_seconds + learn_seconds),
                "charts/env_agent_steps_per_s": samples * process.world_size / rollout_seconds,
                "charts/learner_samples_per_s": samples * config.epochs * process.world_size / learn_seconds,
                "losses/policy_loss": figures[4], "losses/value_loss": figures[5], "losses/entropy": figures[6],
                "losses/approx_kl": figures[7], "losses/clipfrac": figures[8],
                "losses/explained_variance": figures[10],
            }
            if episodes > 0:
                metrics["charts/episodic_return"] = figures[1] / episodes
                metrics["charts/episodic_length"] = figures[2] / episodes
                if env_name in METRIC_NAMES:
                    metrics[METRIC_NAMES[env_name]] = figures[3] / episodes
                finished.zero_()
            metrics["charts/episodes"] = episodes
            logger.log(metrics, env_steps=env_steps, agent_steps=env_steps * env.n_agents,
                       seconds=time.perf_counter() - started)

            now = time.perf_counter()
            if config.time_limit_minutes and now - started > 60 * config.time_limit_minutes:
                break
            if now - last_checkpoint > 60 * config.checkpoint_minutes:
                distributed.check_parameters_agree(process, model)
                save()
                last_checkpoint = now
        distributed.check_parameters_agree(process, model)
        written = save()
        finished = True
    except KeyboardInterrupt:
        # the state is consistent between env steps: a resume starts a new rollout from here
        written = save()
        if written is not None:
            print(f"interrupted; checkpoint written to {written}")
        raise
    finally:
        logger.close()
        distributed.stop(process, finished)
    return Result(model=model, env_steps=env_steps, updates=update, metrics=metrics, checkpoint=written)


def _plain(value) -> bool:
    """Whether ``value`` is made of what a checkpoint can hold and read back safely."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


RESUMABLE = ("total_steps", "checkpoint_minutes", "time_limit_minutes", "device")
"""Hyperparameters a resumed run may change: how long it goes on and where, not how it learns."""


def resumed_hyperparameters(saved: dict[str, Any], asked: Hyperparameters) -> Hyperparameters:
    """The checkpoint's hyperparameters, with the :data:`RESUMABLE` ones taken from ``asked``."""
    known = {field.name for field in dataclasses.fields(Hyperparameters)}
    config = Hyperparameters(**{k: v for k, v in saved.items() if k in known})
    return dataclasses.replace(config, **{name: getattr(asked, name) for name in RESUMABLE})


def unsqueeze(obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``(N, ...)`` observations as a sequence of one step, ``(1, N, ...)``."""
    return {key: value[None] for key, value in obs.items()}


def minibatches(config: Hyperparameters, n_rows: int, generator: torch.Generator, device):
    """Index pairs ``(rows, cols)`` of the ``(T, N)`` rollout for one epoch.

    With an LSTM, each minibatch is a set of whole columns (agents), all ``T``
    steps, so that the memory can be rebuilt in order (``rows`` is every step,
    ``slice(None)``). Without, it is a random set of single samples of the
    flattened rollout (``rows`` is a pair of step and column indices, ``cols`` None).
    """
    if config.lstm:
        order = torch.randperm(n_rows, generator=generator, device=device)
        size = max(1, n_rows // config.minibatches)
        return [(slice(None), order[i:i + size]) for i in range(0, n_rows - size + 1, size)]
    count = config.steps * n_rows
    order = torch.randperm(count, generator=generator, device=device)
    size = max(1, count // config.minibatches)
    return [((chunk // n_rows, chunk % n_rows), None) for chunk in order.split(size) if len(chunk) == size]


def take(x: torch.Tensor, rows, cols) -> torch.Tensor:
    """A minibatch's part of a ``(T, N, ...)`` rollout tensor, as a sequence ``(T', B, ...)``:
    whole columns ``(T, B, ...)`` with an LSTM, else single samples as one step ``(1, B, ...)``."""
    return x[rows][:, cols] if cols is not None else x[rows][None]


class Rollout:
    """``T`` steps of ``N`` rows: what the policy saw, did and earned.

    :ivar obs: each ``(T, N, ...)``.
    :ivar starts: ``(T, N)`` bool, True where the row's episode began at that step.
    :ivar actions: ``(T, N)`` int64. :ivar logprobs: ``(T, N)`` of the actions taken.
    :ivar values: ``(T, N)``. :ivar rewards: ``(T, N)``. :ivar dones: ``(T, N)`` bool, the episode ended after the step.
    """

    def __init__(self, steps: int, n_rows: int, example: dict[str, torch.Tensor], device):
        self.obs = {k: torch.empty(steps, *v.shape, dtype=v.dtype, device=device) for k, v in example.items()}
        self.starts = torch.empty(steps, n_rows, dtype=torch.bool, device=device)
        self.actions = torch.empty(steps, n_rows, dtype=torch.int64, device=device)
        self.logprobs = torch.empty(steps, n_rows, device=device)
        self.values = torch.empty(steps, n_rows, device=device)
        self.rewards = torch.empty(steps, n_rows, device=device)
        self.dones = torch.empty(steps, n_rows, dtype=torch.bool, device=device)

    def store(self, t, obs, starts, action, logits, value, reward, done) -> None:
        for key, value_ in obs.items():
            self.obs[key][t] = value_
        self.starts[t] = starts
        self.actions[t] = action
        self.logprobs[t] = torch.log_softmax(logits, -1).gather(-1, action[:, None]).squeeze(-1)
        self.values[t] = value
        self.rewards[t] = reward
        self.dones[t] = done

    def advantages(self, next_value: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE advantages and value targets, both ``(T, N)``, bootstrapping from ``next_value`` ``(N,)``."""
        advantages = torch.zeros_like(self.rewards)
        running = torch.zeros_like(next_value)
        for t in reversed(range(self.rewards.shape[0])):
            following = next_value if t == self.rewards.shape[0] - 1 else self.values[t + 1]
            going_on = (~self.dones[t]).float()
            delta = self.rewards[t] + gamma * following * going_on - self.values[t]
            running = delta + gamma * lam * going_on * running
            advantages[t] = running
        return advantages, advantages + self.values


