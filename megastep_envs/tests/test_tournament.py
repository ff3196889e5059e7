"""Bradley-Terry ratings from constructed round-robin results, and the pairings that play them."""
import math

import numpy as np
import pytest
import torch

from megastep_envs.evaluation.tournament import ELO, Pairings, fit_ratings, rating_covariance


def results(probabilities: dict[tuple[int, int], float], players: int, games: int = 10_000) -> np.ndarray:
    wins = np.zeros((players, players))
    for (i, j), p in probabilities.items():
        wins[i, j], wins[j, i] = p * games, (1 - p) * games
    return wins


def test_two_players_are_as_far_apart_as_their_odds():
    ratings = fit_ratings(results({(0, 1): 0.25}, 2), prior_draws=0.0)
    # 1 win in 4 is odds of 1 to 3: 400 log10(3) points below
    assert ratings[0] == 0 and ratings[1] == pytest.approx(400 * math.log10(3), abs=1e-6)


def test_ratings_that_fit_a_bradley_terry_world_are_found_again():
    truth = np.array([0.0, 150.0, 400.0, 520.0])
    strength = 10 ** (truth / 400)
    probabilities = {(i, j): strength[i] / (strength[i] + strength[j]) for i in range(4) for j in range(i + 1, 4)}
    assert fit_ratings(results(probabilities, 4), prior_draws=0.0) == pytest.approx(truth, abs=1e-6)


def test_players_that_always_win_or_lose_keep_finite_ordered_ratings():
    wins = results({(0, 1): 0.0, (0, 2): 0.0, (1, 2): 0.0}, 3, games=16)  # 2 beats 1 beats 0, every game
    ratings = fit_ratings(wins)
    assert np.isfinite(ratings).all() and ratings[0] < ratings[1] < ratings[2]
    # the virtual draws pull towards each other: fewer games, closer ratings
    assert (np.diff(fit_ratings(results({(0, 1): 0.0, (0, 2): 0.0, (1, 2): 0.0}, 3, games=4))) < np.diff(ratings)).all()


def test_equal_results_give_equal_ratings_and_bad_input_is_refused():
    assert fit_ratings(results({(0, 1): 0.5, (0, 2): 0.5, (1, 2): 0.5}, 3)) == pytest.approx([0, 0, 0], abs=1e-9)
    with pytest.raises(ValueError, match="square matrix"):
        fit_ratings(np.zeros((2, 3)))


def test_the_standard_error_of_two_even_players_is_that_of_a_coin():
    """Two players of equal strength, n games: the log-odds of a share of wins near 1/2 has variance 4 / n."""
    covariance = rating_covariance(np.zeros(2), np.array([[0, 100], [100, 0]]))
    assert covariance[0] == pytest.approx([0, 0])
    assert math.sqrt(covariance[1, 1]) == pytest.approx(ELO * 2 / math.sqrt(100))


def test_the_standard_errors_say_how_far_chance_moves_the_ratings():
    """Round robins drawn from known ratings, fitted again: the spread of each fitted difference is what
    rating_covariance predicts (within the sampling error of 300 tournaments)."""
    truth = np.array([0.0, 100.0, 200.0, 250.0])
    games = 64
    chance = 1 / (1 + 10 ** ((truth[None, :] - truth[:, None]) / 400))
    generator = np.random.default_rng(0)
    fitted = []
    for _ in range(300):
        wins = np.zeros((4, 4))
        for i in range(4):
            for j in range(i + 1, 4):
                wins[i, j] = generator.binomial(games, chance[i, j])
                wins[j, i] = games - wins[i, j]
        fitted.append(fit_ratings(wins, prior_draws=0.0))
    fitted = np.array(fitted)
    covariance = rating_covariance(truth, games * (1 - np.eye(4)))
    for i, j in [(0, 1), (1, 2), (2, 3), (0, 3)]:
        predicted = math.sqrt(covariance[i, i] + covariance[j, j] - 2 * covariance[i, j])
        assert np.std(fitted[:, j] - fitted[:, i]) == pytest.approx(predicted, rel=0.15)
    with pytest.raises(ValueError, match="games must be"):
        rating_covariance(truth, np.zeros((3, 3)))


def test_each_player_of_a_pair_takes_each_side_in_half_its_games():
    """Three players, 3 pairs of 4 games of 4 agents: in each pair's first two envs its first player has the even
    agents, in the last two the odd ones, so a side's edge does not follow the order the players were listed in."""
    players = [lambda env: None] * 3
    pairings = Pairings(players, games=4, n_agents=4, device="cpu")
    assert pairings.sides.shape == (12, 4)
    even_first = torch.tensor([0, 1, 0, 1])
    for env in range(12):
        expected = even_first if env % 4 < 2 else 1 - even_first
        assert pairings.sides[env].tolist() == expected.tolist()
    first, second = zip(*pairings.pairs)
    for env in range(12):
        pair = env // 4
        owners = torch.where(pairings.sides[env] == 0, first[pair], second[pair])
        assert pairings.owners[env].tolist() == owners.tolist()
    assert Pairings(players, games=3, n_agents=2, device="cpu").sides[:3].tolist() == [[0, 1], [0, 1], [1, 0]]


