"""What decides a training run: :class:`Hyperparameters`, and each env's defaults (:data:`DEFAULTS`)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from megastep_core.errors import MegastepError


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
    """Decay the learning rate linearly to zero over ``total_steps``, or over ``time_limit_minutes`` where the time
    limit ends the run first."""
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
    channels: int = 32
    """Channels of the first convolution over each pixel strip (the next two have twice as many)."""
    lstm: bool = False
    """Give the agent memory: an LSTM between the encoder and the heads (trained over whole rollouts)."""
    bf16: bool = False
    """On a GPU, run the network under bfloat16 autocast (its heads and the loss stay float32). On in Explorer's
    preset, where it makes more updates a second than float32 and learned no less; off in the others, whose
    float32 runs are the ones measured (BENCHMARKS.md, "Training at engine speed")."""
    dense_strips: bool = False
    """On a GPU, compute each strip convolution as one product with its dense matrix (the same network and
    outputs; :class:`~megastep_envs.train.model.StripEncoder`): more arithmetic in fewer, larger kernels. On in
    Explorer's preset, where it made the learner faster; the other presets were not measured with it
    (BENCHMARKS.md, "Training at engine speed")."""
    graph_update: bool = True
    """On a GPU, replay each minibatch step of an update (forward, backward, clipping, Adam) from a CUDA graph rather
    than launch its kernels one by one (:mod:`megastep_envs.train.captured`). A GPU has checked the captured update
    against the eager one (feed-forward, LSTM, and self-play's subset of learned rows) and measured it faster in
    every env (BENCHMARKS.md, "Training at engine speed"). No effect on a CPU or under data-parallel training."""
    act_while_learning: bool = False
    """Collect the next rollout while the learner learns from the last, on a GPU on two CUDA streams, with a copy
    of the network one update behind the one learned (:mod:`megastep_envs.train.pipeline`). A CPU runs the same
    schedule in order. Not yet measured on a GPU (BENCHMARKS.md, "Training at engine speed")."""
    goal_prediction: float = 0.0
    """Weight of an auxiliary loss in an env that gives each agent a goal (PointGoal): the network also predicts,
    from what it observes and remembers, where its goal lies now in its own frame, against the env's true value
    (read from the env in training only: the policy never observes it). With the goal told only at spawn, it
    teaches the memory to keep track of the goal as the agent moves (BENCHMARKS.md compares weights). 0 for none."""
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
    """Stop (with a checkpoint) after this many minutes, counted from the start of the process (building the envs
    included); 0 for no limit."""
    eval_minutes: float = 10.0
    """Minutes between evaluations on unseen (test-split) homes, logged under ``eval/`` with a video of env 0
    (and one at the end); 0 for none."""
    opponents: float = 0.0
    """Self-play in a multi-agent env: the share of envs whose odd agents play a past snapshot of the policy
    (or the current one), drawn before each rollout; their samples are not learned from. 0 for none."""
    snapshot_minutes: float = 1.0
    """With ``opponents``: minutes between snapshots of the policy added to the pool of opponents."""
    eval_episodes: int = 64
    """Episodes of each evaluation (Explorer's and Deathmatch's: envs, each one long episode)."""

    def check(self) -> None:
        """Raises :class:`TrainError` naming the first field out of its range."""
        positive = ["envs", "steps", "total_steps", "epochs", "minibatches", "hidden", "channels", "eval_episodes"]
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
        if not 0 <= self.opponents <= 1:
            raise TrainError(f"opponents must be a share of the envs in [0, 1], got {self.opponents!r}")
        if self.opponents and not (math.isfinite(self.snapshot_minutes) and self.snapshot_minutes > 0):
            raise TrainError(f"snapshot_minutes must be a positive number, got {self.snapshot_minutes!r}")
        for name in ["entropy", "value_weight", "goal_prediction", "checkpoint_minutes", "time_limit_minutes",
                     "eval_minutes"]:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise TrainError(f"{name} must be a non-negative number, got {getattr(self, name)!r}")


# Sizes chosen from measurements (BENCHMARKS.md, "Training at engine speed"). Throughput grows with the batch, but
# PPO's clipping bounds how far one update moves the policy, so learning per second also needs many updates:
# the recurrent presets keep minibatches of about 16 k samples (the size the first trainer learned with) and
# take a small network, whose convolutions (the learner's bound) cost less.
_SMALL = {"hidden": 128, "channels": 16, "lstm": True, "learning_rate": 5e-4}
DEFAULTS: dict[str, Hyperparameters] = {
    # one agent running laps of a box: a small feed-forward network, so the batch can fill the GPU
    "minimal": Hyperparameters(envs=16384, steps=32, total_steps=100_000_000, learning_rate=1e-3, hidden=64),
    # the goal is told every step (env options below): the LSTM integrates what it has seen of the home
    "pointgoal": Hyperparameters(envs=4096, steps=32, total_steps=200_000_000, epochs=4, minibatches=8, **_SMALL),
    # chosen for coverage per second of training (BENCHMARKS.md, the 30 s Explorer runs): half PointGoal's envs
    # make twice the updates a second, each from rollouts of a more recent policy, and take a step twice as long
    "explorer": Hyperparameters(envs=2048, steps=32, total_steps=200_000_000, epochs=4, minibatches=4,
                                **(_SMALL | {"learning_rate": 1e-3}), anneal_learning_rate=False, bf16=True,
                                dense_strips=True),
    # four agents share one network; in half the envs agents 1 and 3 play past snapshots of it (self-play)
    "deathmatch": Hyperparameters(envs=1024, steps=32, total_steps=100_000_000, epochs=4, minibatches=8, opponents=0.5,
                                  **_SMALL),
}
"""Defaults per env on a GPU; :func:`defaults` gives the CPU's, which differ only in their sizes
(:data:`CPU_SIZES`)."""

CPU_SIZES: dict[str, dict[str, int]] = {
    "minimal": {"envs": 32, "total_steps": 200_000, "eval_minutes": 0.0},
    "pointgoal": {"envs": 32, "total_steps": 500_000, "minibatches": 4, "eval_minutes": 0.0},
    "explorer": {"envs": 32, "total_steps": 500_000, "minibatches": 4, "eval_minutes": 0.0},
    "deathmatch": {"envs": 16, "total_steps": 500_000, "minibatches": 4, "eval_minutes": 0.0},
}
"""What a CPU's defaults change: envs a few cores can step, budgets they can finish, and no periodic evaluation
(building its envs, PointGoal's goal tables above all, takes a CPU minutes)."""

ENV_OPTIONS: dict[str, dict] = {
    "minimal": {},
    # the PointNav "GPS + compass" setting, paid for the walking distance gained (potential-based shaping)
    "pointgoal": {"goal_sensor": "every_step", "reward": "goal_progress"},
    "explorer": {},
    # a hit given pays what the agent hit loses, and a death costs: what one side gains, the other loses
    "deathmatch": {"reward": "zero_sum_hits"},
}
"""The env keywords each env trains with unless told otherwise (``megastep train ENV --env-option KEY=VALUE``)."""


def defaults(env_name: str, device: str = "cuda") -> Hyperparameters:
    """The default hyperparameters of an env (a copy); Minimal's for an env without its own.

    :param device: ``"cpu"`` for the CPU's smaller sizes; any other device gets the GPU's.
    """
    config = dataclasses.replace(DEFAULTS.get(env_name, DEFAULTS["minimal"]))
    if str(device).startswith("cpu"):
        config = dataclasses.replace(config, **CPU_SIZES.get(env_name, CPU_SIZES["minimal"]))
    return config


def env_options(env_name: str, given: dict | None = None) -> dict:
    """The env keywords a run trains with: :data:`ENV_OPTIONS`' for ``env_name``, updated with ``given``."""
    return {**ENV_OPTIONS.get(env_name, {}), **(given or {})}
