"""The agent's network: shapes for every kind of observation, and the LSTM memory's resets."""
import functools

import pytest
import torch

from megastep_core.spaces import Box, Dict, Discrete
from megastep_envs.train.model import Agent, ModelError, StripEncoder
from megastep_envs.train.sequences import SegmentSlots

pytestmark = pytest.mark.usefixtures("one_thread")


SPACE = Dict({"rgb": Box((1, 3, 16), 0.0, 1.0), "depth": Box((1, 16), 0.0, 1.0), "goal": Box((2,))})


def observations(steps, rows, generator=None):
    return {key: box.sample((steps, rows), generator=generator) for key, box in SPACE.items()}


@pytest.mark.parametrize("lstm", [False, True])
def test_shapes_of_logits_values_and_memory(lstm):
    model = Agent(SPACE, Discrete(7), hidden=32, lstm=lstm)
    memory = model.initial_state(5, "cpu")
    logits, values, memory = model(observations(3, 5), memory, torch.zeros(3, 5, dtype=torch.bool))
    assert logits.shape == (3, 5, 7) and values.shape == (3, 5)
    assert [m.shape for m in memory] == ([(1, 5, 32), (1, 5, 32)] if lstm else [])


def test_strips_of_any_width_are_encoded():
    for width in (1, 7, 16, 64, 129):
        model = Agent(Dict({"rgb": Box((2, 3, width))}), Discrete(3), hidden=8)
        obs = {"rgb": torch.rand(1, 4, 2, 3, width)}
        assert model(obs, (), torch.zeros(1, 4, dtype=torch.bool))[0].shape == (1, 4, 3)


def test_memory_is_cleared_where_an_episode_starts():
    torch.manual_seed(0)
    model = Agent(SPACE, Discrete(7), hidden=16, lstm=True)
    obs = observations(4, 2, torch.Generator().manual_seed(1))
    starts = torch.zeros(4, 2, dtype=torch.bool)
    starts[2, 0] = True  # row 0 begins a new episode at step 2
    logits, _, _ = model(obs, model.initial_state(2, "cpu"), starts)
    # the same last two steps, fed from a fresh memory
    fresh, _, _ = model({k: v[2:] for k, v in obs.items()}, model.initial_state(2, "cpu"),
                        torch.zeros(2, 2, dtype=torch.bool))
    assert torch.allclose(logits[2:, 0], fresh[:, 0], atol=1e-6)
    assert not torch.allclose(logits[2:, 1], fresh[:, 1], atol=1e-4)  # row 1 remembers its first steps


def test_a_sequence_at_once_equals_steps_one_by_one():
    torch.manual_seed(0)
    model = Agent(SPACE, Discrete(7), hidden=16, lstm=True)
    obs = observations(5, 3, torch.Generator().manual_seed(2))
    starts = torch.rand(5, 3, generator=torch.Generator().manual_seed(3)) < 0.3
    whole, _, _ = model(obs, model.initial_state(3, "cpu"), starts)
    memory, parts = model.initial_state(3, "cpu"), []
    for t in range(5):
        out, _, memory = model({k: v[t:t + 1] for k, v in obs.items()}, memory, starts[t:t + 1])
        parts.append(out)
    assert torch.allclose(whole, torch.cat(parts), atol=1e-6)


def test_spaces_it_cannot_take_are_refused():
    with pytest.raises(ModelError, match="action_space"):
        Agent(SPACE, Box((2,)))
    with pytest.raises(ModelError, match="observation 'x'"):
        Agent(Dict({"x": Discrete(3)}), Discrete(3))
    model = Agent(SPACE, Discrete(7), hidden=8)
    with pytest.raises(ModelError, match="'goal' is missing"):
        model({"rgb": torch.rand(1, 2, 1, 3, 16), "depth": torch.rand(1, 2, 1, 16)}, (),
              torch.zeros(1, 2, dtype=torch.bool))


