"""A round robin between the snapshots of a self-play run, rated on one scale afterwards.

The Elo ratings a run logs (:mod:`.ratings`, updated game by game during
training) depend on the order of the games and on a policy that moved while
they were played. To tell whether the later snapshots are the stronger ones,
:func:`round_robin` has every pair of players play the same number of games
under the same conditions: all pairs at once, each in its own group of envs of
one Deathmatch env (the even agents for one player, the odd for the other, and
the other way round in half of the group's envs),
every env one game that the side giving more hits wins. :func:`fit_ratings`
then finds the Bradley-Terry ratings most likely to give all the results at
once, on Elo's scale (400 points apart is odds of 10 to 1), with the first
player (random actions) at 0. Each pair's results also get one virtual drawn
game, so that a player who won or lost every game still has a finite rating.
:func:`rating_covariance` says how far chance alone moves those ratings: a
tournament of 32 games a pair tells players apart only where they are some
tens of points apart, and its report gives each rise from one snapshot to the
next with its standard error.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .baselines import Policy
from .combat import env_wins, play
from .policies import act_for_owners

PRIOR_DRAWS = 1.0
"""Virtual drawn games added to every pair's results, keeping every rating finite."""


@dataclass
class Player:
    """A policy in a round robin, with the minutes of training it had (``None`` for a baseline, infinite for the
    run's final policy)."""

    name: str
    policy: Policy
    minutes: float | None = None


