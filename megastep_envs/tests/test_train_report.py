"""The curves and figures of finished runs (``python -m megastep_envs.train.report``)."""
import json

import pytest

from megastep_envs.train import report


def write_run(folder, records):
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "hyperparameters.json").write_text(json.dumps({"total_steps": 1000}))
    return folder


def record(update, **metrics):
    return {"env_steps": 100 * update, "agent_steps": 400 * update, "seconds": 2.0 * update, **metrics}


def drawn_panels(monkeypatch, run):
    """The metrics :func:`report.plot` draws for ``run``, read from the axes it labels."""
    labels = []
    from matplotlib.axes import Axes

    monkeypatch.setattr(Axes, "set_ylabel", lambda self, label, *a, **k: labels.append(label))
    report.plot(run, run.parent / "out.png")
    assert (run.parent / "out.png").is_file()
    return labels[::2]  # each metric is drawn twice: against env steps and against wall time


def test_a_zero_sum_self_play_run_draws_its_win_rate_and_rating_not_its_return(tmp_path, monkeypatch, capsys):
    """Deathmatch's zero-sum reward sums to 0 over its agents, so its logged return is 0 at every update."""
    records = [record(u, **{"charts/episodic_return": 0.0, "selfplay/win_rate": 0.5 + u / 40, "selfplay/elo": 1000 + u})
               for u in range(1, 11)]
    run = write_run(tmp_path / "deathmatch", records)
    assert drawn_panels(monkeypatch, run) == ["win rate", "elo"]
    assert report.main([str(run), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "training.json").read_text())[0]
    assert summary["final_win_rate"] == pytest.approx(0.75) and summary["final_elo"] == pytest.approx(1010)
    assert "win_rate 0.75" in capsys.readouterr().out


def test_a_run_with_a_return_draws_it_beside_its_task_metric(tmp_path, monkeypatch):
    records = [record(u, **{"charts/episodic_return": float(u), "charts/success_rate": u / 10}) for u in range(1, 6)]
    run = write_run(tmp_path / "pointgoal", records)
    assert drawn_panels(monkeypatch, run) == ["episodic return", "success rate"]


def test_a_folder_that_is_not_a_run_is_an_error_naming_it(tmp_path, capsys):
    assert report.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "report")]) == 2
    assert "nowhere/metrics.jsonl does not exist" in capsys.readouterr().err


def test_a_run_where_no_episode_ended_still_gets_its_figure(tmp_path, monkeypatch):
    run = write_run(tmp_path / "minimal", [record(u) for u in range(1, 4)])
    assert drawn_panels(monkeypatch, run) == ["episodic return"]


def test_runs_drawn_together_share_the_axes_each_with_its_name(tmp_path, monkeypatch):
    """``--together NAME`` draws every run's curve on the same panels, labelled by its folder, into NAME.png."""
    from matplotlib.axes import Axes

    old = write_run(tmp_path / "old", [record(u, **{"charts/coverage": u / 20}) for u in range(1, 6)])
    new = write_run(tmp_path / "new", [record(u, **{"charts/coverage": u / 10, "charts/episodic_return": 1.0 * u})
                                       for u in range(1, 4)])
    lines = []
    drawn = Axes.plot
    monkeypatch.setattr(Axes, "plot", lambda self, x, y, **k: (lines.append((k.get("label"), len(x))),
                                                                 drawn(self, x, y, **k))[1])
    assert report.main([str(old), str(new), "--out", str(tmp_path / "report"), "--together", "compare"]) == 0
    assert (tmp_path / "report" / "compare.png").is_file()
    # each run's own figure first (old: coverage; new: return and coverage; each against both axes): 6 lines; then
    # the shared one: return and coverage against both axes, each run's curve where it logged the metric
    together = lines[6:]
    assert sorted(together) == sorted([("new", 3)] * 2 + [("old", 5), ("new", 3)] * 2)
    assert report.main([str(old), "--out", str(tmp_path / "report"), "--together", " "]) == 2


def test_a_trailing_mean_averages_each_figure_with_the_ones_before_it():
    assert report.trailing_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert report.trailing_mean([1.0, 3.0, 5.0], 1) == [1.0, 3.0, 5.0]
    assert report.trailing_mean([2.0, 4.0], 5) == [2.0, 3.0]  # fewer before it at the start


def test_a_long_noisy_run_draws_its_updates_faintly_behind_their_trailing_mean(tmp_path, monkeypatch):
    """A run of few envs logs each update's mean of a few episodes: 0 or 1 in turn, here. Its curve is their
    trailing mean over a fiftieth of the updates (4 of 200), drawn over the updates' own figures."""
    from matplotlib.axes import Axes

    run = write_run(tmp_path / "pointgoal", [record(u, **{"charts/episodic_return": 1.0,
                                                          "charts/success_rate": float(u % 2)})
                                             for u in range(1, 201)])
    lines = []
    drawn = Axes.plot
    monkeypatch.setattr(Axes, "plot", lambda self, x, y, **k: (lines.append((k.get("alpha"), list(y))),
                                                                 drawn(self, x, y, **k))[1])
    report.plot(run, tmp_path / "out.png")
    success = lines[4:6]  # the return's two panels first (raw and mean each), then the success rate's first panel
    assert success[0] == (0.2, [float(u % 2) for u in range(1, 201)])
    assert success[1][0] is None and all(value == 0.5 for value in success[1][1][3:])
    lines.clear()
    assert report.main([str(run), "--out", str(tmp_path / "report"), "--smooth", "1"]) == 0
    assert [alpha for alpha, _ in lines] == [None] * 4  # the updates' figures alone


def test_a_smoothing_window_under_one_update_is_an_error(tmp_path, capsys):
    run = write_run(tmp_path / "minimal", [record(u) for u in range(1, 4)])
    assert report.main([str(run), "--out", str(tmp_path / "report"), "--smooth", "0"]) == 2
    assert "--smooth takes a number of updates, 1 or more, got 0" in capsys.readouterr().err
