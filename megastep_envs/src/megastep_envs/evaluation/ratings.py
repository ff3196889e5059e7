"""Elo ratings of a pool of players (policy snapshots), updated from head-to-head results.

Elo's model: a player rated ``R_a`` beats one rated ``R_b`` with probability

    E_a = 1 / (1 + 10 ** ((R_b - R_a) / 400))

so 400 points apart is odds of 10 to 1. After a game with score ``S_a`` (1 for
a win, 0.5 for a draw, 0 for a loss; a fraction for a share of many games),
each rating moves by ``k`` times the surprise:

    R_a += k * (S_a - E_a),    R_b += k * ((1 - S_a) - E_b)

Since ``E_a + E_b = 1``, what one player gains the other loses: a two-player
update conserves the pool's total rating. Only differences mean anything;
new players start at :data:`INITIAL_RATING`.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

INITIAL_RATING = 1000.0
"""A new player's rating."""

DEFAULT_K = 32.0
"""Points a rating moves for a result of complete surprise (a sure loser winning)."""


def expected_score(rating: float, opponent: float) -> float:
    """The probability that a player rated ``rating`` beats one rated ``opponent`` (draws count half)."""
    return 1.0 / (1.0 + 10.0 ** ((opponent - rating) / 400.0))


class Elo:
    """The ratings of named players.

    :param k: points a rating moves for a result of complete surprise.
    :param initial: a new player's rating.
    :ivar ratings: by player.
    :ivar games: games played, by player.
    """

    def __init__(self, k: float = DEFAULT_K, initial: float = INITIAL_RATING):
        if not (math.isfinite(k) and k > 0):
            raise ValueError(f"k must be a positive number of rating points, got {k!r}")
        if not math.isfinite(initial):
            raise ValueError(f"initial must be a finite rating, got {initial!r}")
        self.k, self.initial = float(k), float(initial)
        self.ratings: dict[Hashable, float] = {}
        self.games: dict[Hashable, int] = {}

    def add(self, player: Hashable, rating: float | None = None) -> None:
        """Enters ``player`` (at ``rating``, default the initial one); a player already in keeps its rating."""
        if player not in self.ratings:
            self.ratings[player] = self.initial if rating is None else float(rating)
            self.games[player] = 0

    def __getitem__(self, player: Hashable) -> float:
        return self.ratings[player]

    def __contains__(self, player: Hashable) -> bool:
        return player in self.ratings

    def update(self, player: Hashable, opponent: Hashable, score: float, games: int = 1) -> tuple[float, float]:
        """Records ``games`` games of ``player`` against ``opponent`` in which ``player`` scored ``score`` on average.

        Both are entered if new. Several games at once move the ratings as that many games would from the ratings
        before them (``k * games``).

        :param score: in [0, 1]: 1 a win, 0.5 a draw, 0 a loss, or the mean over the games.
        :returns: the two new ratings.
        """
        if player == opponent:
            raise ValueError(f"a player cannot play itself, got {player!r} twice")
        if not 0 <= score <= 1:
            raise ValueError(f"score must be in [0, 1] (1 a win, 0 a loss), got {score!r}")
        if isinstance(games, bool) or int(games) != games or games < 1:
            raise ValueError(f"games must be a positive integer, got {games!r}")
        self.add(player)
        self.add(opponent)
        ours, theirs = self.ratings[player], self.ratings[opponent]
        change = self.k * games * (score - expected_score(ours, theirs))
        self.ratings[player], self.ratings[opponent] = ours + change, theirs - change
        self.games[player] += games
        self.games[opponent] += games
        return self.ratings[player], self.ratings[opponent]

    def update_all(self, results: Iterable[tuple[Hashable, Hashable, float]]) -> None:
        """Records ``(player, opponent, score)`` results in order, one game each."""
        for player, opponent, score in results:
            self.update(player, opponent, score)

    def ranking(self) -> list[tuple[Hashable, float]]:
        """``(player, rating)`` from the highest rating down."""
        return sorted(self.ratings.items(), key=lambda item: -item[1])

    def state_dict(self) -> dict:
        """The ratings as plain data (player names as strings), for a checkpoint or JSON."""
        return {"k": self.k, "initial": self.initial,
                "players": [[str(p), self.ratings[p], self.games[p]] for p in self.ratings]}

    @classmethod
    def from_state_dict(cls, state: dict) -> Elo:
        elo = cls(state["k"], state["initial"])
        for player, rating, games in state["players"]:
            elo.ratings[player], elo.games[player] = float(rating), int(games)
        return elo
