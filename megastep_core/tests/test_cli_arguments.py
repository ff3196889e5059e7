"""The ``megastep`` command's shared argument helpers: ``--device`` checking and reST turned into plain text."""
import argparse

import pytest
import torch

from megastep_core.cli import device_argument, plain_text


@pytest.mark.parametrize("text", ["auto", "cpu"])
def test_devices_that_run_here_pass(text):
    assert device_argument(text) == text


@pytest.mark.parametrize("text, message", [
    ("tpu", "'tpu' is not a device: use auto, cpu, cuda or cuda:N"),
    ("meta", "megastep runs on cpu or cuda (or auto), not meta"),
    ("cuda:99", "there are" if torch.cuda.is_available() else "torch sees no CUDA GPU here"),
])
def test_bad_devices_are_argparse_errors(text, message, capsys):
    parser = argparse.ArgumentParser(prog="megastep demo")
    parser.add_argument("--device", type=device_argument)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--device", text])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "megastep demo: error: argument --device:" in error and message in error
    assert "Traceback" not in error


def test_plain_text_drops_rest_markup():
    rst = ("Trains with :class:`~megastep_envs.train.ppo.Hyperparameters` (see :doc:`the guide <tutorials/training>`"
           " and :func:`megastep_envs.make`); ``--wandb`` logs too.")
    assert plain_text(rst) == "Trains with Hyperparameters (see the guide and make); --wandb logs too."
