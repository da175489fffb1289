"""The learning-curve plots: evaluated success with its 95 % interval, and what a run without
episodes (offline behaviour cloning) draws instead of an empty plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from learner.metrics import EVAL_EPISODES_TAG, EVAL_SUCCESS_TAG, read_metrics, wilson_interval
from learner.plot import evaluated_points, learning_figure, plot_run
from learner.snapshots import Snapshot
from rlif.cli import main as rlif_main
from rlif.sim_eval import _record
from tests.learner_tasks import run_episode


def test_wilson_interval_of_a_few_episodes_is_wide_and_stays_within_zero_and_one() -> None:
    assert wilson_interval(4, 10) == pytest.approx((0.168, 0.687), abs=1e-3)
    low, high = wilson_interval(20, 50)
    assert high - low < 0.28 < 0.687 - 0.168  # 50 episodes tell 40 % from a collapse, 10 do not
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def episode_rows(count: int) -> dict[str, list[tuple[float, int, int, float]]]:
    return {
        "episode/success": [(100.0 + i, i, 60 * i, float(i % 2)) for i in range(count)],
        "actor/success_rate": [(100.0 + i, i, 60 * i, 0.5) for i in range(count)],
    }


def error_bars(figure) -> list[list[float]]:
    """Per errorbar plot of the figure: the low and high end of each bar, in turn."""
    found = []
    for axes in figure.axes:
        for container in axes.containers:
            if isinstance(container, ErrorbarContainer):
                (bars,) = container.lines[2]
                found.append([float(end[1]) for segment in bars.get_segments() for end in segment])
    return found


def test_the_evaluation_records_its_episodes_and_the_plot_draws_their_interval(tmp_path: Path) -> None:
    snapshots = [
        Snapshot(tmp_path / f"p{i}.npz", steps, updates, 1000.0 + i)
        for i, (steps, updates) in enumerate([(0, 0), (600, 500)])
    ]
    _record(tmp_path, [(snapshots[0], 4, 10), (snapshots[1], 45, 50)])
    series = read_metrics(tmp_path)
    assert [row[3] for row in series[EVAL_EPISODES_TAG]] == [10, 50]
    assert [row[1:3] for row in series[EVAL_EPISODES_TAG]] == [row[1:3] for row in series[EVAL_SUCCESS_TAG]]
    assert "4/10 successes (40 %, 95 % interval 17-69 %)" in (tmp_path / "eval.txt").read_text()

    points = evaluated_points(series)
    assert [(p.low, p.high) for p in points] == [wilson_interval(4, 10), wilson_interval(45, 50)]
    series.update(episode_rows(5))
    bars = error_bars(learning_figure("run", series))
    assert len(bars) == 2  # the success plots against steps and against wall time
    for drawn in bars:
        assert drawn == pytest.approx([*wilson_interval(4, 10), *wilson_interval(45, 50)])
    assert plot_run(tmp_path)[0].read_bytes()[:4] == b"\x89PNG"


def test_evaluations_without_a_recorded_episode_count_are_drawn_without_an_interval() -> None:
    series = {**episode_rows(3), EVAL_SUCCESS_TAG: [(100.0, 7, 60, 0.3)]}
    (point,) = evaluated_points(series)
    assert point.low == point.high == 0.3


def test_offline_behaviour_cloning_plots_its_loss_against_updates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for index in range(3):
        run_episode(None, rng, operator=False, episode_id=f"d{index}").save(tmp_path / "demos" / f"d{index}.npz")
    run = tmp_path / "run"
    rlif_main(
        ["train", "--run-dir", str(run), "--demos", str(tmp_path / "demos"), "--updates", "6",
         "--learner.algorithm", "bc", "--learner.batch-size", "16", "--learner.log-every", "2"]
    )  # fmt: skip
    series = read_metrics(run)
    assert "episode/success" not in series and len(series["loss/bc"]) == 3
    figure = learning_figure(run.name, series)
    (axes,) = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("updates", "behaviour-cloning loss")
    (line,) = axes.get_lines()
    assert np.asarray(line.get_xdata()).tolist() == [2, 4, 6]
    assert np.asarray(line.get_ydata()).tolist() == [row[3] for row in series["loss/bc"]]
    assert not any("no episodes yet" in text.get_text() for text in axes.texts)
    assert (run / "learning_curves.png").exists()


def test_a_run_without_episodes_draws_its_evaluations_against_updates() -> None:
    series = {
        "loss/bc": [(1.0, 2, 0, 0.5), (2.0, 4, 0, 0.3)],
        EVAL_SUCCESS_TAG: [(3.0, 4, 0, 0.4)],
        EVAL_EPISODES_TAG: [(3.0, 4, 0, 10.0)],
    }
    figure = learning_figure("bc", series)
    assert [axes.get_ylabel() for axes in figure.axes] == ["behaviour-cloning loss", "success rate"]
    assert error_bars(figure) == [pytest.approx([*wilson_interval(4, 10)])]
