"""Learning curves of a run folder as PNG, from its metrics.csv (matplotlib, no display needed).

`learning_curves.png`: success rate and intervention rate (averaged over the last episodes,
per-episode values as dots) against environment steps and against wall time; on the success
plots, the policy alone at its evaluated snapshots (`eval/success_rate`) with 95 % Wilson
intervals from their episode counts (`eval/episodes`), where there are any. A run without
episodes (offline training, `rlif train`) gets its losses and evaluations against updates instead.
`training.png`: the learner's losses, Q values, temperature and speed against updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from learner.metrics import EVAL_EPISODES_TAG, EVAL_SUCCESS_TAG, read_metrics, wilson_interval

Row = tuple[float, int, int, float]
"""(wall_time, updates, env_steps, value), as `read_metrics` gives them."""
Series = list[Row]
ACTOR_CURVES = (
    ("actor/success_rate", "episode/success", "success rate"),
    ("actor/intervention_rate", "episode/intervention_rate", "intervention rate"),
)
OFFLINE_CURVES = (
    ("loss/bc", "behaviour-cloning loss"),
    ("loss/critic", "critic loss"),
    ("loss/actor", "actor loss"),
)
"""What a run without episodes plots on learning_curves.png, those of them it has."""
TRAINING_CURVES = (
    ("loss/critic", "critic loss"),
    ("loss/actor", "actor loss"),
    ("loss/bc", "behaviour-cloning loss"),
    ("q/mean", "mean Q"),
    ("temperature", "temperature"),
    ("entropy", "policy entropy"),
    ("perf/updates_per_s", "updates/s"),
)
WALL_TIME, UPDATES, ENV_STEPS = 0, 1, 2
"""Indices of a row's x axes."""


@dataclass(frozen=True)
class EvalPoint:
    """The policy alone at one snapshot: its success rate and 95 % interval (the rate itself
    when the episode count was not recorded)."""

    row: Row
    low: float
    high: float


def evaluated_points(series: dict[str, Series]) -> list[EvalPoint]:
    """The evaluated snapshots in training order, each with the Wilson interval of its episodes."""
    episodes = {row[UPDATES]: int(row[3]) for row in series.get(EVAL_EPISODES_TAG, [])}
    points = []
    for row in sorted(series.get(EVAL_SUCCESS_TAG, []), key=lambda r: r[UPDATES]):
        count = episodes.get(row[UPDATES], 0)
        low, high = wilson_interval(round(row[3] * count), count) if count else (row[3], row[3])
        points.append(EvalPoint(row, low, high))
    return points


def _x(row: Row, x_index: int, start: float) -> float:
    return (row[0] - start) / 60.0 if x_index == WALL_TIME else float(row[x_index])


def draw_evaluated(axes: Axes, points: list[EvalPoint], x_index: int, start: float = 0.0) -> None:
    """The evaluated success rates as points joined by a line, each with its 95 % interval."""
    if not points:
        return
    rates = [p.row[3] for p in points]
    axes.errorbar(
        [_x(p.row, x_index, start) for p in points],
        rates,
        yerr=[
            [rate - p.low for rate, p in zip(rates, points, strict=True)],
            [p.high - rate for rate, p in zip(rates, points, strict=True)],
        ],
        fmt="o-",
        capsize=3,
        color="tab:orange",
        label="policy alone (eval, 95 % interval)",
    )
    axes.legend(loc="upper left", fontsize="small")


def _draw(
    axes: Axes, averaged: Series, episodes: Series, x_index: int, start: float, evaluated: list[EvalPoint]
) -> None:
    if episodes:
        axes.scatter(
            [_x(r, x_index, start) for r in episodes], [r[3] for r in episodes], s=6, alpha=0.3, color="tab:gray"
        )
    if averaged:
        axes.plot(
            [_x(r, x_index, start) for r in averaged],
            [r[3] for r in averaged],
            color="tab:blue",
            label="with the operator",
        )
    draw_evaluated(axes, evaluated, x_index, start)
    axes.set_ylim(-0.05, 1.05)
    axes.grid(alpha=0.3)


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)
    return path


