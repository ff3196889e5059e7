"""Replaying an env's step from a CUDA graph, so that its hundred-odd small kernels cost one launch.

An env step is a hundred-odd PyTorch operations. Launched one by one from
Python they cost milliseconds of host time per step whatever the batch, more
than the GPU work itself up to tens of thousands of envs (the figures are in
:doc:`/explanations/performance`). Captured once
in a CUDA graph and replayed, they cost one launch. This works because every
step of a megastep env is the same sequence of operations on the same
tensors: it never asks the GPU a question it must wait for (resets and
respawns are masked, not branched), and its state is updated in place.

:class:`StepGraph` wraps a function of one tensor (the actions): the first
call runs it eagerly (first uses may set things up: compile kernels, build
tables); the second runs it eagerly again, checking with torch's sync debug
mode that it never waits on the GPU; the third captures it and replays the
capture; every later call hands the actions to the capture and replays. An
env's action check, which clamps them, is captured too, and each replay points
its kernel at the caller's actions (:mod:`~megastep_envs.step.graph_input`): the
replay is then the only launch of a step: a kernel that copied the actions
into the captured input would add a launch and a gap before the graph's first
kernel to every step. A step
that does synchronise (a third-party plugin might) stays eager, with a
warning that says why.

The cost to the user: what a replayed step returns is the same tensors each
time, overwritten by the next step. Clone what you keep across steps.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from megastep_core.deprecation import old_names

from .graph_input import GraphInput


def cuda_generators(*owners: Any) -> list[torch.Generator]:
    """The CUDA generators that ``owners`` hold as attributes, each once.

    A graph replays random draws correctly only from generators registered
    with it before capture; the env's modules and plugins keep theirs as
    attributes, created at their first use (a reset, or the first eager step).
    """
    found: dict[int, torch.Generator] = {}
    for owner in owners:
        for value in vars(owner).values() if hasattr(owner, "__dict__") else ():
            if isinstance(value, torch.Generator) and value.device.type == "cuda":
                found[id(value)] = value
    return list(found.values())


class SideStreams:
    """Parts of a step that may run beside the rest of it on a GPU, on side CUDA streams.

    A few thousand envs leave most of a large GPU idle during each small
    kernel of a step, and in a replayed graph each kernel in a chain costs a
    launch's worth of time however little it does. Work that no later kernel needs until much
    later (an observation of the render while the task updates and envs
    reset) need not wait in that chain: :meth:`fork` runs a block on a side
    stream, after everything the step's stream has enqueued so far, and the
    step's stream waits for it only where it :meth:`~SideBlock.join` s it.
    Captured in a CUDA graph, fork and join become edges between concurrent
    branches of the graph. On a CPU both do nothing and the work runs in order.

    Each fork takes the next of a few side streams in turn, so that blocks
    forked one after the other do not wait for each other: kernels captured on
    one stream become a chain in the graph, and at the end of an Explorer step
    the reward's reset, the IMU's second look and RGB's refresh had queued on
    one side stream behind each other.

    The rules that keep this correct: a block reads only what no kernel
    enqueued before its join writes, and the tensors it reads outlive the
    join (the step holds them until it returns, and joins everything before
    returning: :meth:`join_all`); and two blocks are ordered only through the
    step's stream (a block forked after another was joined runs after it).
    """

    STREAMS = 6
    """Side streams taken in turn; more blocks than these in flight at once share them."""

    def __init__(self, device: torch.device):
        cuda = device.type == "cuda"
        self.streams = [torch.cuda.Stream(device) for _ in range(self.STREAMS)] if cuda else []
        self._next = 0
        self._forked: set[int] = set()  # the streams forked since the last join_all

    def mark(self) -> torch.cuda.Event | None:
        """A point of the step's stream, to :meth:`fork` from later."""
        return None if not self.streams else torch.cuda.current_stream(self.streams[0].device).record_event()

    @contextlib.contextmanager
    def fork(self, after: torch.cuda.Event | None = None) -> Iterator[SideBlock]:
        """Runs the block beside the step's stream, after what that stream has enqueued so far, or only after
        the point ``after`` (a :meth:`mark`); the :class:`SideBlock` it yields joins it back.

        Forking from a mark lets the step enqueue its next kernel first: a graph seems to launch, of the
        kernels ready together, the one enqueued first, and a big observation launched first would hold the
        GPU's SMs while the step's next kernel, which everything after it waits for, queues behind it (RGB
        did so ahead of the reward: :doc:`/explanations/performance`).
        """
        if not self.streams:
            yield SideBlock(None)
            return
        stream = self.streams[self._next]
        branch = SideBlock(stream)
        self._forked.add(self._next)
        self._next = (self._next + 1) % len(self.streams)
        if after is None:
            stream.wait_stream(torch.cuda.current_stream(stream.device))
        else:
            stream.wait_event(after)
        with torch.cuda.stream(stream):
            yield branch
        branch.done = stream.record_event()

    def join_all(self) -> None:
        """Makes the step's stream wait for everything forked so far."""
        # only those: waiting for a stream that a CUDA graph being captured never forked would break the capture
        for index in sorted(self._forked):
            stream = self.streams[index]
            torch.cuda.current_stream(stream.device).wait_stream(stream)
        self._forked.clear()


class SideBlock:
    """A block run by :meth:`SideStreams.fork`."""

    def __init__(self, stream: torch.cuda.Stream | None):
        self.stream = stream
        self.done: torch.cuda.Event | None = None

    def join(self) -> None:
        """Makes the step's stream wait for this block (and what the side stream ran before it)."""
        if self.done is not None:
            torch.cuda.current_stream(self.stream.device).wait_event(self.done)


