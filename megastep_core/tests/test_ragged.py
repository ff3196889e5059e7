import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from megastep_core import Ragged
from megastep_core.testing import devices

widths_lists = st.lists(st.integers(0, 6), min_size=1, max_size=12)


def python_lists(widths):
    """The plain-Python reference: a list of lists of distinct numbers."""
    lists, n = [], 0
    for w in widths:
        lists.append(list(range(n, n + w)))
        n += w
    return lists


@settings(max_examples=60, deadline=None)
@given(widths=widths_lists)
def test_matches_python_lists(widths):
    lists = python_lists(widths)
    ragged = Ragged(torch.arange(sum(widths), dtype=torch.float32), widths)
    assert len(ragged) == len(lists)
    for b, expected in enumerate(lists):
        assert ragged[b].tolist() == expected
        assert ragged.starts[b] == (expected[0] if expected else sum(widths[:b]))
        assert ragged.ends[b] == sum(widths[: b + 1])
    inverse = [b for b, items in enumerate(lists) for _ in items]
    local = [i for items in lists for i in range(len(items))]
    assert ragged.inverse.tolist() == inverse
    assert ragged.local.tolist() == local


@settings(max_examples=60, deadline=None)
@given(widths=widths_lists, data=st.data())
def test_slices_match_python_slices(widths, data):
    lists = python_lists(widths)
    i = data.draw(st.integers(-len(widths) - 1, len(widths) + 1))
    j = data.draw(st.integers(-len(widths) - 1, len(widths) + 1))
    ragged = Ragged(torch.arange(sum(widths)), widths)
    part = ragged[i:j]
    assert [part[b].tolist() for b in range(len(part))] == lists[i:j]


def test_negative_index_and_errors():
    ragged = Ragged(torch.arange(5), [2, 0, 3])
    assert ragged[-1].tolist() == [2, 3, 4]
    assert ragged[1].tolist() == []
    with pytest.raises(IndexError, match="out of range"):
        ragged[3]
    with pytest.raises(ValueError, match="sum to 4 but vals has 5"):
        Ragged(torch.arange(5), [2, 2])
    with pytest.raises(ValueError, match="non-negative"):
        Ragged(torch.arange(1), [2, -1])
    with pytest.raises(ValueError, match="integers"):
        Ragged(torch.arange(2), torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="step 1"):
        ragged[::2]


def test_multidimensional_vals_and_from_lists():
    ragged = Ragged.from_lists([torch.ones(2, 2, 2), torch.zeros(0, 2, 2), 2 * torch.ones(1, 2, 2)])
    assert ragged.vals.shape == (3, 2, 2)
    assert ragged.widths.tolist() == [2, 0, 1]
    assert ragged[2].shape == (1, 2, 2) and (ragged[2] == 2).all()


@pytest.mark.parametrize("device", devices())
def test_works_on_device(device):
    ragged = Ragged(torch.arange(6.0, device=device), torch.tensor([1, 0, 5]))
    assert ragged.widths.device.type == device
    assert ragged.inverse.device.type == device
    assert ragged[2].sum().item() == 15
    with_vals = ragged.with_vals(ragged.vals * 2)
    assert with_vals[0].tolist() == [0.0]
    assert ragged.to("cpu")[2].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