def has_episodes(series: dict[str, Series]) -> bool:
    return any(tag in series for curve in ACTOR_CURVES for tag in curve[:2])


def learning_figure(name: str, series: dict[str, Series]) -> Figure:
    """learning_curves.png: the episodes' curves, or for a run without episodes its losses."""
    if not has_episodes(series):
        return _offline_figure(name, series)
    start = min((row[0] for values in series.values() for row in values), default=0.0)
    figure = Figure(figsize=(11, 7), layout="constrained")
    grid = figure.subplots(2, 2, squeeze=False)
    evaluated = evaluated_points(series)
    for row_index, (averaged_tag, episode_tag, label) in enumerate(ACTOR_CURVES):
        for column, (x_index, x_label) in enumerate(((ENV_STEPS, "environment steps"), (WALL_TIME, "wall time (min)"))):
            axes = grid[row_index][column]
            shown = evaluated if row_index == 0 else []
            _draw(axes, series.get(averaged_tag, []), series.get(episode_tag, []), x_index, start, shown)
            axes.set_xlabel(x_label)
            axes.set_ylabel(label)
    figure.suptitle(f"{name}: {len(series.get('episode/success', []))} episodes")
    return figure


def _offline_figure(name: str, series: dict[str, Series]) -> Figure:
    """The losses against updates and the evaluated snapshots, if any: what a run of `rlif train`
    without episodes (behaviour cloning from demonstrations, say) has to show."""
    curves = [(tag, label) for tag, label in OFFLINE_CURVES if tag in series]
    evaluated = evaluated_points(series)
    panels = len(curves) + bool(evaluated)
    figure = Figure(figsize=(5.5 * max(1, panels), 4), layout="constrained")
    grid = figure.subplots(1, max(1, panels), squeeze=False)[0]
    for axes, (tag, label) in zip(grid, curves, strict=False):
        axes.plot([r[UPDATES] for r in series[tag]], [r[3] for r in series[tag]])
        axes.set_ylabel(label)
    if evaluated:
        draw_evaluated(grid[-1], evaluated, UPDATES)
        grid[-1].set_ylim(-0.05, 1.05)
        grid[-1].set_ylabel("success rate")
    if not panels:
        grid[0].text(
            0.5, 0.5, "no losses or evaluations logged yet", ha="center", va="center", transform=grid[0].transAxes
        )
    for axes in grid:
        axes.set_xlabel("updates")
        axes.grid(alpha=0.3)
    updates = max((row[UPDATES] for values in series.values() for row in values), default=0)
    figure.suptitle(f"{name}: no episodes, {updates} updates")
    return figure


def training_figure(series: dict[str, Series]) -> Figure | None:
    """training.png, when there are training scalars."""
    present = [(tag, label) for tag, label in TRAINING_CURVES if tag in series]
    if not present:
        return None
    figure = Figure(figsize=(11, 2.6 * ((len(present) + 1) // 2)), layout="constrained")
    grid = figure.subplots((len(present) + 1) // 2, 2, squeeze=False)
    for index, (tag, label) in enumerate(present):
        axes = grid[index // 2][index % 2]
        axes.plot([r[UPDATES] for r in series[tag]], [r[3] for r in series[tag]])
        axes.set_xlabel("updates")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    if len(present) % 2:
        grid[-1][-1].set_visible(False)
    return figure


def plot_run(run_dir: Path) -> list[Path]:
    """Write learning_curves.png (and training.png when there are training scalars) into run_dir."""
    series = read_metrics(run_dir)
    written = [_save(learning_figure(run_dir.name, series), run_dir / "learning_curves.png")]
    training = training_figure(series)
    if training is not None:
        written.append(_save(training, run_dir / "training.png"))
    return written
