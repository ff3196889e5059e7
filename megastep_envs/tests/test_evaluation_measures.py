"""SPL, Elo ratings and the snapshot pool, on constructed results worked out by hand."""
import math

import pytest
import torch

from megastep_envs.evaluation import CURRENT, Elo, SnapshotPool, expected_score, spl


def test_spl_weights_each_success_by_shortest_over_travelled():
    # a success on the shortest path (1), a success with a detour twice as long (0.5), a failure (0)
    assert spl(torch.tensor([1, 1, 0]), torch.tensor([4.0, 3.0, 2.0]), torch.tensor([4.0, 6.0, 2.0])) == \
        pytest.approx((1 + 0.5 + 0) / 3)
    # a path shorter than the shortest one (ended within the success radius) counts as the shortest
    assert spl([True], [5.0], [4.8]) == pytest.approx(1.0)
    # an episode that starts at its goal and succeeds scores 1; failing it scores 0
    assert spl([1, 0], [0.0, 0.0], [0.0, 0.0]) == pytest.approx(0.5)


def test_spl_refuses_what_it_cannot_weigh():
    with pytest.raises(ValueError, match="success must hold"):
        spl([], [], [])
    with pytest.raises(ValueError, match="shortest must be finite"):
        spl([1], [math.inf], [3.0])
    with pytest.raises(ValueError, match="travelled must have one entry per episode"):
        spl([1, 0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="success must be 0 or 1"):
        spl([0.5], [1.0], [1.0])


def test_elo_update_follows_the_rule_and_conserves_the_total():
    elo = Elo(k=32)
    elo.add("a", 1200.0)
    elo.add("b", 1000.0)
    expected = 1 / (1 + 10 ** (-200 / 400))  # a's chance: 0.7597
    assert expected_score(1200, 1000) == pytest.approx(expected)
    a, b = elo.update("a", "b", 0.0)  # the favourite loses
    assert a == pytest.approx(1200 - 32 * expected) and b == pytest.approx(1000 + 32 * expected)
    assert a + b == pytest.approx(2200.0)
    # a draw between equals changes nothing; a share of many games moves as that many games
    elo.add("c", 1000.0)
    elo.add("d", 1000.0)
    assert elo.update("c", "d", 0.5) == (1000.0, 1000.0)
    assert elo.update("c", "d", 1.0, games=3)[0] == pytest.approx(1000 + 3 * 32 * 0.5)
    assert elo.games["c"] == 4


def test_a_dominant_snapshot_rises_to_the_top():
    elo = Elo()
    players = ["s0", "s1", "s2", "s3"]
    for _ in range(30):
        for other in players[:-1]:
            elo.update("s3", other, 1.0)  # s3 beats everyone
        elo.update("s0", "s1", 0.5)
    assert elo.ranking()[0][0] == "s3"
    assert elo["s3"] > max(elo[p] for p in players[:-1]) + 400
    assert sum(elo.ratings.values()) == pytest.approx(4 * 1000.0)  # every update conserved the total


def test_elo_refuses_bad_results():
    elo = Elo()
    with pytest.raises(ValueError, match="cannot play itself"):
        elo.update("a", "a", 1.0)
    with pytest.raises(ValueError, match="score must be in"):
        elo.update("a", "b", 2.0)
    with pytest.raises(ValueError, match="k must be"):
        Elo(k=0)
    restored = Elo.from_state_dict(elo.state_dict())
    assert restored.ratings == elo.ratings


def test_the_pool_draws_the_current_policy_with_its_probability_and_snapshots_uniformly():
    pool = SnapshotPool(capacity=3, current_probability=0.25, seed=1)
    assert pool.sample() == CURRENT  # no snapshot yet
    weights = {"w": torch.zeros(2)}
    for name in ["a", "b", "c", "d"]:
        pool.add(name, weights)
    assert list(pool.snapshots) == ["b", "c", "d"]  # the oldest dropped
    assert pool.weights() == pytest.approx({CURRENT: 0.25, "b": 0.25, "c": 0.25, "d": 0.25})
    draws = [pool.sample() for _ in range(4000)]
    for name in [CURRENT, "b", "c", "d"]:
        assert draws.count(name) / 4000 == pytest.approx(0.25, abs=0.03)
    weights["w"] += 1  # the pool kept a copy
    assert pool.state_dict("b")["w"].sum() == 0


def test_the_pool_draws_stronger_snapshots_more_often_by_rating():
    pool = SnapshotPool(current_probability=0.0, sampling="rating", temperature=400.0)
    pool.add("weak", {}, rating=1000.0)
    pool.add("strong", {}, rating=1400.0)
    assert pool.weights() == pytest.approx({CURRENT: 0.0, "weak": 1 / 11, "strong": 10 / 11})
    with pytest.raises(ValueError, match="sampling must be"):
        SnapshotPool(sampling="best")
    with pytest.raises(ValueError, match="name must be new"):
        pool.add("weak", {})
