"""``megastep demo`` and ``megastep bench``, run as a user would, on tiny sizes."""
import json

import imageio.v2 as imageio
import pytest

from megastep_core.cli import main
from megastep_envs.tools import bench
from megastep_geometry.layouts import save_layouts


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """``megastep demo`` sets torch's thread count for its process; give the test process its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_demo_writes_a_playable_video_with_one_frame_per_step(tmp_path, capsys):
    assert main(["demo", "minimal", "--envs", "3", "--steps", "6", "--device", "cpu", "--out", str(tmp_path)]) == 0
    reader = imageio.get_reader(tmp_path / "minimal.mp4")
    assert reader.count_frames() == 6
    frame = reader.get_data(5)
    assert frame.shape == (544, 960, 3) and frame.std() > 10  # a picture, not a blank
    assert imageio.imread(tmp_path / "minimal.png").shape == (544, 960, 3)
    out = capsys.readouterr().out
    assert "agent-steps/s" in out and "minimal.mp4" in out


def test_demo_runs_the_greedy_policy_where_there_is_one(tmp_path, capsys):
    args = ["demo", "pointgoal", "--envs", "2", "--steps", "3", "--device", "cpu", "--out", str(tmp_path)]
    assert main(args + ["--policy", "greedy"]) == 0
    assert imageio.get_reader(tmp_path / "pointgoal.mp4").count_frames() == 3
    args = ["demo", "minimal", "--steps", "2", "--device", "cpu", "--policy", "greedy", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "has none; envs with one: pointgoal" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [(["nowhere"], "no environment is called 'nowhere'"), (["minimal", "--envs", "0"], "--envs must be at least 1"),
     (["minimal", "--steps", "0"], "--steps must be at least 1"), (["minimal", "--physics", "nope"], "'nope'")],
)
def test_demo_reports_bad_arguments(tmp_path, capsys, args, message):
    assert main(["demo", *args, "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def _time_quick(step):
    """Times two steps rather than a second's worth, to keep the tests fast."""
    import time

    step()
    start = time.perf_counter()
    step()
    step()
    return (time.perf_counter() - start) / 2


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(bench, "time_step", lambda step, device, **options: _time_quick(step))


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, room, pillar_room):
    return save_layouts(tmp_path_factory.mktemp("layouts") / "layouts.npz", [room, pillar_room])


def test_bench_writes_the_figures_as_json_records(tmp_path, layouts, capsys, quick):
    path = tmp_path / "bench.json"
    code = main(["bench", "--device", "cpu", "--envs", "2", "3", "--config", "minimal-like", "--layouts", str(layouts),
                 "--env", "minimal", "--json", str(path)])
    assert code == 0
    records = json.loads(path.read_text())
    assert [(r["config"], r["envs"]) for r in records] == [
        ("minimal-like", 2), ("minimal-like", 3), ("minimal", 2), ("minimal", 3), ("minimal:one-render", 2),
        ("minimal:one-render", 3)]
    for record in records:
        assert tuple(record) == bench.KEYS
        assert record["agents"] == 1 and record["pixels"] == 64 and record["device"] == "cpu"
        assert (record["physics"], record["renderer"]) == ("stop:torch", "raycast:torch")
        assert record["agent_steps_per_s"] > 0 and record["ms_per_step"] > 0 and record["peak_memory_bytes"] is None
        assert record["agent_steps_per_s"] == pytest.approx(record["envs"] * 1000 / record["ms_per_step"])
    engine = {r["envs"]: r["agent_steps_per_s"] for r in records if r["config"] == "minimal-like"}
    for record in records:  # an env's step against its config's benchmark step of the same size
        expected = None if record["config"] == "minimal-like" else record["agent_steps_per_s"] / engine[record["envs"]]
        assert record["of_engine"] == pytest.approx(expected)
    table = capsys.readouterr().out
    assert "agent-steps/s" in table and "minimal:one-render" in table
    assert f"{100 * records[2]['of_engine']:.1f}%" in table




def test_bench_runs_every_pairing_of_the_backends_asked_for(tmp_path, layouts, quick):
    path = tmp_path / "bench.json"
    args = ["bench", "--device", "cpu", "--envs", "2", "--config", "deathmatch-like", "--layouts", str(layouts),
            "--physics", "stop:torch", "slide", "--renderer", "raycast:torch", "--json", str(path)]
    assert main(args) == 0
    records = json.loads(path.read_text())
    assert [(r["physics"], r["renderer"], r["agents"], r["pixels"]) for r in records] == [
        ("stop:torch", "raycast:torch", 4, 512), ("slide", "raycast:torch", 4, 512)]


def test_bench_refuses_an_unknown_backend_before_running_anything(tmp_path, layouts, capsys, quick):
    path = tmp_path / "bench.json"
    args = ["bench", "--device", "cpu", "--envs", "2", "--config", "minimal-like", "--layouts", str(layouts),
            "--physics", "nope", "stop:torch", "--renderer", "raycast:torch", "--json", str(path)]
    assert main(args) == 2
    assert not path.exists()
    assert "--physics nope: no installed plugin provides it" in capsys.readouterr().err


def test_bench_default_backends_are_torch_alone_on_the_cpu():
    import torch

    assert bench.backend_pairs(None, None, torch.device("cpu")) == [("stop:torch", "raycast:torch")]
    pairs = bench.backend_pairs(["a", "b"], None, torch.device("cpu"))
    assert pairs == [("a", "raycast:torch"), ("b", "raycast:torch")]


def test_time_step_synchronises_and_counts_every_step():
    import torch

    calls = []
    per_step = bench.time_step(lambda: calls.append(1), torch.device("cpu"), warmup=2, seconds=0.01, max_steps=7)
    assert per_step > 0 and len(calls) == 2 + 1 + 7
