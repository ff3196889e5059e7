"""The small checks every package shares (:mod:`megastep_core.checks`)."""
import pytest
import torch

from megastep_core.checks import positive, same_device, synchronize


def test_devices_compare_as_torch_places_tensors():
    assert same_device("cuda", "cuda:0")  # without CUDA, "cuda" reads as device 0
    assert same_device(torch.device("cuda:1"), "cuda:1")
    assert not same_device("cuda:0", "cuda:1")
    assert not same_device("cpu", "cuda")
    assert same_device("cpu", torch.device("cpu"))


def test_positive_names_the_argument_and_its_unit():
    assert positive("width", 2) == 2.0
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="width must be a positive number of metres"):
            positive("width", bad)
    with pytest.raises(ValueError, match="fps must be a positive number of steps per second"):
        positive("fps", 0, unit="steps per second")


def test_synchronize_on_the_cpu_returns_at_once():
    synchronize("cpu")
