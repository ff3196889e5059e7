"""The example scripts a user would start from run, and learn: ``examples/gymnasium_ppo.py`` trains Minimal
through the Gymnasium interface alone, as a user's own trainer would."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gymnasium", reason="the example needs the 'gymnasium' extra")

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "gymnasium_ppo.py"


def test_the_gymnasium_ppo_script_uses_nothing_of_megastep_but_the_registration():
    tree = ast.parse(SCRIPT.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name for name in imported if name.startswith("megastep")} == {"megastep_envs.adapters.gymnasium"}


def test_the_gymnasium_ppo_script_trains_minimal(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--total-steps", "24576", "--num-envs", "32"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    returns = [float(r) for r in re.findall(r"charts/episodic_return=([-\d.]+)", done.stdout)]
    assert len(returns) >= 10 and "charts/SPS=" in done.stdout
    # a random policy earns what the first finished episodes did; a few seconds of PPO earn clearly more
    assert max(returns[-len(returns) // 3:]) > 1.5 * returns[0], returns
