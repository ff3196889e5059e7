"""The agent's network: a 1D-convolutional encoder per pixel row, an optional LSTM core,
and policy and value heads.

Every observation a megastep env gives is either a *strip* of pixels (a space
whose shape has two or more dimensions, the last one the width ``W`` in pixels,
like RGB ``(C, 3, W)`` or depth ``(C, W)``) or a small *vector* (a goal in the
agent's frame, an IMU reading). Each strip gets its own small stack of
``Conv1d`` layers that slides along the width; vectors are used as they are.
The features of every key are concatenated, mixed by one linear layer, passed
through the LSTM when there is one, and read by the two heads.

All methods take sequences ``(T, N, ...)``: ``T`` steps of ``N`` agents (``N =
E * A``, every agent of every env, sharing one network). Acting uses ``T = 1``;
a PPO update re-runs whole rollouts so that the LSTM sees what it saw when
acting.

The LSTM runs a whole rollout in one cuDNN call (:mod:`.sequences`): where an
episode begins inside the sequence its memory must start from zero, which one
call over ``T`` steps cannot do, so each column is cut into its episodes'
segments and the segments run as one packed batch, each from its own initial
state. The step-by-step loop (:meth:`Agent.forward_stepwise`) is the reference
it is tested against.
"""
from __future__ import annotations

import contextlib
import copy
import math

import torch
from torch import nn

from megastep_core import spaces
from megastep_core.errors import MegastepError

from .sequences import Segments


class ModelError(MegastepError, ValueError):
    """A space or an observation this network cannot take."""


