"""Measuring policies: on unseen homes, beside scripted baselines, and against each other.

=====================  ===========================================================================
module                 its one job
=====================  ===========================================================================
:mod:`.spl`            success weighted by path length
:mod:`.baselines`      scripted policies: random, PointGoal's walker, an explorer, a Deathmatch bot
:mod:`.policies`       a trained network as a policy; two policies sharing an env; reading checkpoints
:mod:`.navigation`     PointGoal's success rate and SPL over fixed episodes
:mod:`.exploration`    Explorer's coverage after fixed step counts
:mod:`.combat`         Deathmatch's hits given and taken, and head-to-head wins
:mod:`.ratings`        Elo ratings from head-to-head results
:mod:`.pool`           a pool of policy snapshots to draw self-play opponents from
:mod:`.tournament`     a round robin between a run's snapshots, and their Bradley-Terry ratings
:mod:`.evaluate`       all of it for a checkpoint or a network: :func:`evaluate_policy`
:mod:`.report`         the report as a table and as JSON
:mod:`.recording`      a short video of env 0
:mod:`.cli`            ``megastep eval``
=====================  ===========================================================================
"""
from .baselines import BASELINES, WallAvoider, aim_and_fire, baselines_for, greedy_walker, random_policy
from .evaluate import evaluate_checkpoint, evaluate_policy
from .policies import EvaluationError, NetworkPolicy, Sides
from .pool import CURRENT, SnapshotPool
from .ratings import Elo, expected_score
from .spl import spl

__all__ = [
    "BASELINES", "CURRENT", "Elo", "EvaluationError", "NetworkPolicy", "Sides", "SnapshotPool", "WallAvoider",
    "aim_and_fire", "baselines_for", "evaluate_checkpoint", "evaluate_policy", "expected_score", "greedy_walker",
    "random_policy", "spl",
]