class StepGraph:
    """``function(actions)`` replayed from a CUDA graph from its third call on.

    :param function: takes an actions tensor and returns any structure of
        tensors; it must update state in place and never synchronise.
    :param generators: called before capture; the CUDA generators ``function`` draws from.
    :param prepare: ``prepare(actions, into)`` returns what ``function`` takes for ``actions``, written into
        ``into`` (the captured input) when that is not None; by default the actions themselves, copied.
    :param input_kernel: the one kernel that ``prepare`` launches (with ``into`` None), reading
        ``kernel_input(actions)`` as its first argument. Given, ``prepare`` is captured too, and each replay points
        that kernel at the caller's actions (:class:`~megastep_envs.step.graph_input.GraphInput`) instead of running
        ``prepare`` before the replay: no kernel, and no gap, on the GPU before the graph's own.
    :param kernel_input: see ``input_kernel``.
    """

    def __init__(self, function: Callable[[torch.Tensor], Any], generators: Callable[[], Iterable[torch.Generator]],
                 prepare: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None,
                 input_kernel=None, kernel_input: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.function = function
        self.generators = generators
        self.prepare = prepare or (lambda actions, into: actions if into is None else into.copy_(actions))
        self.input_kernel = input_kernel if kernel_input is not None else None
        self.kernel_input = kernel_input
        self.calls = 0
        self.eager_reason: str | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.actions: torch.Tensor | None = None
        self.output: Any = None
        self._stream: torch.cuda.Stream | None = None
        self._input: GraphInput | None = None
        self._read: torch.Tensor | None = None  # what the last replay reads, held until the next

    @property
    def captured(self) -> bool:
        """Whether steps are now replayed from the graph."""
        return self.graph is not None

    def __call__(self, actions: torch.Tensor) -> Any:
        if self.graph is not None:
            if self.input_kernel is None:
                self.prepare(actions, self.actions)
            elif self._input is not None:
                self._read = self.kernel_input(actions)
                self._input.point(self._read)
            else:  # the captured prepare reads the captured input
                self.actions.copy_(self.kernel_input(actions))
            self.graph.replay()
            return self.output
        self.calls += 1
        if self.eager_reason is not None or self.calls == 1:
            return self.function(self.prepare(actions, None))
        if self.calls == 2:
            return self._checked(self.prepare(actions, None))
        return self._capture(actions)

    def _checked(self, actions: torch.Tensor) -> Any:
        """Runs a step eagerly on a side stream (as capture wants), noting any host-device synchronisation."""
        if not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
            self._give_up(f"torch {torch.__version__} cannot replay a graph's draws from the env's own generators")
            return self.function(actions)
        device = actions.device
        self._stream = torch.cuda.Stream(device)
        self._stream.wait_stream(torch.cuda.current_stream(device))
        previous = torch.cuda.get_sync_debug_mode()
        with torch.cuda.stream(self._stream), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                output = self.function(actions)
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        torch.cuda.current_stream(device).wait_stream(self._stream)
        # torch's own words for a wait in "warn" mode; its one-time notice that the mode is a
        # prototype ("... does not yet detect all synchronizing operations") is not one
        syncs = [w for w in caught if "called a synchronizing" in str(w.message)]
        caught = [w for w in caught if "debug mode is a prototype" not in str(w.message)]
        for warning in caught:
            if warning not in syncs:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if syncs:
            self._give_up(f"a step waits on the GPU ({str(syncs[0].message).strip().splitlines()[0]})")
        return output

    def _capture(self, actions: torch.Tensor) -> Any:
        device = actions.device
        pointed = self.input_kernel is not None
        if pointed:  # the capture prepares the actions too, from a copy of what the kernel reads
            self.actions = self.kernel_input(actions).clone()
            step = lambda: self.function(self.prepare(self.actions, None))
        else:
            self.actions = self.prepare(actions, None).clone()
            step = lambda: self.function(self.actions)
        # a graph kept after instantiation, to find the input kernel's node in
        graph = torch.cuda.CUDAGraph(keep_graph=True) if pointed else torch.cuda.CUDAGraph()
        for generator in self.generators():
            graph.register_generator_state(generator)
        torch.cuda.synchronize(device)
        try:
            with torch.cuda.graph(graph, stream=self._stream):
                output = step()
        except RuntimeError as error:  # an operation a graph cannot hold; capture ran no kernel
            self._give_up(f"capturing the step failed ({str(error).strip().splitlines()[0]})")
            return self.function(self.prepare(actions, None))
        if pointed:
            graph.instantiate()
            try:
                self._input = GraphInput(graph, self.input_kernel)
            except RuntimeError as error:  # then each replay copies the actions in, as a kernel would
                warnings.warn(f"megastep: env steps copy their actions into the CUDA graph: {error}", stacklevel=4)
        self.graph, self.output = graph, output
        graph.replay()
        return self.output

    def _give_up(self, reason: str) -> None:
        self.eager_reason = reason
        warnings.warn(f"megastep: running env steps eagerly, not from a CUDA graph: {reason}", stacklevel=5)


__getattr__ = old_names(__name__, {old: (new, f"megastep_envs.step.graphs.{old} is now {new.__name__}")
                                   for old, new in {"Beside": SideStreams, "Branch": SideBlock}.items()})
