"""The reward of each env's task, as ``megastep_reward`` plugins selectable by name.

Each reward lives in the file of the env it was written for; this module only names them.
A reward is an object with ``reset(env, mask)`` and ``__call__(env, render) -> (E, A)``
(:class:`megastep_core.Reward`). Envs make theirs with
``get_plugin_manager().make("reward", name, options)``, so a user swaps the
reward of an env by passing another name, without editing the env.

========================  ===========  ===================================================
name                      env          pays
========================  ===========  ===================================================
``forward_progress``      Minimal      metres per second moved in the direction faced
``new_texels``            Explorer     wall texels seen for the first time this episode
``goal_reached``          PointGoal    1 on the step the agent comes within reach of its goal
``goal_progress``         PointGoal    the metres of walking distance to the goal gained this step, and 1 on
                                       reaching it
``hits``                  Deathmatch   1 for each step an agent holds another at the centre of its view
``zero_sum_hits``         Deathmatch   1 per hit given, -1 per hit taken, and a death's cost from the dead
                                       to those who killed it
========================  ===========  ===================================================
"""
from __future__ import annotations

from megastep_core.deprecation import old_names

from . import common
from .deathmatch import Hits, ZeroSumHits
from .explorer import NewTexels
from .minimal import ForwardProgress
from .pointgoal import GoalProgress, GoalReached

REWARDS = {
    "forward_progress": (ForwardProgress, "Minimal: metres per second moved in the direction faced"),
    "new_texels": (NewTexels, "Explorer: wall texels seen for the first time, per image pixel"),
    "goal_reached": (GoalReached, "PointGoal: 1 on reaching the goal"),
    "hits": (Hits, "Deathmatch: 1 per step another agent is at the centre of view"),
    "goal_progress": (GoalProgress, "PointGoal: metres of walking distance to the goal gained, and 1 on reaching it"),
    "zero_sum_hits": (ZeroSumHits, "Deathmatch: hits given less hits taken, and a death's cost paid to its killers"),
}


# centre_targets was here before tasks had a module of their own for what they share
__getattr__ = old_names(__name__, {"centre_targets": (
    common.centre_targets,
    f"centre_targets moved from {__name__} to megastep_envs.tasks.common; import it from there")})


__all__ = ["REWARDS", "ForwardProgress", "GoalProgress", "GoalReached", "Hits", "NewTexels", "ZeroSumHits"]
