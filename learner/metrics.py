"""Training and actor metrics: TensorBoard scalars and the same values in `metrics.csv`.

CSV columns: wall_time (Unix s), step (updates), env_steps, tag, value. TensorBoard puts
training tags (`loss/*`, `q/*`, `batch/*`, `temperature`, `entropy`, `perf/*`, `buffer/*`) on
the update step axis and actor tags (`episode/*` per episode, `actor/*` averaged over the last
episodes, `eval/*` of the policy alone) on the environment-step axis.
"""

from __future__ import annotations

import csv
import math
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from learner.episodes import EpisodeSummary

CSV_NAME = "metrics.csv"
CSV_COLUMNS = ("wall_time", "step", "env_steps", "tag", "value")
ACTOR_PREFIXES = ("episode/", "actor/", "eval/")
EVAL_SUCCESS_TAG = "eval/success_rate"
"""The policy alone (deterministic, no operator) at a snapshot: its success rate, logged at the
snapshot's updates and environment steps."""
EVAL_EPISODES_TAG = "eval/episodes"
"""The episodes behind each `EVAL_SUCCESS_TAG` value, logged with it (for its confidence interval)."""


def wilson_interval(successes: int, episodes: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95 % for z = 1.96): sound at 0/n and n/n,
    where the normal approximation collapses to a point."""
    if episodes <= 0:
        return 0.0, 1.0
    rate, z2 = successes / episodes, z * z
    centre = (rate + z2 / (2 * episodes)) / (1 + z2 / episodes)
    half = z * math.sqrt(rate * (1 - rate) / episodes + z2 / (4 * episodes * episodes)) / (1 + z2 / episodes)
    return max(0.0, centre - half), min(1.0, centre + half)


class EpisodeWindow:
    """Success rate, intervention rate and takeovers averaged over the last `size` episodes."""

    def __init__(self, size: int) -> None:
        self.episodes: deque[EpisodeSummary] = deque(maxlen=size)

    def add(self, summary: EpisodeSummary) -> dict[str, float]:
        """Scalars of one finished episode and the averages that now include it."""
        self.episodes.append(summary)
        scalars = {
            "episode/return": summary.reward,
            "episode/length": float(summary.length),
            "episode/success": float(summary.success),
            "episode/intervention_rate": summary.intervention_rate,
            "episode/takeovers": float(summary.takeovers),
        }
        scalars.update({f"actor/{name}": value for name, value in self.values().items()})
        return scalars

    def values(self) -> dict[str, float]:
        """The averages over the episodes in the window (empty before the first episode)."""
        count = len(self.episodes)
        if not count:
            return {}
        return {
            "success_rate": sum(e.success for e in self.episodes) / count,
            "intervention_rate": sum(e.intervention_rate for e in self.episodes) / count,
            "takeovers_per_episode": sum(e.takeovers for e in self.episodes) / count,
        }

    def state(self) -> list[dict[str, Any]]:
        return [vars(summary).copy() for summary in self.episodes]

    def load_state(self, episodes: list[dict[str, Any]]) -> None:
        self.episodes.clear()
        self.episodes.extend(EpisodeSummary(**episode) for episode in episodes)


class MetricsLogger:
    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only where metrics are written

        run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = run_dir / CSV_NAME
        new_file = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        self._csv_file = self.csv_path.open("a", newline="")
        self._csv = csv.writer(self._csv_file)
        if new_file:
            self._csv.writerow(CSV_COLUMNS)
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, values: Mapping[str, float], *, step: int, env_steps: int, wall_time: float | None = None) -> None:
        now = time.time() if wall_time is None else wall_time
        for tag, value in values.items():
            axis = env_steps if tag.startswith(ACTOR_PREFIXES) else step
            self.writer.add_scalar(tag, value, global_step=axis, walltime=now)
            self._csv.writerow((f"{now:.3f}", step, env_steps, tag, repr(float(value))))
        self._csv_file.flush()

    def flush(self) -> None:
        self.writer.flush()
        self._csv_file.flush()

    def close(self) -> None:
        self.writer.close()
        self._csv_file.close()


def read_metrics(run_dir: Path) -> dict[str, list[tuple[float, int, int, float]]]:
    """metrics.csv as {tag: [(wall_time, step, env_steps, value), ...]} in file order."""
    path = run_dir / CSV_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a learner run folder?")
    series: dict[str, list[tuple[float, int, int, float]]] = {}
    with path.open(newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None or tuple(header) != CSV_COLUMNS:
            raise ValueError(f"{path} does not start with the columns {','.join(CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            try:
                wall_time, step, env_steps, tag, value = row
                series.setdefault(tag, []).append((float(wall_time), int(step), int(env_steps), float(value)))
            except ValueError:
                raise ValueError(f"{path}:{line}: malformed row {row!r}") from None
    return series
