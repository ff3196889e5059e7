"""Data-parallel PPO: two gloo processes on the CPU, launched by torchrun, stay in step."""
import json
import os
import subprocess
import sys
import textwrap

import torch

from megastep_envs.train import checkpoint

# each process trains on its own envs, then saves what it ended with
RANK_SCRIPT = textwrap.dedent("""
    import dataclasses, os, sys, torch
    from megastep_envs.train import ppo
    out = sys.argv[1]
    config = dataclasses.replace(ppo.defaults("minimal"), envs=4, steps=8, total_steps=2 * 4 * 8 * 3, hidden=16,
                                 device="cpu")
    torch.manual_seed(0)
    initial = ppo.Agent  # the network is built inside train(); its first state is rebuilt below to compare
    result = ppo.train("minimal", config, progress=False, env_options={"lifespan": (8, 16)})
    rank = os.environ["RANK"]
    torch.save(result.model.state_dict(), f"{out}/rank{rank}.pt")
""")


def torchrun(*arguments, cwd):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def test_two_gloo_processes_keep_identical_parameters(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    done = torchrun(str(script), str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in ranks[0].items():
        assert torch.equal(value, ranks[1][name]), f"{name} differs between the ranks"
    # three updates moved them from the shared start (rebuilt from the same seed)
    from megastep_envs.registry import make
    from megastep_envs.train.model import Agent

    env = make("minimal", 1, device="cpu")
    torch.manual_seed(0)
    start = Agent(env.observation_space, env.action_space, hidden=16).state_dict()
    assert not torch.equal(start["policy.weight"], ranks[0]["policy.weight"])


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
