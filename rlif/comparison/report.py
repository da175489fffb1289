"""The sweep's report: a table in the layout of the paper's Table 1 (rows: expert level; columns:
methods; the policy alone at the end, mean and standard deviation over seeds), learning curves
(success of the policy alone and the operator's intervention rate against environment steps),
and how it was made (the command, the machine, the wall time), as Markdown, PNG and JSON."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rlif.comparison.run import result_path
from rlif.comparison.settings import METHODS, RunSpec, SweepConfig

Results = dict[tuple[str, str], list[dict[str, Any]]]
INTERVENTION_BINS = 10


def load_results(config: SweepConfig) -> Results:
    """The finished runs, by (level, method), in seed order."""
    results: Results = {}
    for level in config.levels:
        for method in config.methods:
            folder = result_path(config, RunSpec(level, method, 0)).parent
            runs = [json.loads(path.read_text()) for path in sorted(folder.glob("seed*.json"))]
            if runs:
                results[(level, method)] = sorted(runs, key=lambda run: run["seed"])
    return results


def _percent(values: list[float]) -> str:
    if not values:
        return "-"
    spread = f" ± {100 * np.std(values):.0f}" if len(values) > 1 else ""
    return f"{100 * np.mean(values):.0f}{spread}"


def table(config: SweepConfig, experts: dict[str, list[float]], results: Results) -> str:
    methods = list(config.methods)
    header = "| expert level | expert alone | " + " | ".join(METHODS[m].label for m in methods) + " |"
    lines = [header, "|" + "---|" * (len(methods) + 2)]
    for level in config.levels:
        cells = [_percent([run["final_success"] for run in results.get((level, m), [])]) for m in methods]
        lines.append(f"| {level} | {_percent(experts.get(level, []))} | " + " | ".join(cells) + " |")
    seeds = {len(runs) for runs in results.values()}
    lines.append("")
    lines.append(
        f"Success rate (%) of the policy alone (deterministic, no operator) after {config.env_steps} environment "
        f"steps, on {config.eval_episodes} held-out scenes; mean ± standard deviation over "
        f"{'/'.join(str(s) for s in sorted(seeds)) or 0} seeds. Expert alone: the level's scripted expert on the same "
        f"scenes, {config.expert_episodes} episodes per seed."
    )
    return "\n".join(lines)


def intervention_table(config: SweepConfig, results: Results) -> str:
    methods = [m for m in config.methods if METHODS[m].interactive]
    lines = [
        "| expert level | " + " | ".join(METHODS[m].label for m in methods) + " |",
        "|" + "---|" * (len(methods) + 1),
    ]
    for level in config.levels:
        cells = []
        for method in methods:
            rates = [_late_rate(run, "intervened") for run in results.get((level, method), [])]
            cells.append(_percent(rates))
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Share of steps (%) under the operator over the last fifth of each run's training steps.")
    return "\n".join(lines)


def _late_rate(run: dict[str, Any], key: str) -> float:
    late = [e for e in run["episodes"] if e["env_steps"] > 0.8 * run["env_steps"]]
    steps = sum(e["steps"] for e in late)
    return sum(e[key] * e["steps"] for e in late) / max(steps, 1)


def _binned(run: dict[str, Any], budget: int) -> np.ndarray:
    """The intervention rate in each tenth of the step budget."""
    edges = np.linspace(0, budget, INTERVENTION_BINS + 1)
    rates = np.full(INTERVENTION_BINS, np.nan)
    for index in range(INTERVENTION_BINS):
        inside = [e for e in run["episodes"] if edges[index] < e["env_steps"] <= edges[index + 1]]
        steps = sum(e["steps"] for e in inside)
        if steps:
            rates[index] = sum(e["intervened"] * e["steps"] for e in inside) / steps
    return rates


def plot(config: SweepConfig, experts: dict[str, list[float]], results: Results, path: Path) -> Path:
    levels = list(config.levels)
    figure = Figure(figsize=(12, 3.6 * len(levels)), layout="constrained")
    axes = figure.subplots(len(levels), 2, squeeze=False)
    colours = {method: f"C{index}" for index, method in enumerate(METHODS)}
    for row, level in enumerate(levels):
        success_axes, intervention_axes = axes[row]
        for method in config.methods:
            runs = results.get((level, method), [])
            if not runs:
                continue
            steps = np.array(
                [
                    point["env_steps"] if METHODS[method].interactive else point["updates"] / config.updates_per_step
                    for point in runs[0]["curve"]
                ]
            )
            values = np.array(
                [[point["success"] for point in run["curve"]] for run in runs if len(run["curve"]) == len(steps)]
            )
            mean, std = values.mean(axis=0), values.std(axis=0)
            success_axes.plot(
                steps, mean, "o-", color=colours[method], label=f"{METHODS[method].label} ({len(values)})"
            )
            success_axes.fill_between(steps, mean - std, mean + std, color=colours[method], alpha=0.15)
            if METHODS[method].interactive:
                rates = np.array([_binned(run, config.env_steps) for run in runs])
                centres = (np.arange(INTERVENTION_BINS) + 0.5) * config.env_steps / INTERVENTION_BINS
                intervention_axes.plot(
                    centres, np.nanmean(rates, axis=0), "o-", color=colours[method], label=METHODS[method].label
                )
        if experts.get(level):
            success_axes.axhline(float(np.mean(experts[level])), color="black", linestyle="--", label="expert alone")
        success_axes.set_title(f"{level} expert: policy alone ({config.eval_episodes} held-out scenes)")
        intervention_axes.set_title(f"{level} expert: share of steps under the operator")
        for axes_ in (success_axes, intervention_axes):
            axes_.set_ylim(-0.05, 1.05)
            axes_.set_xlabel("environment steps (BC: updates / updates per step)")
            axes_.grid(alpha=0.3)
        success_axes.legend(fontsize="x-small", loc="upper left")
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=90)
    return path


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores visible, no GPU; Python {platform.python_version()}"


def wall_time(config: SweepConfig, results: Results) -> str:
    path = config.folder / "sittings.json"
    sittings = json.loads(path.read_text()) if path.exists() else []
    elapsed = sum(sitting["seconds"] for sitting in sittings)
    runs = sum(run["wall_s"] for runs in results.values() for run in runs)
    return (
        f"{elapsed / 60:.1f} min of sweep wall time in {len(sittings)} sitting(s); the runs themselves "
        f"{runs / 60:.1f} min of process time ({config.workers} at a time)"
    )


def write_report(config: SweepConfig, experts: dict[str, list[float]], command: str) -> list[Path]:
    results = load_results(config)
    folder = config.report if config.report is not None else config.folder
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"rlif_vs_dagger_{config.name}"
    figure = plot(config, experts, results, folder / f"{stem}.png")
    text = "\n\n".join(
        [
            f"# RLIF vs DAgger, {config.setting}-based: the generated table",
            table(config, experts, results),
            intervention_table(config, results),
            f"![learning curves]({figure.name})",
            f"Command: `{command}`",
            f"Machine: {machine()}. Wall time: {wall_time(config, results)}.",
            f"Per run: {config.demos} demonstrations of the level's expert, {config.env_steps} environment steps "
            f"of {config.episode_steps}-step episodes, {config.updates_per_step:g} learner update per step.",
        ]
    )
    markdown = folder / f"{stem}.md"
    markdown.write_text(text + "\n")
    summary = folder / f"{stem}.json"
    summary.write_text(
        json.dumps(
            {
                "config": {k: str(v) for k, v in vars(config).items()},
                "experts": experts,
                "final_success": {
                    f"{level}/{method}": [run["final_success"] for run in runs]
                    for (level, method), runs in results.items()
                },
            },
            indent=1,
        )
        + "\n"
    )
    return [markdown, figure, summary]