@pytest.mark.parametrize("start_rate", [0.0, 0.1, 0.5, 1.0])
def test_the_whole_sequence_core_equals_the_stepwise_reference(start_rate):
    """The LSTM over a rollout in one call, cut into its episodes' segments, equals stepping it with resets."""
    torch.manual_seed(0)
    model = Agent(SPACE, Discrete(7), hidden=16, lstm=True).double()
    steps, rows = 13, 11
    obs = {k: v.double() for k, v in observations(steps, rows, torch.Generator().manual_seed(4)).items()}
    starts = torch.rand(steps, rows, generator=torch.Generator().manual_seed(5)) < start_rate
    state = tuple(torch.randn(1, rows, 16, dtype=torch.float64) for _ in range(2))  # a memory carried in
    whole = model(obs, state, starts)
    stepwise = model.forward_stepwise(obs, state, starts)
    for a, b in zip([whole[0], whole[1], *whole[2]], [stepwise[0], stepwise[1], *stepwise[2]]):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    # and the gradients agree too
    grads = []
    for run in (model.forward, model.forward_stepwise):
        model.zero_grad()
        logits, values, _ = run(obs, state, starts)
        (logits.square().sum() + values.sum()).backward()
        grads.append([p.grad.clone() for p in model.lstm.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("start_rate", [0.0, 0.1, 0.5, 1.0])
def test_segments_in_fixed_slots_equal_the_stepwise_reference(start_rate):
    """The captured update's layout: every segment in a slot of T steps, the slots in one LSTM call of a fixed shape.
    Its outputs and gradients are the stepwise reference's, and segments that do not fit are refused."""
    torch.manual_seed(0)
    model = Agent(SPACE, Discrete(7), hidden=16, lstm=True).double()
    steps, rows = 13, 11
    obs = {k: v.double() for k, v in observations(steps, rows, torch.Generator().manual_seed(4)).items()}
    starts = torch.rand(steps, rows, generator=torch.Generator().manual_seed(5)) < start_rate
    state = tuple(torch.randn(1, rows, 16, dtype=torch.float64) for _ in range(2))
    needed = int(starts[1:].sum()) + rows  # a segment per column, and one more per episode begun after step 0
    if needed > rows:
        assert not SegmentSlots(steps, rows, needed - 1).fill(starts.numpy())
    slots = SegmentSlots(steps, rows, needed + 3)  # with unused slots
    assert slots.fill(starts.numpy())
    grads = []
    for run in (functools.partial(model.forward, segments=slots), model.forward_stepwise):
        model.zero_grad()
        logits, values, _ = run(obs, state, starts)
        (logits.square().sum() + values.sum()).backward()
        grads.append([logits, values, *[p.grad.clone() for p in model.parameters()]])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("way", ["channels_last", "dense"])
def test_every_way_of_computing_the_strips_equals_the_1d_convolutions(way):
    """On a GPU the strips' convolutions run as channels-last 2D ones or as dense matrix products; the outputs and
    the kernels' gradients are the 1D convolutions' (here on the CPU, in float64)."""
    encoder = StripEncoder((2, 3, 37)).double()
    strip = torch.rand(6, 2, 3, 37, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    outputs = [encoder(strip, way=w) for w in ("conv1d", way)]
    assert torch.allclose(outputs[1], outputs[0], atol=1e-12)
    grads = [torch.autograd.grad(out.square().sum(), list(encoder.parameters())) for out in outputs]
    for reference, other in zip(*grads):
        assert torch.allclose(other, reference, atol=1e-10)


def test_fixed_dense_matrices_follow_the_weights_and_never_stop_gradients():
    """Acting builds the dense matrices once a rollout (``Agent.fixed_strips``): forwards without gradients read
    them, entering again rebuilds them in place from the new weights, and a forward with gradients builds its
    own, so that they reach the kernels."""
    model = Agent(Dict({"rgb": Box((2, 3, 37), 0, 1, torch.float64)}), Discrete(3), dense_strips=True).double()
    encoder = model.strips["rgb"]
    strip = torch.rand(6, 2, 3, 37, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    addresses = []
    for _ in range(2):
        with model.fixed_strips():
            addresses.append([matrix.data_ptr() for _, matrix in encoder.fixed])
            with torch.no_grad():
                assert torch.allclose(encoder(strip, way="dense"), encoder(strip, way="conv1d"), atol=1e-12)
            output = encoder(strip, way="dense")
            grads = torch.autograd.grad(output.square().sum(), list(encoder.parameters()))
            reference = torch.autograd.grad(encoder(strip, way="conv1d").square().sum(), list(encoder.parameters()))
            assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(grads, reference))
            with torch.no_grad():
                for parameter in encoder.parameters():
                    parameter.add_(0.1)
                # read as they were built: until the next entry, acting sees the weights of the last one
                assert not torch.allclose(encoder(strip, way="dense"), encoder(strip, way="conv1d"), atol=1e-6)
    assert addresses[0] == addresses[1]  # rebuilt in place: a CUDA graph captured on them reads the new ones
    assert not encoder.use_fixed


def test_an_unknown_way_of_computing_the_strips_is_named():
    with pytest.raises(ModelError, match="way must be one of"):
        StripEncoder((1, 16))(torch.zeros(2, 1, 16), way="fft")
