"""Checkpoints: written atomically, read back without unpickling arbitrary objects.

A checkpoint file is a ``torch.save`` archive of two entries: ``payload``, the
bytes of another ``torch.save`` archive holding the training state (tensors,
numbers, strings, and lists and dicts of them), and ``sha256``, the hash of
those bytes. Both archives are read with ``torch.load(weights_only=True)``,
which refuses any pickled object other than tensors and plain containers, so a
checkpoint from an untrusted source cannot run code. The hash catches what a
zip archive's structure does not: a flipped bit inside tensor data.

Writing goes to a temporary file in the same folder, flushed to disk, then
renamed over the old checkpoint: a crash mid-write leaves the previous
checkpoint intact, never half of a new one.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from megastep_core.errors import MegastepError

FORMAT = "megastep-train-checkpoint"
VERSION = 1


class CheckpointError(MegastepError, ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, of another format, or unsafe to load."""


def save(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Writes ``state`` to ``path`` atomically.

    :param path: the checkpoint file; its folder is created if needed.
    :param state: tensors, numbers, strings, ``None``, and lists, tuples and dicts of them.
    :returns: the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    payload = buffer.getvalue()
    envelope = {"payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
                "sha256": hashlib.sha256(payload).hexdigest()}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(envelope, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _safe_load(source, where: str, what: str) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:
        message = str(error)
        global_name = re.search(r"Unsupported global: GLOBAL (\S+)", message)
        if global_name is not None:
            raise CheckpointError(
                f"refusing to load {where}: its {what} asks to unpickle {global_name.group(1)}, which is not a "
                f"tensor or plain container and could run code when loaded"
            ) from None
        # the first line of torch's message is about weights_only in general; the cause is further down
        detail = message.split("WeightsUnpickler error:")[-1].strip().splitlines()[0] if message else ""
        raise CheckpointError(
            f"cannot read {where}: its {what} is corrupt or truncated, or not a megastep checkpoint "
            f"({type(error).__name__}: {detail})"
        ) from None


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save`, with every tensor on the CPU.

    :raises CheckpointError: if the file is missing, truncated, altered, unsafe, or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    where = f"checkpoint {path}"
    envelope = _safe_load(path, where, "file")
    if not isinstance(envelope, dict) or set(envelope) != {"payload", "sha256"}:
        raise CheckpointError(f"cannot read {where}: it is not a megastep checkpoint (no payload and hash)")
    payload = envelope["payload"]
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8 or payload.dim() != 1:
        raise CheckpointError(f"cannot read {where}: its payload is not a byte tensor")
    data = payload.numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != envelope["sha256"]:
        raise CheckpointError(f"{where} is corrupt: the hash of its contents does not match the hash stored with them")
    state = _safe_load(io.BytesIO(data), where, "payload")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"cannot read {where}: it is not a {FORMAT}")
    if state.get("version") != VERSION:
        raise CheckpointError(f"cannot read {where}: format version {state.get('version')}, expected {VERSION}")
    return state
