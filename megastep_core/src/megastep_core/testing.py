"""A pytest plugin, loaded wherever megastep-core is installed (entry point ``pytest11``).

It registers the ``gpu`` marker and skips ``gpu``-marked tests on a machine
where torch sees no CUDA GPU, so every package's tests share one rule.
"""
from __future__ import annotations

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU; skipped without one")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def devices() -> list:
    """The devices a test should run on: the CPU, and CUDA as a ``gpu``-marked case."""
    return ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
