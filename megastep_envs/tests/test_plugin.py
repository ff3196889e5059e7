"""megastep-envs' plugin: its reward backends and its commands, found through the entry point."""
import argparse

import pytest

from megastep_core import UnknownBackendError, get_plugin_manager, make_backend
from megastep_envs.tasks.rewards import (
    REWARDS,
    ForwardProgress,
    GoalProgress,
    GoalReached,
    Hits,
    NewTexels,
    ZeroSumHits,
)


def test_the_plugin_lists_one_reward_per_task():
    manager = get_plugin_manager()
    manager.check_pending()
    names = {info.name for plugin, info in manager.backends("reward") if plugin == "envs"}
    assert names == {"forward_progress", "new_texels", "goal_reached", "goal_progress", "hits",
                     "zero_sum_hits"} == set(REWARDS)


@pytest.mark.parametrize("name, cls", [("forward_progress", ForwardProgress), ("new_texels", NewTexels),
                                       ("goal_reached", GoalReached), ("goal_progress", GoalProgress),
                                       ("hits", Hits), ("zero_sum_hits", ZeroSumHits)])
def test_megastep_reward_makes_each_reward_by_name(name, cls):
    option = "hit" if cls is ZeroSumHits else "scale"
    reward = get_plugin_manager().hook.megastep_reward(name=name, options={option: 2.0})
    assert isinstance(reward, cls) and getattr(reward, option) == 2.0
    assert get_plugin_manager().hook.megastep_reward(name="someone_elses", options={}) is None


def test_reward_options_are_checked():
    with pytest.raises(ValueError, match="scale must be finite"):
        make_backend("reward", "hits", scale=float("nan"))
    with pytest.raises(UnknownBackendError, match="forward_progress"):
        make_backend("reward", "unheard_of")


def test_megastep_commands_adds_demo_and_bench():
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    get_plugin_manager().hook.megastep_commands(subparsers=subparsers)
    args = parser.parse_args(["demo", "explorer"])
    assert (args.envs, args.steps, args.device, args.physics, args.renderer, args.seed, args.policy) == (
        64, 300, "auto", "auto", "auto", 0, "random")
    args = parser.parse_args(["bench", "--physics", "torch", "cuda", "--envs", "1024", "4096", "--env", "explorer"])
    assert args.physics == ["torch", "cuda"] and args.envs == [1024, 4096] and args.env == ["explorer"]
    assert args.renderer is None and args.config is None and args.layouts is None and args.device == "auto"
