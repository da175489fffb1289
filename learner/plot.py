"""Learning curves of a run folder as PNG, from its metrics.csv (matplotlib, no display needed).

`learning_curves.png`: success rate and intervention rate (averaged over the last episodes,
per-episode values as dots) against environment steps and against wall time; on the success
plots, the policy alone at its evaluated snapshots (`eval/success_rate`), where there are any.
`training.png`: the learner's losses, Q values, temperature and speed against updates.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from learner.metrics import read_metrics

Series = list[tuple[float, int, int, float]]
EVAL_TAG = "eval/success_rate"
ACTOR_CURVES = (
    ("actor/success_rate", "episode/success", "success rate"),
    ("actor/intervention_rate", "episode/intervention_rate", "intervention rate"),
)
TRAINING_CURVES = (
    ("loss/critic", "critic loss"),
    ("loss/actor", "actor loss"),
    ("loss/bc", "behaviour-cloning loss"),
    ("q/mean", "mean Q"),
    ("temperature", "temperature"),
    ("entropy", "policy entropy"),
    ("perf/updates_per_s", "updates/s"),
)


def _draw(axes: Axes, averaged: Series, episodes: Series, x_index: int, start: float, evaluated: Series) -> None:
    def x_of(row: tuple[float, int, int, float]) -> float:
        return (row[0] - start) / 60.0 if x_index == 0 else float(row[x_index])

    if episodes:
        axes.scatter([x_of(r) for r in episodes], [r[3] for r in episodes], s=6, alpha=0.3, color="tab:gray")
    if averaged:
        axes.plot([x_of(r) for r in averaged], [r[3] for r in averaged], color="tab:blue", label="with the operator")
    else:
        axes.text(0.5, 0.5, "no episodes yet", ha="center", va="center", transform=axes.transAxes)
    if evaluated:
        ordered = sorted(evaluated, key=lambda r: r[1])
        axes.plot(
            [x_of(r) for r in ordered], [r[3] for r in ordered], "o-", color="tab:orange", label="policy alone (eval)"
        )
        axes.legend(loc="upper left", fontsize="small")
    axes.set_ylim(-0.05, 1.05)
    axes.grid(alpha=0.3)


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)
    return path


def plot_run(run_dir: Path) -> list[Path]:
    """Write learning_curves.png (and training.png when there are training scalars) into run_dir."""
    series = read_metrics(run_dir)
    rows = [row for values in series.values() for row in values]
    start = min((row[0] for row in rows), default=0.0)
    figure = Figure(figsize=(11, 7), layout="constrained")
    grid = figure.subplots(2, 2, squeeze=False)
    for row_index, (averaged_tag, episode_tag, label) in enumerate(ACTOR_CURVES):
        for column, (x_index, x_label) in enumerate(((2, "environment steps"), (0, "wall time (min)"))):
            axes = grid[row_index][column]
            evaluated = series.get(EVAL_TAG, []) if row_index == 0 else []
            _draw(axes, series.get(averaged_tag, []), series.get(episode_tag, []), x_index, start, evaluated)
            axes.set_xlabel(x_label)
            axes.set_ylabel(label)
    figure.suptitle(f"{run_dir.name}: {len(series.get('episode/success', []))} episodes")
    written = [_save(figure, run_dir / "learning_curves.png")]

    present = [(tag, label) for tag, label in TRAINING_CURVES if tag in series]
    if present:
        figure = Figure(figsize=(11, 2.6 * ((len(present) + 1) // 2)), layout="constrained")
        grid = figure.subplots((len(present) + 1) // 2, 2, squeeze=False)
        for index, (tag, label) in enumerate(present):
            axes = grid[index // 2][index % 2]
            axes.plot([r[1] for r in series[tag]], [r[3] for r in series[tag]])
            axes.set_xlabel("updates")
            axes.set_ylabel(label)
            axes.grid(alpha=0.3)
        if len(present) % 2:
            grid[-1][-1].set_visible(False)
        written.append(_save(figure, run_dir / "training.png"))
    return written
