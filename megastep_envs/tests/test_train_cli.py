"""``megastep train``: train, resume, evaluate with a video, and refuse a corrupt checkpoint."""
import dataclasses

import imageio.v3 as iio
import pytest

from megastep_core.cli import main as megastep
from megastep_envs.train import checkpoint
from megastep_envs.train.cli import main as train_module
from megastep_envs.train.hyperparameters import Hyperparameters

TINY = ["--envs", "2", "--steps", "8", "--hidden", "16", "--device", "cpu", "--no-progress"]


def test_the_help_names_every_hyperparameter(capsys):
    """Each hyperparameter's flag, with its docstring as the help (argparse would fail on a docstring's own %)."""
    with pytest.raises(SystemExit) as exit:
        train_module(["--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(Hyperparameters):
        assert "--" + field.name.replace("_", "-") in text


def test_train_then_resume_then_record(tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    assert megastep(["train", "minimal", "--out", str(out), "--total-steps", "64", "--updates", "2", *TINY]) == 0
    assert checkpoint.load(out / "checkpoint.pt")["update"] == 2
    assert train_module(["minimal", "--out", str(out), "--resume", "--total-steps", "64", "--device", "cpu",
                         "--no-progress"]) == 0
    state = checkpoint.load(out / "checkpoint.pt")
    assert (state["update"], state["env_steps"]) == (4, 64)
    assert "minimal: 64 env steps in 4 updates" in capsys.readouterr().out

    video = tmp_path / "agent.mp4"
    assert megastep(["train", "minimal", "--eval", str(out / "checkpoint.pt"), "--video", str(video),
                     "--eval-steps", "12", "--envs", "2", "--no-progress"]) == 0
    frames = sum(1 for _ in iio.imiter(video))
    assert frames == 12
    assert f"wrote {video}" in capsys.readouterr().out


def test_a_corrupt_checkpoint_is_refused(tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"\x00" * 100)
    assert megastep(["train", "minimal", "--eval", str(path), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert f"cannot read checkpoint {path}" in error and "corrupt" in error
    assert megastep(["train", "minimal", "--resume", str(path), "--device", "cpu", "--no-progress"]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_resuming_keeps_the_hyperparameters(tmp_path, capsys, one_thread):
    out = tmp_path / "run"
    assert megastep(["train", "minimal", "--out", str(out), "--total-steps", "32", *TINY]) == 0
    assert megastep(["train", "minimal", "--out", str(out), "--resume", "--learning-rate", "0.1"]) == 2
    assert "--learning-rate cannot change when resuming" in capsys.readouterr().err


def test_bad_flags_are_reported(tmp_path, capsys):
    assert megastep(["train", "minimal", "--envs", "0", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "envs must be a positive integer" in capsys.readouterr().err
    assert megastep(["train", "minimal", "--video", "x.mp4", "--out", str(tmp_path)]) == 2
    assert "--eval" in capsys.readouterr().err
    assert megastep(["train", "nowhere", "--out", str(tmp_path)]) == 2
    assert "no environment is called 'nowhere'" in capsys.readouterr().err
