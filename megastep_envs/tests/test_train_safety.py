"""Runs that never lose work: each case found by using ``megastep train`` as a new user would."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from megastep_core.cli import main as megastep
from megastep_envs.train import checkpoint, learner, ppo
from megastep_envs.train.hyperparameters import Hyperparameters, TrainError, defaults

TINY = ["--envs", "2", "--steps", "8", "--hidden", "16", "--device", "cpu", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**changes) -> Hyperparameters:
    fields = {"envs": 2, "steps": 8, "total_steps": 64, "hidden": 16, "device": "cpu", **changes}
    return dataclasses.replace(defaults("minimal"), **fields)


def records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_folder_holding_a_run_is_not_written_over(tmp_path, capsys):
    out = tmp_path / "run"
    assert megastep(["train", "minimal", "--out", str(out), "--total-steps", "32", *TINY]) == 0
    before = (out / "checkpoint.pt").read_bytes(), (out / "metrics.jsonl").read_text()
    assert megastep(["train", "minimal", "--out", str(out), "--total-steps", "32", *TINY]) == 2
    error = capsys.readouterr().err
    assert "holds a run already" in error and "--resume" in error and "--overwrite" in error
    assert ((out / "checkpoint.pt").read_bytes(), (out / "metrics.jsonl").read_text()) == before
    # starting over is asked for by name, and leaves one run's records
    assert megastep(["train", "minimal", "--out", str(out), "--total-steps", "48", "--overwrite", *TINY]) == 0
    assert [r["env_steps"] for r in records(out)] == [16, 32, 48]


def test_a_resume_keeps_the_saved_total_and_continues_the_schedule(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert megastep(["train", "minimal", "--out", str(straight), "--total-steps", "64", *TINY]) == 0
    assert megastep(["train", "minimal", "--out", str(split), "--total-steps", "64", "--updates", "2", *TINY]) == 0
    # no --total-steps: the saved 64, not Minimal's default
    assert megastep(["train", "minimal", "--out", str(split), "--resume", "--no-progress"]) == 0
    assert checkpoint.load(split / "checkpoint.pt")["env_steps"] == 64
    rates = lambda out: [r["charts/learning_rate"] for r in records(out)]
    assert rates(split) == rates(straight)


def test_a_non_finite_update_is_undone_and_skipped(tmp_path, monkeypatch):
    real, calls = learner.gae, []

    def poisoned_at_the_second_update(*args):
        calls.append(1)
        advantages, targets = real(*args)
        return (advantages * float("nan"), targets) if len(calls) == 2 else (advantages, targets)

    monkeypatch.setattr(learner, "gae", poisoned_at_the_second_update)
    with pytest.warns(UserWarning, match="update 2: the gradients were not finite"):
        result = ppo.train("minimal", tiny(total_steps=64), out=tmp_path, progress=False)
    assert result.updates == 4
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    saved = checkpoint.load(tmp_path / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for v in saved["model"].values())


def test_non_finite_updates_in_a_row_stop_the_run_keeping_the_last_good_checkpoint(tmp_path, monkeypatch):
    real, calls = learner.gae, []

    def poisoned_from_the_second_update(*args):
        calls.append(1)
        advantages, targets = real(*args)
        return (advantages * float("nan"), targets) if len(calls) >= 2 else (advantages, targets)

    monkeypatch.setattr(learner, "gae", poisoned_from_the_second_update)
    config = tiny(total_steps=16 * 10, checkpoint_minutes=0.0)  # a checkpoint after every update
    with pytest.warns(UserWarning), pytest.raises(TrainError, match="3 updates in a row had non-finite gradients"):
        ppo.train("minimal", config, out=tmp_path, progress=False)
    saved = checkpoint.load(tmp_path / "checkpoint.pt")
    assert saved["update"] == 1  # the only good one; the skipped updates wrote nothing
    assert all(torch.isfinite(v).all() for v in saved["model"].values())


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_stops_the_run_at_an_update_with_a_checkpoint(tmp_path, name, code):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "megastep_envs.train", "minimal", "--out", str(out), "--total-steps", "100000000",
         *TINY], env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ((out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        process.send_signal(getattr(signal, name))
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, stderr[-2000:]
    assert f"{name}: checkpoint written to" in stdout
    saved = checkpoint.load(out / "checkpoint.pt")
    assert saved["update"] == len(records(out)) >= 1  # at an update's end: as many as were logged
    assert megastep(["train", "minimal", "--out", str(out), "--resume", "--updates", "1", "--no-progress"]) == 0
    assert checkpoint.load(out / "checkpoint.pt")["update"] == saved["update"] + 1


def test_a_checkpoint_of_another_device_resumes_its_learner(tmp_path):
    ppo.train("minimal", tiny(), out=tmp_path, progress=False, updates=1)
    state = checkpoint.load(tmp_path / "checkpoint.pt")
    # as a GPU run writes it: its action generator's state is a CUDA generator's (16 bytes)
    state = {**state, "device": "cuda", "generator": torch.zeros(16, dtype=torch.uint8)}
    state.pop("format"), state.pop("version")
    checkpoint.save(tmp_path / "checkpoint.pt", state)
    with pytest.warns(UserWarning, match="written on cuda, and resumes on cpu"):
        result = ppo.train("minimal", {"device": "cpu"}, out=tmp_path, resume=tmp_path / "checkpoint.pt",
                           progress=False, updates=1)
    assert result.updates == 2


def test_an_evaluation_where_no_episode_finished_says_so(tmp_path, capsys):
    assert megastep(["train", "minimal", "--out", str(tmp_path), "--total-steps", "16", *TINY]) == 0
    capsys.readouterr()
    assert megastep(["train", "minimal", "--eval", str(tmp_path / "checkpoint.pt"), "--eval-steps", "2",
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no episode finished in 2 steps" in out and "nan" not in out
