"""Checking what users pass to an env's ``step``, without stalling the GPU.

Shape, dtype and device are known on the host and are checked at once. The
*values* live on the device: asking "is any action out of range?" means
copying an answer back, which on a GPU waits for every queued kernel and
empties the pipeline: a host-device synchronisation on every step. So on CUDA
the answer is accumulated in a flag on the device, copied back now and then
without blocking (:class:`DeferredFlag`), and raised a few steps late; the
offending values are clamped meanwhile so that no kernel indexes out of
bounds. On the CPU there is nothing to stall and values are checked at once.
"""
from __future__ import annotations

import torch

from megastep_core import MegastepError
from megastep_core.checks import same_device
from megastep_core.kernels import load_kernels
from megastep_core.spaces import Box, Discrete


class ActionError(MegastepError, ValueError):
    """Actions passed to an env's ``step`` that it cannot take."""


class DeferredFlag:
    """A device-side "something was wrong" flag that is read back without blocking.

    Every ``every`` calls to :meth:`poll`, the flag starts a non-blocking copy
    to pinned host memory and records an event; a later poll reads the copy
    once the event has completed (``event.query()``, which never waits) and
    raises if the flag was set.

    :param device: where the flag lives; on the CPU, :meth:`record` raises at once.
    :param message: the error's text.
    :param every: calls to :meth:`poll` between read-backs.
    """

    def __init__(self, device, message: str, every: int = 16):
        self.device = torch.device(device)
        self.message = message
        self.every = int(every)
        self.immediate = self.device.type != "cuda"
        self.flag = torch.zeros((), dtype=torch.bool, device=self.device)
        self._calls = 0
        self._host = None if self.immediate else torch.zeros((), dtype=torch.bool).pin_memory()
        self._event = None

    def record(self, bad: torch.Tensor) -> None:
        """Notes ``bad`` (a 0-d bool tensor); raises at once where that costs no sync."""
        if self.immediate:
            if bool(bad):
                raise ActionError(self.message)
            return
        self.flag.logical_or_(bad)

    def poll(self) -> None:
        """Raises if a completed read-back found the flag set; starts a new read-back every ``every`` calls."""
        if self.immediate:
            return
        if self._event is not None and self._event.query():
            self._event = None
            if bool(self._host):
                raise ActionError(self.message + " (detected on the device a few steps after it was passed)")
        self._calls += 1
        if self._event is None and self._calls >= self.every:
            self._calls = 0
            self._host.copy_(self.flag, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()

    def check_now(self) -> None:
        """Reads the flag back and raises if it is set. Synchronises; for resets and tests, not every step."""
        if not self.immediate and bool(self.flag):
            raise ActionError(self.message)


class ActionCheck:
    """Validates an env's actions: ``(E,)`` or ``(E, A)`` of a :class:`Discrete` or :class:`Box` space.

    :param space: the per-agent action space.
    :param batch: the expected leading shape, ``(E,)`` or ``(E, A)``.
    :param device: the env's device.
    :param backend: ``"auto"``, ``"torch"`` or ``"cuda"``: on a GPU, discrete actions are checked and
        clamped by one kernel of ``actions.cu`` (``"auto"``), or by the torch code, its reference.
    """

    def __init__(self, space, batch: tuple[int, ...], device, backend: str = "auto"):
        self.space = space
        self.shape = tuple(batch) + tuple(space.shape)
        self.device = torch.device(device)
        if isinstance(space, Discrete):
            expected = f"integers in [0, {space.n})"
        else:
            expected = f"finite numbers in [{space.low}, {space.high}]"
        self.values = DeferredFlag(self.device, f"actions must be {expected}; got a value outside that")
        kernels = load_kernels("megastep_envs.step", "actions.cu", ["clamp_actions"], device=self.device,
                               implementation=backend, what="action check option backend").as_dict()
        self._kernel = kernels["clamp_actions"] if kernels is not None and isinstance(space, Discrete) else None

    def __call__(self, actions) -> torch.Tensor:
        """Returns ``actions`` ready to use, or raises :class:`ActionError` naming what was expected."""
        return self.sanitize(self.validate(actions))

    def validate(self, actions) -> torch.Tensor:
        """Checks what the host knows (type, shape, device, dtype) and any flag read back; returns ``actions``."""
        if not torch.is_tensor(actions):
            raise ActionError(
                f"actions must be a torch.Tensor of shape {self.shape} on {self.device}, got {type(actions).__name__}"
            )
        if tuple(actions.shape) != self.shape:
            raise ActionError(f"actions must have shape {self.shape}, got {tuple(actions.shape)}")
        if not same_device(actions.device, self.device):
            raise ActionError(f"actions must be on the env's device {self.device}, got {actions.device}")
        if isinstance(self.space, Discrete):
            if actions.dtype.is_floating_point or actions.dtype.is_complex or actions.dtype == torch.bool:
                raise ActionError(f"actions must be an integer tensor (like torch.int64), got {actions.dtype}")
        elif not actions.dtype.is_floating_point:
            raise ActionError(f"actions must be a floating-point tensor (like torch.float32), got {actions.dtype}")
        self.values.poll()
        return actions

    @property
    def kernel(self):
        """The one kernel that :meth:`sanitize` launches, reading :meth:`kernel_input` as its first argument; None
        where it runs torch code instead."""
        return self._kernel

    @staticmethod
    def kernel_input(actions: torch.Tensor) -> torch.Tensor:
        """What :attr:`kernel` reads of ``actions``: them, as contiguous int64."""
        return actions.long().contiguous()

    def sanitize(self, actions: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Notes out-of-range values (raising at once on the CPU) and clamps them, into ``out`` if given (an
        env replayed from a CUDA graph passes the graph's input): device work only, that never waits on it.

        :returns: the actions to take, int64 for a discrete space and float32 for a box.
        """
        if self._kernel is not None:
            actions = self.kernel_input(actions)
            clamped = torch.empty_like(actions) if out is None else out
            n = actions.numel()
            self._kernel(-(-n // 256), 256, actions, clamped, self.values.flag, n, int(self.space.n))
            return clamped
        if isinstance(self.space, Discrete):
            clamped = actions.long().clamp(0, self.space.n - 1)
            self.values.record((clamped != actions).any())
        else:
            assert isinstance(self.space, Box)
            finite = torch.isfinite(actions)
            self.values.record((~finite | (actions < self.space.low) | (actions > self.space.high)).any())
            # NaN becomes 0 until the deferred error arrives, so that no NaN reaches the physics
            clamped = torch.where(finite, actions, 0.0).clamp(self.space.low, self.space.high).float()
        return clamped if out is None else out.copy_(clamped)
