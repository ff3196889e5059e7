"""``megastep eval`` on tiny checkpoints, ``evaluate_policy``, and the errors bad input gets."""
import argparse
import hashlib
import json
import math

import numpy as np
import pytest
import torch

from megastep_core import get_plugin_manager
from megastep_envs import make
from megastep_envs.evaluation import EvaluationError, evaluate_policy
from megastep_envs.train import checkpoint
from megastep_envs.train.model import Agent
from megastep_geometry import toys
from megastep_geometry.layouts import save_layouts

OPTIONS = {
    "pointgoal": {"pixels": 16, "goal_sensor": "every_step", "lifespan": [40, 60]},
    "explorer": {"pixels": 32},
    "deathmatch": {"pixels": 32, "n_agents": 2},
}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    path = tmp_path_factory.mktemp("layouts") / "rooms.npz"
    return save_layouts(path, [toys.column(4.0, 4.0, 1.0), toys.box(3.0, 3.0)])


def tiny_checkpoint(path, env_name, options=None):
    """A fresh network saved the way training saves one."""
    options = OPTIONS[env_name] if options is None else options
    built = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    env = make(env_name, 1, geometries=[toys.box(3.0, 3.0)], device="cpu", **built)
    torch.manual_seed(0)
    model = Agent(env.observation_space, env.action_space, 16, True)
    return checkpoint.save(path, {"env": env_name, "env_options": options, "model": model.state_dict(),
                                  "hyperparameters": {"hidden": 16, "lstm": True, "seed": 0}})


def megastep(*argv):
    parser = argparse.ArgumentParser()
    get_plugin_manager().hook.megastep_commands(subparsers=parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.run(args)


def fast(*extra):
    return ["--episodes", "4", "--device", "cpu", "--step-counts", "10", "20", "--steps", "30", *extra]


@pytest.mark.parametrize("env_name", ["pointgoal", "explorer", "deathmatch"])
def test_megastep_eval_reports_the_trained_policy_beside_the_baselines(env_name, tmp_path, layouts, capsys):
    path = tiny_checkpoint(tmp_path / "run" / "checkpoint.pt", env_name)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    extra = ["--opponent", str(path)] if env_name == "deathmatch" else []
    assert megastep("eval", str(path), "--layouts", str(layouts), "--json", str(tmp_path / "eval.json"),
                    *fast(*extra)) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "eval.json").read_text())
    scripted = {"pointgoal": "greedy", "explorer": "wall_avoider", "deathmatch": "aim_and_fire"}[env_name]
    assert list(report["policies"])[:3] == ["random", scripted, "trained"]
    assert report["env"] == env_name and report["layouts"] == str(layouts) and report["episodes"] == 4
    for name in report["policies"]:
        assert name in out
    trained = report["policies"]["trained"]
    if env_name == "pointgoal":
        assert trained["episodes"] == 4 and 0 <= trained["success_rate"] <= 1
        assert report["policies"]["greedy"]["success_rate"] > report["policies"]["random"]["success_rate"]
    elif env_name == "explorer":
        assert 0 < trained["coverage@10"] <= trained["coverage@20"] <= 1
    else:
        assert "trained vs opponent" in report["policies"] and 0 <= trained["win_rate"] <= 1
    # evaluation reads the checkpoint and never writes it
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]


def test_the_same_seed_gives_the_same_report(tmp_path, layouts):
    path = tiny_checkpoint(tmp_path / "checkpoint.pt", "pointgoal")
    reports = []
    for name in ("a", "b"):
        assert megastep("eval", str(path), "--layouts", str(layouts), "--json", str(tmp_path / f"{name}.json"),
                        *fast()) == 0
        reports.append(json.loads((tmp_path / f"{name}.json").read_text())["policies"])
    assert reports[0] == reports[1]


def test_evaluate_policy_measures_a_network_for_a_trainer(layouts):
    env = make("pointgoal", 1, geometries=[toys.box(3.0, 3.0)], device="cpu", pixels=16, goal_sensor="every_step")
    model = Agent(env.observation_space, env.action_space, 16, True)
    model.train()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    figures = evaluate_policy(model, "pointgoal", {"pixels": 16, "goal_sensor": "every_step", "lifespan": (30, 40)},
                              episodes=3, device="cpu", layouts=layouts)
    assert set(figures) == {"eval/episodes", "eval/success_rate", "eval/spl", "eval/unreachable", "eval/return",
                            "eval/length", "eval/travelled"}
    assert figures["eval/episodes"] == 3 and all(isinstance(v, float) for v in figures.values())
    assert model.training  # left as it was
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_evaluate_policy_records_a_short_video(tmp_path, layouts):
    import imageio.v2 as imageio

    env = make("explorer", 1, geometries=[toys.box(3.0, 3.0)], device="cpu", pixels=32)
    model = Agent(env.observation_space, env.action_space, 16, False)
    figures = evaluate_policy(model, "explorer", {"pixels": 32}, episodes=2, device="cpu", layouts=layouts,
                              video=tmp_path / "eval.mp4", video_steps=5, prefix="")
    assert not math.isnan(figures["return"])
    assert imageio.get_reader(tmp_path / "eval.mp4").count_frames() == 5


