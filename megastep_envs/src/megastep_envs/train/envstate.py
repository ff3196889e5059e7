"""Saving and restoring an environment's state, so that ``--resume`` continues exactly.

An env's state is spread over many objects: the world's agents and body
lines, the task's own tensors (goals, health, seen texels), lifespans and the
counters of the numbers drawn for spawns and lifespans, generators, and small
counters. Rather than
ask every env to list them, :class:`EnvState` walks the env's attributes and
collects every tensor, ``torch.Generator`` and plain number it reaches.

Most of the tensors reached are static: textures, baked light, occupancy
grids, spawn candidates, built when the env is made and never written again.
A fresh env made with the same arguments and seed rebuilds them exactly, so
they need not be saved. :class:`EnvState` is created right after the env's
first ``reset()`` and remembers every tensor it reaches then, with its version
counter (which PyTorch bumps on every in-place write, through any view, and
megastep's kernel launcher on every tensor a kernel may write,
:class:`megastep_core.kernels.Kernel`; a step replayed from a CUDA graph bumps
nothing, but its capture bumped what it writes once, which is enough here). A
tensor that is still the same object at the same version when the state is
saved has not changed since, and is left out; everything written or replaced
since is saved. Restoring needs an env made with the same arguments and seed
and reset once, exactly as when the state was saved.
"""
from __future__ import annotations

import ast
import re
import types
import weakref
from typing import Any

import torch

from megastep_core.errors import MegastepError

PlainNumber = (bool, int, float)


class EnvStateError(MegastepError, ValueError):
    """A saved env state that does not fit the env it is restored into."""


def _attrs_fields(cls) -> list[str] | None:
    """The field names of an attrs class (megastep's state types are attrs classes, often with slots), else None."""
    fields = getattr(cls, "__attrs_attrs__", None)
    return None if fields is None else [field.name for field in fields]


def _attrs_is_frozen(cls) -> bool:
    # attrs makes a frozen class's __setattr__ one that always raises
    return _attrs_fields(cls) is not None and getattr(cls.__setattr__, "__name__", "") == "_frozen_setattrs"


_SKIPPED = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
            weakref.ref, torch.device, torch.dtype, str, bytes)


def _children(obj) -> list[tuple[Any, Any]]:
    """``(key, child)`` pairs of a container or object: str keys are attributes, ``("item", k)`` items."""
    if isinstance(obj, dict):
        return [(("item", k), v) for k, v in obj.items() if isinstance(k, (str, int))]
    if isinstance(obj, (list, tuple)):
        return [(("item", i), v) for i, v in enumerate(obj)]
    fields = _attrs_fields(type(obj))
    if fields is not None:
        return [(name, getattr(obj, name)) for name in fields if hasattr(obj, name)]
    if hasattr(obj, "__dict__"):
        return list(vars(obj).items())
    return []


def _name(path: tuple) -> str:
    return "".join(f"[{key[1]!r}]" if isinstance(key, tuple) else f".{key}" for key in path) or "env"


def _walk(obj, path: tuple, seen: set[int], found: dict[tuple, Any], in_tuple: bool) -> None:
    if isinstance(obj, (torch.Tensor, torch.Generator)):
        if id(obj) not in seen:  # a tensor shared by several objects is saved once, under its first path
            seen.add(id(obj))
            found[path] = obj
        return
    if isinstance(obj, PlainNumber):
        if not in_tuple:  # a number inside a tuple could not be assigned back
            found[path] = obj
        return
    if obj is None or isinstance(obj, _SKIPPED) or id(obj) in seen:
        return
    if _attrs_is_frozen(type(obj)):
        return  # immutable configuration (cameras, spaces, geometries): rebuilt from the env's arguments
    seen.add(id(obj))
    for key, child in _children(obj):
        _walk(child, (*path, key), seen, found, isinstance(obj, tuple))


def _reach(env) -> dict[tuple, Any]:
    found: dict[tuple, Any] = {}
    _walk(env, (), set(), found, False)
    return found


class EnvState:
    """Tracks an env from its first reset, to save what changed since and restore it into a twin env.

    :param env: a :class:`~megastep_envs.step.env.Env` that has just been reset for the first time.
    """

    def __init__(self, env):
        self.env = env
        # holding the tensors keeps their ids from being reused by new tensors
        self.initial = {path: (value, value._version) for path, value in _reach(env).items()
                        if isinstance(value, torch.Tensor)}

    def _unchanged(self, path: tuple, value: torch.Tensor) -> bool:
        initial = self.initial.get(path)
        return initial is not None and initial[0] is value and initial[1] == value._version

    def state_dict(self) -> dict[str, Any]:
        """What changed since the first reset: ``tensors``, ``generators`` (their states) and ``numbers``,
        each keyed by the attribute path (``.world.agents.positions``), all on the CPU."""
        tensors, generators, numbers = {}, {}, {}
        for path, value in _reach(self.env).items():
            if isinstance(value, torch.Tensor):
                if not self._unchanged(path, value):
                    tensors[_name(path)] = value.detach().cpu().clone()
            elif isinstance(value, torch.Generator):
                generators[_name(path)] = value.get_state()
            else:
                numbers[_name(path)] = value
        return {"tensors": tensors, "generators": generators, "numbers": numbers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict` into this (freshly reset) env.

        :raises EnvStateError: if the saved state names attributes this env lacks.
        """
        reached = _reach(self.env)
        by_name = {_name(path): path for path in reached}
        for name, saved in state.get("tensors", {}).items():
            current = reached.get(by_name.get(name))
            if isinstance(current, torch.Tensor) and current.shape == saved.shape and current.dtype == saved.dtype:
                # in place, so that every object sharing this tensor sees the restored values
                with torch.no_grad():
                    current.copy_(saved)
            else:  # an attribute that was None, or a tensor of another shape, at the first reset
                _assign(self.env, name, saved.to(self.env.device))
        for name, saved in state.get("generators", {}).items():
            generator = reached.get(by_name.get(name))
            if not isinstance(generator, torch.Generator):
                raise EnvStateError(f"the saved env state has a generator at {name}, which this env lacks")
            generator.set_state(saved)
        for name, saved in state.get("numbers", {}).items():
            _assign(self.env, name, saved)
        # the agents' body lines follow from the restored positions and angles
        self.env.world.place()


_KEY = re.compile(r"\.(\w+)|\[('[^']*'|-?\d+)\]")


def _assign(env, name: str, value) -> None:
    """Sets the attribute or item at ``name`` (as made by :func:`_name`) under ``env``."""
    keys = [(attribute, item) for attribute, item in _KEY.findall(name)]
    if "".join(f".{a}" if a else f"[{i}]" for a, i in keys) != name or not keys:
        raise EnvStateError(f"the saved env state has a malformed attribute path {name!r}")
    owner = env
    try:
        for attribute, item in keys[:-1]:
            owner = getattr(owner, attribute) if attribute else owner[ast.literal_eval(item)]
        attribute, item = keys[-1]
        if attribute:
            if not hasattr(owner, attribute):
                raise AttributeError(attribute)
            setattr(owner, attribute, value)
        else:
            owner[ast.literal_eval(item)] = value
    except (AttributeError, KeyError, IndexError, TypeError) as error:
        raise EnvStateError(
            f"the saved env state has {name}, which this env cannot take ({type(error).__name__}: {error}): "
            f"was it saved from another env, or with other env arguments?"
        ) from None
