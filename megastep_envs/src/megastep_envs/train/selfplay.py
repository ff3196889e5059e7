"""Self-play against past snapshots in multi-agent envs: opponents from a pool, and their Elo ratings.

In a multi-agent env every agent could act with the policy being trained,
each a sample of it playing copies of itself. Then the policy can chase its
own tail, beating its latest self while forgetting how to beat older ones.
:class:`SelfPlay` gives a share of the envs an opponent instead: in the first
``opponents * E`` envs the odd-numbered agents (1, 3, ...) act with a network
drawn before each rollout from a :class:`~megastep_envs.evaluation.SnapshotPool`
(the current weights, or a snapshot taken every ``snapshot_minutes``). Their
samples are not learned from; the even agents of those envs and every agent of
the other envs are.

Each finished episode of an opponent env is a game: the learner's agents win
if their mean return beats the opponents'. The games of a rollout update the
Elo ratings of the current policy and of the snapshot it played
(:class:`~megastep_envs.evaluation.Elo`), logged as ``selfplay/elo`` (the
current policy's) and ``selfplay/win_rate``. A snapshot enters the pool at
the current policy's rating, so a policy that keeps improving leaves a trail
of rising ratings behind it.
"""
from __future__ import annotations

import torch

from .model import Agent

SCORES = ("games", "wins", "draws")
"""What :meth:`SelfPlay.score` counts for a step: games finished, won and drawn by the learner's agents."""


class SelfPlay:
    """Opponents for the odd agents of a share of the envs, and the pool and ratings they come from.

    :param env: a multi-agent env (``(E, A)`` agents; rows ``e * A + a``).
    :param model: the network being trained; the opponent is a copy of it with other weights.
    :param share: the share of envs with opponents, in (0, 1].
    :param seed: seeds the draws of opponents.
    """

    def __init__(self, env, model: Agent, share: float, seed: int = 0):
        from megastep_envs.evaluation import SnapshotPool

        if not env.multi_agent:
            raise ValueError(f"self-play against snapshots needs several agents per env; {env.name} has one")
        agents, device = env.n_agents, env.device
        self.envs = max(1, round(share * env.n_envs))
        self.agents = agents
        odd = torch.arange(1, agents, 2, device=device)
        self.rows = (torch.arange(self.envs, device=device)[:, None] * agents + odd).flatten()
        """``(R,)`` int64: the opponents' rows, static, so that acting can gather them inside a CUDA graph."""
        self.learned = torch.ones(env.n_envs * agents, dtype=torch.bool)
        self.learned[self.rows.cpu()] = False
        """``(N,)`` bool on the CPU: the rows the learner learns from."""
        self.opponent = model.frozen_copy()
        self.pool = SnapshotPool(seed=seed)
        self.playing = "current"
        self.minutes: dict[str, float] = {}
        """When each snapshot was taken, in minutes of training since the first update (the start-up not
        counted; again from 0 after a resume): ``megastep eval --tournament`` reports it."""

    def choose(self, model: Agent) -> str:
        """Draws the opponent of the next rollout and loads its weights (in place: captured graphs read them)."""
        self.playing = self.pool.sample()
        weights = model.state_dict() if self.playing == "current" else self.pool.state_dict(self.playing)
        self.opponent.load_state_dict(weights)
        return self.playing

    def act(self, obs: dict[str, torch.Tensor], memory: tuple[torch.Tensor, ...], starts: torch.Tensor
            ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The opponent's logits ``(R, n)`` and memory after the step for its rows, from the rows' observations
        ``(N, ...)``, memory before the step ``(1, N, H)`` and episode starts ``(N,)``."""
        rows = self.rows
        theirs = {key: value.index_select(0, rows)[None] for key, value in obs.items()}
        logits, _, memory = self.opponent(theirs, tuple(m.index_select(1, rows) for m in memory),
                                          starts.index_select(0, rows)[None])
        return logits[0], memory

    def score(self, finished: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
        """``(3,)`` float: :data:`SCORES` of the episodes that finished this step.

        :param finished: ``(E,)`` bool. :param returns: ``(E, A)``, each agent's return of the episode.
        """
        returns, finished = returns[:self.envs], finished[:self.envs]
        ours, theirs = returns[:, 0::2].mean(-1), returns[:, 1::2].mean(-1)
        return torch.stack([finished.sum(), (finished & (ours > theirs)).sum(), (finished & (ours == theirs)).sum()
                            ]).float()

    def record(self, games: float, wins: float, draws: float) -> dict[str, float]:
        """Updates the ratings with a rollout's games against the opponent that played; returns what to log."""
        elo = self.pool.elo
        elo.add("current")
        figures = {}
        if games > 0:
            figures["selfplay/win_rate"] = (wins + 0.5 * draws) / games
            if self.playing != "current":  # a policy against itself moves no rating
                elo.update("current", self.playing, figures["selfplay/win_rate"], int(games))
                figures["selfplay/opponent_elo"] = elo[self.playing]
        figures["selfplay/elo"] = elo["current"]
        figures["selfplay/snapshots"] = float(len(self.pool))
        return figures

    def snapshot(self, name: str, model: Agent, minutes: float = 0.0) -> None:
        """Adds the current weights to the pool as ``name``, at the current policy's rating, taken after ``minutes``
        of training."""
        self.pool.elo.add("current")
        self.pool.add(name, model.state_dict())
        self.minutes[name] = float(minutes)

    # checkpoints -------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"snapshots": dict(self.pool.snapshots), "elo": self.pool.elo.state_dict(),
                "generator": self.pool.generator.get_state(), "playing": self.playing, "minutes": dict(self.minutes)}

    def load_state_dict(self, state: dict) -> None:
        from megastep_envs.evaluation import Elo

        self.pool.elo = Elo.from_state_dict(state["elo"])
        self.pool.snapshots.clear()
        self.pool.snapshots.update(state["snapshots"])
        self.pool.generator.set_state(state["generator"])
        self.playing = state["playing"]
        self.minutes = dict(state.get("minutes", {}))