def _layer(layer: nn.Module, gain: float = math.sqrt(2)) -> nn.Module:
    """Orthogonal weights and zero biases: PPO's usual start, which keeps early updates stable."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class StripEncoder(nn.Module):
    """Features of one pixel strip ``(..., *leading, W)``: the leading dimensions become channels.

    Three ways compute the same convolutions (:data:`WAYS`; tested equal on the CPU):

    - ``"conv1d"``, the reference and the CPU's way: ``Conv1d`` layers on channels-first tensors.
    - ``"channels_last"``, a GPU's way by default: 2D convolutions of height 1 on channels-last tensors.
      cuDNN's bfloat16 kernels read and write channels last, so a 1D convolution's channels-first tensors
      would be transposed on the way in and out of every layer, forward and backward.
    - ``"dense"``, a GPU's way with ``dense=True``: each layer as one matrix product with its dense matrix
      (:func:`dense_matrix`). About eight times the arithmetic, but at these sizes cuDNN's many small kernels,
      not arithmetic, bound the learner, and three large products a strip keep the GPU busier
      (``docs/explanations/performance.rst``).

    :param shape: the strip's per-agent shape, e.g. ``(1, 3, 64)`` for one RGB camera of 64 pixels.
    :param channels: of the first convolution; the next two have twice as many.
    :param dense: on a GPU, compute as ``"dense"`` rather than ``"channels_last"``.

    Acting reads the same weights for a whole rollout, so there the matrices need building only once
    (:meth:`fix`, through :meth:`Agent.fixed_strips`): while :attr:`use_fixed`, a ``"dense"`` forward without
    gradients reads :attr:`fixed` as it is.
    """

    WAYS = ("conv1d", "channels_last", "dense")

    def __init__(self, shape: tuple[int, ...], channels: int = 32, dense: bool = False):
        super().__init__()
        inputs, width = math.prod(shape[:-1]), shape[-1]
        self.shape = tuple(shape)
        self.dense = bool(dense)
        self.fixed: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer, (bias, matrix): fix()
        self.use_fixed = False
        self.convolutions = nn.Sequential(
            # padding keeps every width valid: each layer halves it, rounding up
            _layer(nn.Conv1d(inputs, channels, kernel_size=5, stride=2, padding=2)), nn.ReLU(),
            _layer(nn.Conv1d(channels, 2 * channels, kernel_size=5, stride=2, padding=2)), nn.ReLU(),
            _layer(nn.Conv1d(2 * channels, 2 * channels, kernel_size=3, stride=2, padding=1)), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            self.features = self.convolutions(torch.zeros(1, inputs, width)).shape[-1]

    def forward(self, strip: torch.Tensor, way: str | None = None) -> torch.Tensor:
        """``(B, *shape)`` to ``(B, features)``, ordered channel then position.

        :param way: one of :data:`WAYS`; by default ``"conv1d"`` on a CPU, and on a GPU ``"dense"`` or
            ``"channels_last"`` as the encoder was built.
        """
        x = strip.reshape(strip.shape[0], -1, self.shape[-1])  # (B, C, W)
        if way is None:
            way = ("dense" if self.dense else "channels_last") if x.is_cuda else "conv1d"
        if way == "conv1d":
            return self.convolutions(x)
        if way == "dense":
            fixed = self.use_fixed and not torch.is_grad_enabled()
            matrices = iter(self.fixed if fixed else self._matrices())
            x = x.flatten(1)  # (B, C * W), channel then position
            for layer in self.convolutions:
                if isinstance(layer, nn.Conv1d):
                    bias, matrix = next(matrices)
                    x = torch.addmm(bias, x, matrix)
                elif not isinstance(layer, nn.Flatten):
                    x = layer(x)
            return x
        if way != "channels_last":
            raise ModelError(f"way must be one of {self.WAYS}, got {way!r}")
        x = x[:, :, None].contiguous(memory_format=torch.channels_last)  # (B, C, 1, W)
        for layer in self.convolutions:
            if isinstance(layer, nn.Conv1d):
                x = nn.functional.conv2d(x, layer.weight[:, :, None], layer.bias, stride=(1, layer.stride[0]),
                                         padding=(0, layer.padding[0]))
            elif isinstance(layer, nn.Flatten):
                x = x.flatten(1)  # channel, then position, as the 1D convolutions order their features
            else:
                x = layer(x)
        return x

    def _matrices(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, its bias ``(C_out * W',)`` repeated along the positions and its :func:`dense_matrix`."""
        width, matrices = self.shape[-1], []
        for layer in self.convolutions:
            if isinstance(layer, nn.Conv1d):
                matrix = dense_matrix(layer, width)
                width = matrix.shape[1] // layer.out_channels
                matrices.append((layer.bias.repeat_interleave(width), matrix))
        return matrices

    def fix(self, dtype: torch.dtype | None = None) -> None:
        """Builds from the current weights the matrices that a ``"dense"`` forward without gradients reads while
        :attr:`use_fixed`, in ``dtype`` (autocast's, where the forwards run under it; else the weights' own).
        A second call writes into the first's tensors, so that a CUDA graph captured in between reads the new
        ones."""
        with torch.no_grad():
            matrices = [(bias.to(dtype), matrix.to(dtype)) for bias, matrix in self._matrices()]
        if self.fixed is None or self.fixed[0][1].dtype != matrices[0][1].dtype:
            self.fixed = matrices
        else:
            for mine, new in zip(self.fixed, matrices):
                for into, tensor in zip(mine, new):
                    into.copy_(tensor)


def dense_matrix(layer: nn.Conv1d, width: int) -> torch.Tensor:
    """``(C_in * W, C_out * W')``: ``layer`` over inputs ``width`` pixels wide as one matrix, its bias left out,
    channel then position along each side. Built by convolving the basis of the inputs, so that its entries are
    the kernel's own (gradients reach the kernel) and stride and padding mean what they mean to the layer."""
    inputs = layer.in_channels * width
    basis = torch.eye(inputs, device=layer.weight.device, dtype=layer.weight.dtype)
    return nn.functional.conv1d(basis.view(inputs, layer.in_channels, width), layer.weight, None, layer.stride,
                                layer.padding).flatten(1)


def _observation_keys(space) -> dict[str, spaces.Box]:
    """The observation space as named Boxes; a bare Box is called ``"observation"``."""
    if isinstance(space, spaces.Box):
        return {"observation": space}
    if isinstance(space, spaces.Dict):
        boxes = dict(space.items())
        for key, box in boxes.items():
            if not isinstance(box, spaces.Box):
                raise ModelError(f"observation {key!r} must be a Box space, got {box!r}")
        return boxes
    raise ModelError(f"observation_space must be a megastep_core.spaces Box or Dict, got {space!r}")


