"""The README's Gymnasium example runs as written, in a fresh process (registration included)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gymnasium", reason="the example needs the 'gymnasium' extra")

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readmes_gymnasium_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (example,) = [block for block in blocks if "register_envs" in block]
    check = example + "\nassert envs.num_envs == 64 and reward.shape == (64,)\nprint('ok')\n"
    done = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip() == "ok"
