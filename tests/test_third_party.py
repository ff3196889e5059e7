"""A third-party plugin, installed from its own distribution, is listed and selected by name."""
import os
import subprocess
import sys

import pytest
import torch

from megastep_core import Camera, UnknownBackendError, World, get_plugin_manager
from megastep_geometry import toys


def megastep(*args, **env):
    done = subprocess.run(
        [sys.executable, "-m", "megastep_core.cli", *args],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )
    return done


def rows(table: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in table.splitlines()[2:] if line and line[0].isalnum()}


def test_plugins_lists_builtins_and_third_parties():
    done = megastep("plugins")
    assert done.returncode == 0, done.stderr
    listed = rows(done.stdout)
    for name in ("core", "physics", "render", "geometry", "envs", "cuda_physics", "cuda_render", "frozen", "broken"):
        assert name in listed, f"{name} missing from:\n{done.stdout}"
    assert listed["frozen"][1:4] == ["megastep-frozen", "1.2.3", "frozen"]
    assert "FAILED" in listed["broken"]
    assert "'broken' from megastep-broken 0.0.1 failed to load: ImportError" in done.stdout


def test_disabling_autoload_lists_builtins_only():
    done = megastep("plugins", MEGASTEP_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0, done.stderr
    listed = rows(done.stdout)
    assert "frozen" not in listed and "broken" not in listed
    assert {"core", "physics", "render", "geometry", "envs"} <= set(listed)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the listing on a machine without CUDA")
def test_cuda_backends_are_listed_unavailable_with_a_reason():
    done = megastep("plugins")
    assert "physics 'stop:cuda' (cuda_physics) is unavailable:" in done.stdout
    assert "renderer 'raycast:cuda' (cuda_render) is unavailable:" in done.stdout


def test_third_party_physics_is_selected_by_name():
    world = World([toys.box(4, 3)], cameras=[Camera(16, 90)], physics="frozen", renderer="raycast:torch", device="cpu")
    world.agents.positions[:] = torch.tensor([2.0, 1.5])
    world.agents.velocity[:] = torch.tensor([1.0, 0.0])
    progress = world.move()
    assert type(world.physics).__name__ == "FrozenPhysics"
    assert torch.equal(world.agents.positions, torch.tensor([[[2.0, 1.5]]]))
    assert progress.tolist() == [[0.0]]


def test_a_bad_name_lists_the_installed_backends_and_the_broken_plugin():
    with pytest.raises(UnknownBackendError) as info:
        World([toys.box(4, 3)], physics="warp-drive", device="cpu")
    message = str(info.value)
    for name in ("'stop:torch'", "'slide:cuda'", "'frozen'", "'stop'", "'slide'", "'auto'"):
        assert name in message
    assert "broken from megastep-broken" in message


def test_no_hook_implementation_lacks_a_spec():
    get_plugin_manager().check_pending()


def test_a_real_third_party_physics_moves_agents_and_keeps_the_protocol():
    """megastep-careful (tests/plugins/careful, built in docs/tutorials/physics_plugin.rst) needs only megastep-core."""
    from megastep_core import Physics, require

    world = World([toys.box(4, 3)], n_agents=2, cameras=[Camera(8, 90)], physics="careful", device="cpu")
    require(world.physics, Physics)
    assert world.backends["physics"] == "careful:torch"
    world.agents.positions[:] = torch.tensor([[1.0, 1.5], [3.0, 1.5]])
    world.agents.velocity[:] = torch.tensor([[5.0, 0.0], [0.0, 0.0]])
    moves = [world.move()[0, 0].item() for _ in range(4)]
    assert moves == [1.0, 1.0, 1.0, 0.0]
    assert world.agents.positions[0, 0].tolist() == [2.5, 1.5]