class Agent(nn.Module):
    """Policy and value for discrete actions, shared by every agent of every env.

    :param observation_space: the env's per-agent observation space (``Box`` or ``Dict`` of ``Box``).
    :param action_space: the env's per-agent action space, ``Discrete(n)``.
    :param hidden: width of the mixed features and of the LSTM state.
    :param lstm: whether to carry memory across steps (PointGoal needs it: the goal is only
        given at spawn, and the agent must integrate its own motion).
    :param channels: of each strip encoder's first convolution (:class:`StripEncoder`).
    :param goal_head: also predict where the agent's goal lies in its own frame (``goal_prediction``).
    :param dense_strips: on a GPU, compute the strips' convolutions as dense matrix products (the same parameters
        and outputs: a way of computing, not a different network).
    """

    def __init__(self, observation_space, action_space, hidden: int = 256, lstm: bool = False, channels: int = 32,
                 goal_head: bool = False, dense_strips: bool = False):
        super().__init__()
        if not isinstance(action_space, spaces.Discrete):
            raise ModelError(f"action_space must be megastep_core.spaces.Discrete, got {action_space!r}")
        self.boxes = _observation_keys(observation_space)
        self.strips = nn.ModuleDict(
            {key: StripEncoder(box.shape, channels, dense_strips) for key, box in self.boxes.items()
             if len(box.shape) >= 2}
        )
        self.vector_sizes = {key: math.prod(box.shape) for key, box in self.boxes.items() if len(box.shape) < 2}
        features = sum(encoder.features for encoder in self.strips.values()) + sum(self.vector_sizes.values())
        self.mix = nn.Sequential(_layer(nn.Linear(features, hidden)), nn.ReLU())
        self.hidden = hidden
        self.lstm = nn.LSTM(hidden, hidden) if lstm else None
        if self.lstm is not None:
            for name, parameter in self.lstm.named_parameters():
                if "bias" in name:
                    nn.init.zeros_(parameter)
                else:
                    nn.init.orthogonal_(parameter, 1.0)
        # a nearly uniform first policy explores; a small-gain value head starts near zero
        self.policy = _layer(nn.Linear(hidden, action_space.n), gain=0.01)
        self.value = _layer(nn.Linear(hidden, 1), gain=1.0)
        self.goal = _layer(nn.Linear(hidden, 2), gain=1.0) if goal_head else None

    @classmethod
    def of(cls, hyperparameters: dict, observation_space, action_space) -> Agent:
        """The network that hyperparameters (a checkpoint's ``"hyperparameters"`` dict) describe; sizes a
        checkpoint of an older version does not name take their defaults of then."""
        return cls(observation_space, action_space, int(hyperparameters.get("hidden", 256)),
                   bool(hyperparameters.get("lstm", False)), int(hyperparameters.get("channels", 32)),
                   float(hyperparameters.get("goal_prediction", 0.0)) > 0,
                   bool(hyperparameters.get("dense_strips", False)))

    def frozen_copy(self) -> Agent:
        """A copy of the network to act with apart from it (self-play's opponent, an actor one update behind): no
        gradients, and the LSTM's weights laid out again for cuDNN, which a deep copy leaves apart (cuDNN would copy
        them at every call)."""
        copy_ = copy.deepcopy(self).requires_grad_(False)
        for module in copy_.modules():
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()
        return copy_

    @contextlib.contextmanager
    def fixed_strips(self, dtype: torch.dtype | None = None):
        """Within, the dense strips' matrices (``dense_strips``) are built once, on entry, not at every forward
        without gradients: for acting, whose weights stay put for a whole rollout. Entering again rebuilds
        them in place from the weights of then. Forwards with gradients (learning) always build their own.

        :param dtype: what the forwards compute in: autocast's, where they run under it.
        """
        encoders = [encoder for encoder in self.strips.values() if encoder.dense]
        for encoder in encoders:
            encoder.fix(dtype)
            encoder.use_fixed = True
        try:
            yield self
        finally:
            for encoder in encoders:
                encoder.use_fixed = False

    def initial_state(self, n: int, device) -> tuple[torch.Tensor, ...]:
        """The memory of ``n`` agents at the start of an episode: ``(h, c)`` each ``(1, n, hidden)``,
        or an empty tuple without an LSTM."""
        if self.lstm is None:
            return ()
        zeros = torch.zeros(1, n, self.hidden, device=device)
        return (zeros, zeros.clone())

    def encode(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mixed features ``(B, hidden)`` of observations whose leading dimensions hold ``B`` samples."""
        parts, dtype = [], self.mix[0].weight.dtype
        for key, box in self.boxes.items():
            if key not in observations:
                raise ModelError(f"observation {key!r} is missing; the network was built for {sorted(self.boxes)}")
            x = observations[key]
            x = x.reshape(-1, *box.shape)
            # integer pixels in [0, 255] to [0, 1]; under autocast the convolutions take what they are given
            x = x.to(dtype) / 255.0 if box.dtype == torch.uint8 else x.to(dtype)
            parts.append(self.strips[key](x) if key in self.strips else x.reshape(x.shape[0], -1))
        return self.mix(torch.cat(parts, dim=-1))

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(..., n_actions)`` and values ``(...)``, in float32 even under autocast: PPO's ratio of
        probabilities compares the logits of acting with those of learning, and bfloat16's 8 bits of
        mantissa would move it by more than its clipping allows."""
        with torch.autocast(features.device.type, enabled=False):
            features = features.to(self.policy.weight.dtype)
            return self.policy(features), self.value(features).squeeze(-1)

    def forward(
        self,
        observations: dict[str, torch.Tensor],
        state: tuple[torch.Tensor, ...],
        starts: torch.Tensor,
        segments: Segments | None = None,
        with_goal: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """Action logits and values for ``T`` steps of ``N`` agents.

        :param observations: each ``(T, N, *shape)``.
        :param state: the memory before the first step, from :meth:`initial_state` or a previous call.
        :param starts: ``(T, N)`` bool, True where an episode begins at that step: the memory is
            cleared there before the step is read.
        :param segments: the episodes' segments of ``starts`` (:meth:`Segments.of`), when the caller has
            them already; made here otherwise, which for ``T > 1`` copies ``starts`` to the host.
        :param with_goal: also return the goal head's prediction (the network must have one).
        :returns: logits ``(T, N, n_actions)``, values ``(T, N)``, and the memory after the last step; with
            ``with_goal``, after them the predicted goal ``(T, N, 2)`` in metres (forward, leftward).
        """
        steps, agents = starts.shape
        features = self.encode(observations).reshape(steps, agents, self.hidden)
        if self.lstm is not None:
            if steps == 1:  # acting: one step needs no cutting, only the cleared memory where episodes begin
                keep = (~starts[0]).to(features.dtype).view(1, -1, 1)
                h, c = state
                features, state = self.lstm(features, (h * keep, c * keep))
            else:
                segments = segments if segments is not None else Segments.of(starts)
                features, state = segments.run(self.lstm, features, state)
        logits, values = self.heads(features)
        if not with_goal:
            return logits, values, state
        if self.goal is None:
            raise ModelError("with_goal asks for the goal head's prediction: build the network with goal_head=True")
        with torch.autocast(features.device.type, enabled=False):
            return logits, values, state, self.goal(features.to(self.goal.weight.dtype))

    def forward_stepwise(
        self, observations: dict[str, torch.Tensor], state: tuple[torch.Tensor, ...], starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """:meth:`forward` one step at a time, clearing the memory where ``starts``: the reference that the
        whole-sequence core is tested against (slow: one LSTM call per step)."""
        outputs = []
        for t in range(starts.shape[0]):
            step = {key: value[t:t + 1] for key, value in observations.items()}
            logits, values, state = self.forward(step, state, starts[t:t + 1])
            outputs.append((logits, values))
        return torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs]), state
