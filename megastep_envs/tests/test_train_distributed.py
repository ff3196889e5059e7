"""Data-parallel PPO: two gloo processes on the CPU, launched by torchrun, stay in step."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from megastep_envs.train import checkpoint

# each process trains on its own envs and saves what it ended with; run again without DDP (so without
# averaging the gradients), it shows that the processes saw different samples and that DDP is what agrees them.
# The two runs are two torchrun launches: a process group is set up once per launch.
RANK_SCRIPT = textwrap.dedent("""
    import dataclasses, os, sys, torch
    from megastep_envs.train import distributed, ppo
    from megastep_envs.train.hyperparameters import defaults
    out, mode, rank = sys.argv[1], sys.argv[2], os.environ["RANK"]
    if mode == "alone":
        distributed.data_parallel = lambda process, model: model
        ppo.distributed.check_parameters_agree = lambda process, module: None
    config = dataclasses.replace(defaults("minimal"), envs=4, steps=8, total_steps=2 * 4 * 8 * 3, hidden=16,
                                 device="cpu")
    result = ppo.train("minimal", config, progress=False, env_options={"lifespan": (8, 16)})
    torch.save(result.model.state_dict(), f"{out}/{mode}{rank}.pt")
""")


def torchrun(*arguments, cwd):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=240)


def test_two_gloo_processes_keep_identical_parameters(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    for mode in ("rank", "alone"):
        done = torchrun(str(script), str(tmp_path), mode, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in ranks[0].items():
        assert torch.equal(value, ranks[1][name]), f"{name} differs between the ranks"
    alone = [torch.load(tmp_path / f"alone{r}.pt", weights_only=True) for r in (0, 1)]
    assert not torch.equal(alone[0]["policy.weight"], alone[1]["policy.weight"])
    assert not torch.equal(alone[0]["policy.weight"], ranks[0]["policy.weight"])


def test_the_train_module_under_torchrun_writes_one_checkpoint(tmp_path):
    out = tmp_path / "run"
    done = torchrun("-m", "megastep_envs.train", "minimal", "--out", str(out), "--envs", "4", "--steps", "8",
                    "--total-steps", "128", "--hidden", "16", "--device", "cpu", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    state = checkpoint.load(out / "checkpoint.pt")
    assert state["world_size"] == 2 and state["update"] == 2 and state["env_steps"] == 128
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["env_steps"] for line in lines] == [64, 128]  # rank 0 alone logs
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".pt") == ["checkpoint.pt"]


def test_an_error_in_a_process_surfaces_under_torchrun(tmp_path):
    """An error after the process group started (here: no such physics) is what each process reports, and the
    processes leave the group; before, it was hidden behind an error of the clean-up."""
    done = torchrun("-m", "megastep_envs.train", "minimal", "--out", str(tmp_path / "run"), "--envs", "4",
                    "--steps", "8", "--hidden", "16", "--device", "cpu", "--physics", "nope", "--no-progress",
                    cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.count("megastep train: error:") == 2 and "'nope'" in done.stderr, done.stderr[-3000:]
    assert "Boolean value of Tensor" not in done.stderr
    assert "destroy_process_group" not in done.stderr  # no warning of a group left behind


# rank 1's clock finds a checkpoint due after every update and rank 0's never, as if their clocks had drifted apart
SKEWED_SCRIPT = textwrap.dedent("""
    import dataclasses, os, sys
    from megastep_envs.train import ppo
    from megastep_envs.train.hyperparameters import defaults
    minutes = 1e-9 if os.environ["RANK"] == "1" else 60.0
    config = dataclasses.replace(defaults("minimal"), envs=4, steps=8, total_steps=2 * 4 * 8 * 3, hidden=16,
                                 device="cpu", checkpoint_minutes=minutes, act_while_learning=sys.argv[2] == "ahead")
    ppo.train("minimal", config, out=sys.argv[1], progress=False, env_options={"lifespan": (8, 16)})
""")


@pytest.mark.parametrize("schedule", ["in_turn", "ahead"])
def test_processes_whose_clocks_disagree_write_their_checkpoints_together(schedule, tmp_path):
    """A checkpoint checks the parameters with a collective call: one due by any process's clock is written by all
    of them at the same update (before, each asked its own clock, and the other process's next collective call met
    the check's)."""
    script = tmp_path / "rank.py"
    script.write_text(SKEWED_SCRIPT)
    done = torchrun(str(script), str(tmp_path / "run"), schedule, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    state = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    assert state["update"] == 3 and state["world_size"] == 2
