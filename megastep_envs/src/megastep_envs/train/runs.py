"""A run's folder, its signals and its resume: what keeps a training run from losing work.

:func:`claim_folder` refuses to write a new run over another one; :class:`StopSignals` turns SIGINT and SIGTERM
into a stop at the end of an update; :func:`resolve` and :func:`restore` continue a run from its checkpoint with
the hyperparameters it started with (:func:`resumed_hyperparameters`).
"""
from __future__ import annotations

import dataclasses
import signal
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from megastep_core.world import resolve_device

from . import checkpoint
from .hyperparameters import Hyperparameters, TrainError, defaults

if TYPE_CHECKING:
    from . import distributed
    from .envstate import EnvState
    from .ppo import Parts

RUN_FILES = ("checkpoint.pt", "metrics.jsonl", "hyperparameters.json")
"""Files that mark a folder as holding a run; starting over deletes them and the TensorBoard events."""


class StopSignals:
    """Turns SIGINT and SIGTERM into a request to stop at the end of the update; a second one stops at once.

    Only the main thread can install signal handlers: elsewhere (a thread of a notebook or a test) the
    signals keep their own handlers.
    """

    def __init__(self):
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame) -> None:
        if self.requested is not None:  # the second: stop now, keeping the last checkpoint
            self.__exit__()
            raise KeyboardInterrupt
        self.requested = signal.Signals(number).name
        print(f"\n{self.requested}: stopping after this update, with a checkpoint (send it again to stop at once)",
              flush=True)

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()


def resolve(env_name: str, config, resume) -> tuple[Hyperparameters, dict | None]:
    """The run's hyperparameters and the checkpoint to resume from (loaded), after checking they fit."""
    if resume is None:
        if config is None or isinstance(config, dict):
            device = resolve_device((config or {}).get("device", "auto")).type
            config = dataclasses.replace(defaults(env_name, device), **(config or {}))
        return config, None
    state = checkpoint.load(resume)
    if state["env"] != env_name:
        raise TrainError(f"checkpoint {resume} trained {state['env']!r}, not {env_name!r}")
    if "learner" not in state:
        raise TrainError(f"checkpoint {resume} was written by an older megastep: it can be evaluated, not resumed")
    return resumed_hyperparameters(state["hyperparameters"], config), state


def claim_folder(out: Path | None, overwrite: bool, resuming: bool) -> None:
    """Refuses to write a new run over another one, unless ``overwrite``, which deletes the old run's files."""
    if out is None or resuming:
        return
    found = [name for name in RUN_FILES if (out / name).exists()]
    if not found:
        return
    if not overwrite:
        raise TrainError(f"{out} holds a run already ({', '.join(found)}): continue it with --resume, or start over "
                         f"with --overwrite, which deletes it")
    for path in [*(out / name for name in RUN_FILES), *out.glob("events.out.tfevents.*")]:
        path.unlink(missing_ok=True)


def restore(state: dict, parts: Parts, env_state: EnvState, process: distributed.Process, resume) -> tuple[int, int]:
    """Loads a checkpoint into a run; returns its env steps and updates."""
    if state["world_size"] != process.world_size:
        raise TrainError(f"checkpoint {resume} was written by {state['world_size']} processes; resume it with as many")
    device = process.device
    parts.model.load_state_dict(state["model"])
    parts.learner.load_state_dict(state["learner"])
    same_device = state.get("device") == device.type
    if process.world_size == 1 and same_device:
        # a single process on the same kind of device continues exactly: the same envs, memory and draws
        parts.collector.generator.set_state(state["generator"])
        env_state.load_state_dict(state["env_state"])
        parts.collector.load_state_dict(state["carry"])
    if parts.selfplay is not None and state.get("selfplay") is not None:
        parts.selfplay.load_state_dict(state["selfplay"])
    elif not same_device:
        warnings.warn(f"checkpoint {resume} was written on {state.get('device')}, and resumes on {device.type}: "
                      f"the learner continues exactly, the envs start new episodes", stacklevel=3)
    # several processes keep only the learner's state: each one's envs start new episodes
    return state["env_steps"], state["update"]


def plain(value) -> bool:
    """Whether ``value`` is made of what a checkpoint can hold and read back safely."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


RESUMABLE = ("total_steps", "checkpoint_minutes", "time_limit_minutes", "device", "eval_minutes", "eval_episodes",
             "snapshot_minutes")
"""Hyperparameters a resumed run may change: how long it goes on and where, not how it learns."""


def resumed_hyperparameters(saved: dict[str, Any], asked: Hyperparameters | dict[str, Any] | None) -> Hyperparameters:
    """The checkpoint's hyperparameters, with the :data:`RESUMABLE` ones that ``asked`` gives.

    :param asked: a dict of the fields given (the command line's flags), or a whole :class:`Hyperparameters`,
        which gives every resumable field.
    :raises TrainError: if ``asked`` (a dict) changes a field that is not resumable.
    """
    known = {field.name for field in dataclasses.fields(Hyperparameters)}
    config = Hyperparameters(**{k: v for k, v in saved.items() if k in known})
    if isinstance(asked, Hyperparameters):
        asked = {name: getattr(asked, name) for name in RESUMABLE}
    asked = dict(asked or {})
    fixed = sorted(name for name in asked if name not in RESUMABLE and asked[name] != getattr(config, name))
    if fixed:
        raise TrainError(f"{', '.join(fixed)} cannot change when resuming: a run keeps the hyperparameters it "
                         f"started with (only {', '.join(RESUMABLE)} may change)")
    return dataclasses.replace(config, **{name: value for name, value in asked.items() if name in RESUMABLE})
