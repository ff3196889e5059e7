"""Checkpoints: written atomically, read back safely, and refused when corrupt or unsafe."""
import pickle

import pytest
import torch

from megastep_envs.train import checkpoint
from megastep_envs.train.checkpoint import CheckpointError

STATE = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "step": 12, "name": "minimal", "values": [1.5, None]}


def test_round_trip(tmp_path):
    path = checkpoint.save(tmp_path / "run" / "checkpoint.pt", STATE)
    loaded = checkpoint.load(path)
    assert torch.equal(loaded["model"]["w"], STATE["model"]["w"])
    assert (loaded["step"], loaded["name"], loaded["values"]) == (12, "minimal", [1.5, None])
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left


def test_a_failed_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = checkpoint.save(tmp_path / "checkpoint.pt", STATE)
    before = path.read_bytes()

    def disk_full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", disk_full)  # fails after the new file is half written
    with pytest.raises(OSError, match="No space"):
        checkpoint.save(path, {**STATE, "step": 13})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "empty"])
def test_a_corrupt_checkpoint_is_refused_with_a_clear_message(tmp_path, damage):
    path = checkpoint.save(tmp_path / "checkpoint.pt", STATE)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        # a byte inside the payload's tensor data: the archive still opens, the hash does not match
        middle = data.find(b"minimal")
        data[middle] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint at all" * 10)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"checkpoint {path}.*(corrupt|not a megastep)"):
        checkpoint.load(path)


def test_a_pickle_of_arbitrary_objects_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as file:
        torch.save({"payload": Payload()}, file, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refusing to load.*could run code"):
        checkpoint.load(path)


def test_other_files_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.pt")
    torch.save({"model": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a megastep checkpoint"):
        checkpoint.load(tmp_path / "plain.pt")