def test_a_network_acting_for_some_agents_acts_and_remembers_as_it_would_for_all():
    """A round robin runs each network on its own agents alone: on those rows its actions and memories are those
    of the network run on every agent, and the other rows' memories stay as they were."""
    from megastep_envs import make
    from megastep_envs.evaluation.policies import NetworkPolicy
    from megastep_envs.train.model import Agent
    from megastep_geometry import toys

    env = make("deathmatch", 3, geometries=[toys.box(3.0, 3.0)], device="cpu", pixels=16)
    torch.manual_seed(0)
    model = Agent(env.observation_space, env.action_space, 16, lstm=True)
    everyone, some = NetworkPolicy(model, deterministic=True), NetworkPolicy(model, deterministic=True)
    rows = torch.tensor([1, 4, 6, 11])
    env.reset()
    for _ in range(5):
        actions = everyone(env)
        assert some(env, rows).tolist() == actions.flatten()[rows].tolist()
        env.step(actions)
    others = torch.tensor([i for i in range(env.n_envs * env.n_agents) if i not in rows.tolist()])
    for full, part in zip(everyone.memory, some.memory):
        assert torch.allclose(part[:, rows], full[:, rows], atol=1e-6)
        assert not part[:, others].any() and full[:, others].any()  # still the initial memory; moved on in the other


def test_each_player_of_a_round_robin_acts_for_its_own_agents():
    """Pairings puts each player's action on the agents it owns, and runs a network on those alone."""
    from megastep_envs.evaluation.policies import NetworkPolicy

    class Env:
        n_envs, n_agents, batch = 6, 2, (6, 2)

    constant = [lambda env, value=value: torch.full(env.batch, value) for value in range(3)]
    pairings = Pairings(constant, games=2, n_agents=2, device="cpu")
    assert torch.equal(pairings(Env()), pairings.owners)

    class Recording(NetworkPolicy):
        def __init__(self):
            self.asked = None

        def __call__(self, env, rows=None):
            self.asked = rows
            return torch.full((len(rows),), 7)

    network = Recording()
    pairings = Pairings([constant[0], network, constant[2]], games=2, n_agents=2, device="cpu")
    actions = pairings(Env())
    assert torch.equal(network.asked, (pairings.owners.flatten() == 1).nonzero().squeeze(-1))
    assert torch.equal(actions, torch.where(pairings.owners == 1, 7, pairings.owners))


def test_sides_run_a_network_on_its_own_agents_alone():
    """Sides, the trained-against-baseline games' twin of Pairings, asks a network for its agents' actions alone."""
    from megastep_envs.evaluation import Sides
    from megastep_envs.evaluation.policies import NetworkPolicy

    class Env:
        n_envs, n_agents, batch, device = 3, 4, (3, 4), "cpu"

    class Recording(NetworkPolicy):
        def __init__(self):
            self.asked = []

        def __call__(self, env, rows=None):
            self.asked.append(rows)
            return torch.full((len(rows),), 7)

    network = Recording()
    sides = Sides([lambda env: torch.full(env.batch, 1), network])
    for _ in range(2):
        assert sides(Env()).tolist() == [[1, 7, 1, 7]] * 3
    assert network.asked[0].tolist() == [1, 3, 5, 7, 9, 11] and torch.equal(network.asked[1], network.asked[0])
    assert Sides([lambda env: torch.zeros(env.batch, dtype=torch.int64), network])(
        type("Lone", (), {"n_envs": 2, "n_agents": 1, "batch": (2, 1), "device": "cpu"})()).tolist() == [[0], [0]]


def test_the_report_says_how_many_ratings_fall_and_how_clearly():
    from megastep_envs.evaluation.tournament import format_tournament

    rises = [{"from": "a", "to": "b", "rise": 120.0, "se": 30.0}, {"from": "b", "to": "c", "rise": -20.0, "se": 30.0},
             {"from": "c", "to": "final", "rise": -90.0, "se": 30.0}]
    result = {"games_per_pair": 32, "steps": 1000, "players": [], "rises": rises, "rising": False, "clear_falls": 1}
    printed = format_tournament(result)
    assert "next: no (2 of 3 fall, 1 by more than two standard errors)" in printed
    assert "c -> final: -90 +- 30" in printed
    assert "next: yes (+- one" in format_tournament({**result, "rises": rises[:1], "rising": True, "clear_falls": 0})
