"""The module paths and names of megastep_envs from before its layout as the step reads (step/, modules/, tasks/,
tools/) still work, each with a DeprecationWarning naming its replacement."""
import importlib
import sys

import pytest

from megastep_envs._moved import MOVED


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_an_old_module_path_imports_the_new_module_and_names_it(old, new):
    sys.modules.pop(f"megastep_envs.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"megastep_envs.{old} moved to megastep_envs.{new}"):
        module = importlib.import_module(f"megastep_envs.{old}")
    expected = importlib.import_module(f"megastep_envs.{new}")
    assert module is expected or module.__dict__.items() >= {k: v for k, v in vars(expected).items()
                                                              if not k.startswith("__")}.items()
    assert expected.__spec__.name == f"megastep_envs.{new}"  # the new module still names its own path


def test_the_old_fusion_names_are_the_compiling_ones():
    sys.modules.pop("megastep_envs.fusion", None)
    with pytest.warns(DeprecationWarning, match="megastep_envs.step.compiling"):
        from megastep_envs.fusion import fused, fusion
    from megastep_envs.step.compiling import compilable, compiling

    assert (fused, fusion) == (compilable, compiling)


def test_old_names_of_classes_warn_naming_the_new_ones():
    import megastep_envs
    from megastep_envs.modules import observations
    from megastep_envs.step import graphs
    from megastep_envs.tasks import rewards

    with pytest.warns(DeprecationWarning, match="FunctionObservation"):
        assert megastep_envs.Computed is megastep_envs.FunctionObservation
    with pytest.warns(DeprecationWarning, match="FunctionObservation"):
        assert observations.Computed is observations.FunctionObservation
    with pytest.warns(DeprecationWarning, match="SideStreams"):
        assert graphs.Beside is graphs.SideStreams
    with pytest.warns(DeprecationWarning, match="SideBlock"):
        assert graphs.Branch is graphs.SideBlock
    with pytest.warns(DeprecationWarning, match="centre_targets moved from megastep_envs.tasks.rewards to "
                                                "megastep_envs.tasks.common"):
        assert rewards.centre_targets is importlib.import_module("megastep_envs.tasks.common").centre_targets


def test_the_old_plot_state_entry_points_warn_naming_the_tool():
    import megastep_envs
    from megastep_envs import make
    from megastep_geometry import toys

    env = make("minimal", 1, geometries=[toys.box(3.0, 3.0)], device="cpu")
    env.reset()
    with pytest.warns(DeprecationWarning, match="megastep_envs.tools.plotting.plot_state"):
        env.plot_state(env.state(0))
    with pytest.warns(DeprecationWarning, match="megastep_envs.tools.plotting.plot_state"):
        megastep_envs.plot_state(env.state(0))


def test_sample_homes_is_still_reachable_from_explorer():
    from megastep_envs.tasks import explorer
    from megastep_geometry.env_homes import sample_homes

    assert explorer.sample_homes is sample_homes
