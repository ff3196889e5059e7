import numpy as np
import pytest

from megastep_core.cli import main
from megastep_geometry.layouts import load_layouts
from megastep_geometry.masks import wall_distances

PNG = b"\x89PNG\r\n\x1a\n"


def test_homes_writes_a_layouts_file(tmp_path, capsys):
    out = tmp_path / "homes.npz"
    assert main(["homes", "--count", "3", "--seed", "2", "--split", "test", "--out", str(out)]) == 0
    assert "wrote 3 test homes of seed 2" in capsys.readouterr().out
    loaded = load_layouts(out)
    assert [g.name for g in loaded] == [f"home(seed=2, index={i})" for i in (9, 19, 29)]
    with np.load(out, allow_pickle=False) as data:
        assert data["spawns"].shape == (3, 256, 2) and data["walls"].dtype == np.float32
    for geometry in loaded:
        assert wall_distances(geometry.spawns, geometry.walls).min() > 0.156


def test_homes_uses_the_cache_argument(tmp_path):
    assert main(["homes", "--count", "1", "--out", str(tmp_path / "h.npz"), "--cache", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "homes" / "seed0" / "chunk0000.npz").exists()


def test_homes_reports_bad_counts(tmp_path, capsys):
    assert main(["homes", "--count", "0", "--out", str(tmp_path / "h.npz")]) == 1
    assert "megastep homes: error: --count must be at least 1 home, got 0" in capsys.readouterr().err


def test_show_draws_a_plan(tmp_path, capsys):
    main(["homes", "--count", "2", "--out", str(tmp_path / "h.npz")])
    out = tmp_path / "plan.png"
    assert main(["show", str(tmp_path / "h.npz"), "--index", "1", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 10_000
    assert "drew home(seed=0, index=1)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["show", "missing.npz"], "No such file"),
    (["show", "{file}", "--index", "5"], "--index 5 is out of range"),
])
def test_show_reports_errors(tmp_path, capsys, argv, message):
    main(["homes", "--count", "1", "--out", str(tmp_path / "h.npz")])
    argv = [a.format(file=tmp_path / "h.npz") for a in argv]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_commands_are_listed(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "homes" in out and "show" in out