def test_bad_input_gets_an_error_naming_the_argument(tmp_path, layouts, capsys):
    pointgoal = tiny_checkpoint(tmp_path / "pointgoal.pt", "pointgoal")
    explorer = tiny_checkpoint(tmp_path / "explorer.pt", "explorer")
    deathmatch = tiny_checkpoint(tmp_path / "deathmatch.pt", "deathmatch")
    # walls that enclose nothing (a layouts file without masks: they are rasterised from the walls), and a
    # closet too narrow for an agent
    for name, walls in [("open", [[[0, 0], [1, 0]], [[1, 0], [1, 1]]]), ("closet", toys.box(0.25, 0.25).walls)]:
        walls = np.asarray(walls, dtype=np.float32)
        np.savez(tmp_path / f"{name}.npz", walls=walls, wall_counts=np.array([len(walls)]),
                 lights=np.array([[0.1, 0.1, 1.0]]), light_counts=np.array([1]))
    closet = tmp_path / "closet.npz"
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases = [
        ([str(tmp_path / "missing.pt")], "CHECKPOINT: no such checkpoint file"),
        ([str(tmp_path / "junk.pt")], "CHECKPOINT: cannot read"),
        ([str(pointgoal), "--env", "explorer"], "CHECKPOINT: .* trained the 'pointgoal' env, not 'explorer'"),
        ([str(deathmatch), "--opponent", str(explorer)], "--opponent: .* trained the 'explorer' env"),
        ([str(pointgoal), "--opponent", str(pointgoal)], "--opponent: head-to-head play is for deathmatch"),
        ([str(pointgoal), "--layouts", str(tmp_path / "missing.npz")], "--layouts: no such layouts file"),
        ([str(pointgoal), "--layouts", str(tmp_path / "open.npz")], "--layouts: .*has no free space"),
        ([str(pointgoal), "--layouts", str(closet)], "--layouts: layout .* has no free space for an agent"),
        ([str(pointgoal), "--layouts", str(layouts), "--episodes", "0"], "--episodes must be a positive integer"),
        ([str(pointgoal), "--json", str(pointgoal)], "--json .* is the checkpoint itself"),
        ([str(pointgoal), "--tournament"], "--tournament: rating snapshots is for deathmatch"),
        ([str(deathmatch), "--tournament"], "--tournament: .* holds no self-play snapshots"),
    ]
    for argv, message in cases:
        assert megastep("eval", *argv, "--device", "cpu") == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("megastep eval: error: ") and __import__("re").search(message, err), (argv, err)
    # a network of another env's observations is refused before it runs
    other = make("explorer", 1, geometries=[toys.box(3.0, 3.0)], device="cpu", pixels=32)
    with pytest.raises(EvaluationError, match="model: the network takes observations"):
        evaluate_policy(Agent(other.observation_space, other.action_space, 16), "pointgoal", OPTIONS["pointgoal"],
                        episodes=1, device="cpu", layouts=layouts)
    with pytest.raises(EvaluationError, match="episodes must be a positive integer"):
        evaluate_policy(Agent(other.observation_space, other.action_space, 16), "explorer", {}, episodes=0)


def test_a_tournament_rates_every_snapshot_of_a_self_play_run(tmp_path, layouts, capsys):
    path = tiny_checkpoint(tmp_path / "deathmatch.pt", "deathmatch")
    saved = checkpoint.load(path)
    early = {key: torch.randn_like(value) for key, value in saved["model"].items()}
    saved["selfplay"] = {"snapshots": {"update-0": early, "update-5": saved["model"]},
                         "minutes": {"update-0": 0.0, "update-5": 1.0}}
    checkpoint.save(path, saved)
    out = tmp_path / "eval.json"
    assert megastep("eval", str(path), *fast("--layouts", str(layouts), "--tournament", "--json", str(out))) == 0
    printed = capsys.readouterr().out
    assert "ratings rise from each snapshot to the next" in printed
    result = json.loads(out.read_text())["tournament"]
    names = [row["name"] for row in result["players"]]
    assert names == ["random", "aim_and_fire", "update-0", "update-5", "final"]
    assert result["players"][0]["rating"] == 0 and result["games_per_pair"] == 4
    for row in result["players"]:
        assert 0 <= row["score"] <= 1 and math.isfinite(row["rating"])
        assert (row["rating_se"] == 0) == (row["name"] == "random")  # random actions are the anchor, at 0
    assert [(rise["from"], rise["to"]) for rise in result["rises"]] == [("update-0", "update-5"), ("update-5", "final")]
    assert all(rise["se"] > 0 for rise in result["rises"]) and "update-5 -> final: " in printed
    assert result["clear_falls"] == sum(rise["rise"] < -2 * rise["se"] for rise in result["rises"])
