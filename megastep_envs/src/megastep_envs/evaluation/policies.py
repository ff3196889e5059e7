"""Trained networks as policies ``policy(env) -> actions``, and several policies sharing one env's agents.

A :class:`NetworkPolicy` reads the observations the env last returned
(``env.last_obs``, every agent's) and starts the memory of the agents whose
episode just began (``env.lengths == 0``), so that it acts exactly like the
scripted baselines of :mod:`.baselines`: called with the env alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..train import checkpoint as checkpoints
from ..train.model import Agent
from .baselines import Policy


class EvaluationError(ValueError):
    """An evaluation asked for with input it cannot use; the message names the argument."""


class NetworkPolicy:
    """A trained :class:`~megastep_envs.train.model.Agent` acting for every agent of an env.

    :param model: the network (put in eval mode, and on the env's device at the first call).
    :param deterministic: take the most likely action instead of sampling one.
    :param seed: seeds the sampling.
    """

    def __init__(self, model: Agent, deterministic: bool = False, seed: int = 0):
        self.model = model.eval()
        self.deterministic = bool(deterministic)
        self.seed = int(seed)
        self.memory: tuple[torch.Tensor, ...] | None = None
        self.generator: torch.Generator | None = None

    @torch.no_grad()
    def __call__(self, env, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The actions of every agent of ``env``, or of ``rows`` alone.

        :param rows: ``(R,)`` int64 flat agent indices ``e * A + a`` to act for: the network runs on those rows
            alone and only their memories move on (a round robin gives each player its own agents this way,
            rather than running every player on every agent).
        :returns: ``env.batch`` actions, or ``(R,)`` for ``rows``.
        """
        total = env.n_envs * env.n_agents
        device = env.device
        if self.memory is None or (self.memory and self.memory[0].shape[1] != total):
            self.model.to(device)
            self.memory = self.model.initial_state(total, device)
            self.generator = torch.Generator(device).manual_seed(self.seed)
        observations = {key: value.reshape(total, *value.shape[2:]) for key, value in env.last_obs.items()}
        starts = (env.lengths == 0).repeat_interleave(env.n_agents)
        memory = self.memory
        if rows is not None:
            observations = {key: value.index_select(0, rows) for key, value in observations.items()}
            starts, memory = starts.index_select(0, rows), tuple(m.index_select(1, rows) for m in memory)
        logits, _, memory = self.model({key: value[None] for key, value in observations.items()}, memory,
                                       starts[None])
        if rows is None:
            self.memory = memory
        else:
            for kept, moved in zip(self.memory, memory):
                kept.index_copy_(1, rows, moved)
        logits = logits[0]
        if self.deterministic:
            actions = logits.argmax(-1)
        else:
            actions = torch.multinomial(torch.softmax(logits, -1), 1, generator=self.generator)[:, 0]
        return actions.reshape(env.batch) if rows is None else actions


def act_for_owners(policies: Sequence[Policy], rows: Sequence[torch.Tensor], env) -> torch.Tensor:
    """Every agent's action, each from the policy that owns it.

    A :class:`NetworkPolicy` runs on its own agents alone: asking every policy for every agent would cost one
    forward pass of the whole env per network rather than one in all. Any other policy is asked for every agent's
    action, and only its own are kept.

    :param rows: ``rows[i]``, ``(R_i,)`` int64 flat agent indices ``e * A + a`` that ``policies[i]`` owns; together
        they cover every agent once.
    :returns: ``(E * A,)`` int64.
    """
    actions = torch.empty(sum(len(owned) for owned in rows), dtype=torch.int64, device=rows[0].device)
    for policy, owned in zip(policies, rows):
        if len(owned) == 0:  # more policies than agents
            continue
        actions[owned] = policy(env, owned) if isinstance(policy, NetworkPolicy) else policy(env).reshape(-1)[owned]
    return actions


class Sides:
    """Several policies sharing the agents of a multi-agent env: agent ``a`` of every env is played by
    ``policies[a % len(policies)]`` (two policies: the even agents against the odd ones).

    :param policies: each ``policy(env) -> (E, A)`` actions; a :class:`NetworkPolicy` acts for its own agents
        alone (:func:`act_for_owners`).
    """

    def __init__(self, policies: Sequence[Policy]):
        if len(policies) < 1:
            raise ValueError("policies must hold at least one policy")
        self.policies = list(policies)
        self._rows: list[torch.Tensor] = []
        self._layout: tuple | None = None

    def owners(self, n_agents: int, device) -> torch.Tensor:
        """``(A,)`` int64: which policy plays each agent."""
        return torch.arange(n_agents, device=device) % len(self.policies)

    def __call__(self, env) -> torch.Tensor:
        layout = (env.n_envs, env.n_agents, str(env.device))
        if layout != self._layout:
            self._layout = layout
            flat = self.owners(env.n_agents, env.device).repeat(env.n_envs)
            self._rows = [(flat == index).nonzero().squeeze(-1) for index in range(len(self.policies))]
        return act_for_owners(self.policies, self._rows, env).view(env.n_envs, env.n_agents)


def load_checkpoint(path: str | Path, argument: str = "CHECKPOINT") -> dict[str, Any]:
    """A training checkpoint's contents (:func:`megastep_envs.train.checkpoint.load`), with errors that name
    ``argument``."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{argument}: no such checkpoint file {str(path)!r}")
    try:
        saved = checkpoints.load(path)
    except checkpoints.CheckpointError as error:
        raise EvaluationError(f"{argument}: {error}") from None
    for key in ("env", "hyperparameters", "model"):
        if key not in saved:
            raise EvaluationError(f"{argument}: checkpoint {path} has no {key!r}: it is not a training checkpoint")
    return saved


def network_for(saved: dict[str, Any], env, argument: str = "CHECKPOINT") -> Agent:
    """The network of a loaded checkpoint, built for ``env``'s spaces, on the CPU."""
    settings = saved["hyperparameters"]
    model = Agent.of(settings, env.observation_space, env.action_space)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise EvaluationError(f"{argument}: its network does not fit the {env.name} env's observations and "
                              f"actions ({first})") from None
    return model