class Pairings:
    """Every pair of players sharing one env: pair ``k`` plays in envs ``[k g, (k + 1) g)``, its first player with
    the even agents and its second with the odd ones in the first half of them, and the other way round in the
    rest. The sides then cancel out of the results: where one of them had an edge (the spawns, say), each player of
    the pair has it equally often, rather than the player listed first in every one of its pairs.

    :param players: ``P`` policies; a :class:`~.policies.NetworkPolicy` acts for its own agents alone, any other is
        asked for every agent's action every step (and only its own are kept).
    :param games: ``g``, envs per pair.
    """

    def __init__(self, players: Sequence[Policy], games: int, n_agents: int, device):
        self.players = list(players)
        self.pairs = list(itertools.combinations(range(len(self.players)), 2))
        first = torch.tensor([i for i, _ in self.pairs], device=device).repeat_interleave(games)
        second = torch.tensor([j for _, j in self.pairs], device=device).repeat_interleave(games)
        swapped = (torch.arange(games, device=device) >= (games + 1) // 2).repeat(len(self.pairs))
        self.sides = (torch.arange(n_agents, device=device) % 2) ^ swapped[:, None].long()
        """``(E, A)`` int64: 0 for the pair's first player, 1 for its second."""
        self.owners = torch.where(self.sides == 0, first[:, None], second[:, None])
        """``(E, A)`` int64: which player acts for each agent."""
        flat = self.owners.flatten()
        self.rows = [(flat == index).nonzero().squeeze(-1) for index in range(len(self.players))]
        """Each player's flat agent indices ``e * A + a``."""

    def __call__(self, env) -> torch.Tensor:
        return act_for_owners(self.players, self.rows, env).view(self.owners.shape)


def round_robin(make_env, players: Sequence[Player], games: int, steps: int) -> np.ndarray:
    """Plays every pair of ``players`` for ``games`` games of ``steps`` steps each.

    :param make_env: ``make_env(n_envs, steps)``, a fresh Deathmatch env whose episodes outlast ``steps``.
    :returns: ``(P, P)`` float64, ``[i, j]`` the games player ``i`` won against ``j`` (a draw counts half), so
        that ``[i, j] + [j, i] = games`` off the diagonal.
    """
    if len(players) < 2:
        raise ValueError(f"a round robin needs at least two players, got {len(players)}")
    if isinstance(games, bool) or int(games) != games or games < 1:
        raise ValueError(f"games must be a positive integer, got {games!r}")
    pair_count = len(players) * (len(players) - 1) // 2
    env = make_env(pair_count * int(games), steps)
    pairings = Pairings([p.policy for p in players], int(games), env.n_agents, env.device)
    given, _, _ = play(env, pairings, pairings.sides, steps)
    won = env_wins(given, pairings.sides).reshape(pair_count, int(games)).sum(-1).cpu().double().numpy()
    wins = np.zeros((len(players), len(players)))
    for (i, j), score in zip(pairings.pairs, won):
        wins[i, j], wins[j, i] = score, games - score
    return wins


def fitted_games(wins: np.ndarray, prior_draws: float = PRIOR_DRAWS) -> np.ndarray:
    """``(P, P)`` float64: the games of each pair of players as :func:`fit_ratings` counts them, those played
    (``wins[i, j] + wins[j, i]``) and ``prior_draws`` virtual ones for every pair that played; 0 on the diagonal."""
    wins = np.asarray(wins, dtype=np.float64)
    played = wins + wins.T
    np.fill_diagonal(played, 0.0)
    return played + prior_draws * (played > 0)


def fit_ratings(wins: np.ndarray, prior_draws: float = PRIOR_DRAWS, anchor: int = 0, rounds: int = 10_000
                ) -> np.ndarray:
    """The Bradley-Terry ratings most likely to give ``wins``, on Elo's scale, with player ``anchor`` at 0.

    Bradley-Terry: player ``i`` beats ``j`` with probability ``g_i / (g_i + g_j)``; on Elo's scale a rating is
    ``400 log10 g``. Found by the minorise-maximise iteration ``g_i <- W_i / sum_j n_ij / (g_i + g_j)`` (``W_i``
    player ``i``'s wins, ``n_ij`` the games of ``i`` and ``j``), which climbs the likelihood every round.

    :param wins: ``(P, P)``, ``[i, j]`` the games ``i`` won against ``j`` (draws as halves).
    :param prior_draws: virtual drawn games added to every pair that played.
    :returns: ``(P,)`` float64 ratings.
    """
    wins = np.asarray(wins, dtype=np.float64)
    if wins.ndim != 2 or wins.shape[0] != wins.shape[1] or (wins < 0).any():
        raise ValueError(f"wins must be a square matrix of non-negative counts, got shape {wins.shape}")
    games = fitted_games(wins, prior_draws)
    won = (wins * ~np.eye(len(wins), dtype=bool) + 0.5 * prior_draws * (games > 0)).sum(1)
    strength = np.ones(len(wins))
    for _ in range(rounds):
        denominator = (games / (strength[:, None] + strength[None, :])).sum(1)
        updated = np.where(denominator > 0, won / np.where(denominator > 0, denominator, 1.0), strength)
        updated /= math.exp(np.log(updated).mean())
        if np.allclose(updated, strength, rtol=1e-12, atol=0.0):
            strength = updated
            break
        strength = updated
    ratings = 400.0 * np.log10(strength)
    return ratings - ratings[anchor]


ELO = 400.0 / math.log(10.0)
"""Elo points per unit of natural-log strength (``400 log10 g = ELO ln g``)."""


def rating_covariance(ratings: np.ndarray, games: np.ndarray, anchor: int = 0) -> np.ndarray:
    """The covariance of Bradley-Terry ratings from their Fisher information, in Elo points squared.

    With ``p_ij`` the fitted chance that ``i`` beats ``j`` and ``n_ij`` their games, the information of the
    log-strengths is ``sum over pairs of n_ij p_ij (1 - p_ij) (e_i - e_j)(e_i - e_j)^T``; with ``anchor`` held at
    0 it is invertible (where every player is joined to it by games), and its inverse is the large-sample
    covariance of the other ratings. The standard error of a difference ``r_i - r_j`` is then
    ``sqrt(C_ii + C_jj - 2 C_ij)``.

    :param ratings: ``(P,)`` Elo points, as :func:`fit_ratings` gives them.
    :param games: ``(P, P)`` games between each pair as fitted (:func:`fitted_games`).
    :returns: ``(P, P)`` float64, zero in the anchor's row and column.
    """
    ratings, games = np.asarray(ratings, dtype=np.float64), np.asarray(games, dtype=np.float64)
    if games.shape != (len(ratings), len(ratings)):
        raise ValueError(f"games must be ({len(ratings)}, {len(ratings)}) for {len(ratings)} ratings, got "
                         f"{games.shape}")
    chance = 1.0 / (1.0 + np.exp((ratings[None, :] - ratings[:, None]) / ELO))  # [i, j]: i beats j
    weight = games * chance * (1.0 - chance)
    np.fill_diagonal(weight, 0.0)
    information = np.diag(weight.sum(1)) - weight
    kept = [i for i in range(len(ratings)) if i != anchor]
    covariance = np.zeros_like(information)
    covariance[np.ix_(kept, kept)] = np.linalg.inv(information[np.ix_(kept, kept)]) * ELO**2
    return covariance


def tournament(make_env, players: Sequence[Player], games: int, steps: int) -> dict:
    """A round robin of ``players`` and their ratings: what ``megastep eval --tournament`` reports.

    :returns: ``games_per_pair``, ``steps``; ``players``: each player's ``name``, ``minutes`` (``None`` for a
        baseline), ``rating`` (random actions, the first player, at 0), ``score`` (share of its games won) and
        ``final_wins`` (the share of games the last player, the run's final policy, won against it) and
        ``rating_se`` (the standard error of its rating, :func:`rating_covariance`); ``rises``: from each
        snapshot to the next (the final policy last), ``from``, ``to``, the ``rise`` in rating and its standard
        error ``se``; ``rising``: whether every rise is above 0; ``clear_falls``: the rises below minus twice their
        standard error, which chance alone gives in about 2% of comparisons of equal players.
    """
    wins = round_robin(make_env, players, games, steps)
    ratings = fit_ratings(wins)
    covariance = rating_covariance(ratings, fitted_games(wins))
    final = len(players) - 1
    rows = []
    for index, player in enumerate(players):
        others = [j for j in range(len(players)) if j != index]
        rows.append({"name": player.name, "minutes": player.minutes, "rating": float(ratings[index]),
                     "score": float(wins[index, others].sum() / (games * len(others))),
                     "final_wins": float(wins[final, index] / games) if index != final else math.nan,
                     "rating_se": float(math.sqrt(covariance[index, index]))})
    snapshots = [index for index, player in enumerate(players) if player.minutes is not None]
    rises = [{"from": players[a].name, "to": players[b].name, "rise": float(ratings[b] - ratings[a]),
              "se": float(math.sqrt(covariance[a, a] + covariance[b, b] - 2 * covariance[a, b]))}
             for a, b in zip(snapshots, snapshots[1:])]
    return {"games_per_pair": int(games), "steps": int(steps), "players": rows, "rises": rises,
            "rising": all(rise["rise"] > 0 for rise in rises),
            "clear_falls": sum(rise["rise"] < -2 * rise["se"] for rise in rises)}


def format_tournament(result: dict) -> str:
    """The tournament's players as a table, in the order they were taken."""
    lines = [f"tournament: every pair of players, {result['games_per_pair']} games of {result['steps']} steps; "
             f"Bradley-Terry ratings on Elo's scale, random actions at 0",
             f"{'player':<16} {'minutes':>8} {'rating':>8} {'+-':>4} {'score':>6} {'final wins':>10}"]
    for row in result["players"]:
        minutes = "-" if row["minutes"] is None else "end" if math.isinf(row["minutes"]) else f"{row['minutes']:.1f}"
        final = "-" if math.isnan(row["final_wins"]) else f"{row['final_wins']:.2f}"
        lines.append(f"{row['name']:<16} {minutes:>8} {row['rating']:>8.0f} {row['rating_se']:>4.0f} "
                     f"{row['score']:>6.2f} {final:>10}")
    falls = sum(rise["rise"] <= 0 for rise in result["rises"])
    lines.append(f"ratings rise from each snapshot to the next: {'yes' if result['rising'] else 'no'}"
                 + ("" if result["rising"] else f" ({falls} of {len(result['rises'])} fall, "
                    f"{result['clear_falls']} by more than two standard errors)")
                 + " (+- one standard error)")
    lines += [f"  {rise['from']} -> {rise['to']}: {rise['rise']:+.0f} +- {rise['se']:.0f}" for rise in result["rises"]]
    return "\n".join(lines)
