"""The end of `rlif sim`: the policy alone, at a few snapshots along the run.

Each chosen snapshot (see `learner.snapshots`) runs `rlif eval` for `eval_episodes` episodes,
deterministic and without the operator, on a fresh lockstep server with the run's scenes. The
success rates go into the run's metrics.csv (and TensorBoard) as `eval/success_rate` at the
snapshot's environment steps, so the success plot shows what the policy does by itself;
snapshots already evaluated in an earlier session of the same run are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from learner.metrics import read_metrics
from learner.snapshots import Snapshot, list_snapshots, pick_evenly
from rlif.children import configured_child, server_child
from rlif.processes import ProcessGroup
from rlif.sim_config import SimRunConfig
from rlif.sim_settings import Ports, eval_settings, server_settings

EVAL_TAG = "eval/success_rate"


def evaluate_snapshots(config: SimRunConfig, log_dir: Path) -> int:
    """Evaluates the snapshots not yet evaluated; returns how many were."""
    done = {row[1] for row in read_metrics(config.run_dir).get(EVAL_TAG, [])}
    chosen = [s for s in pick_evenly(list_snapshots(config.run_dir), config.eval_points) if s.updates not in done]
    if not chosen:
        return 0
    print(
        f"evaluating the policy alone at {len(chosen)} points of the run, {config.eval_episodes} episodes each "
        "(deterministic, no operator; Ctrl-C skips) ...",
        flush=True,
    )
    ports = Ports()
    settings_dir = config.run_dir / "settings"
    image_size = config.learner.image_size[0]
    results: list[tuple[Snapshot, int, int]] = []
    try:
        with ProcessGroup() as group:
            group.start(server_child(server_settings(config, ports, image_size), settings_dir, log_dir, "eval_server"))
            for snapshot in chosen:
                outcome = _evaluate(config, snapshot, ports, settings_dir, log_dir)
                if outcome is None:
                    break
                results.append((snapshot, *outcome))
                successes, episodes = outcome
                print(
                    f"  policy after {snapshot.env_steps:6d} steps ({snapshot.updates} updates): "
                    f"{successes}/{episodes} successes ({100 * successes / episodes:.0f} %)",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("evaluation skipped", flush=True)
    _record(config.run_dir, results)
    return len(results)


def _evaluate(
    config: SimRunConfig, snapshot: Snapshot, ports: Ports, settings_dir: Path, log_dir: Path
) -> tuple[int, int] | None:
    report_path = log_dir / "eval_report.json"
    report_path.unlink(missing_ok=True)
    settings = eval_settings(config, ports, snapshot.path, report_path)
    with configured_child("eval", "eval", settings, settings_dir, log_dir) as evaluation:
        code = evaluation.wait(60 + 20 * config.eval_episodes)
    if code != 0 or not report_path.exists():
        print(f"the evaluation of {snapshot.path} failed (exit {code}); see {evaluation.log_path}", flush=True)
        return None
    report = json.loads(report_path.read_text())
    return int(report["successes"]), int(report["episodes"])


def _record(run_dir: Path, results: list[tuple[Snapshot, int, int]]) -> None:
    if not results:
        return
    from learner.metrics import MetricsLogger

    metrics = MetricsLogger(run_dir)
    try:
        for snapshot, successes, episodes in results:
            metrics.log(
                {EVAL_TAG: successes / episodes},
                step=snapshot.updates,
                env_steps=snapshot.env_steps,
                wall_time=snapshot.wall_time,
            )
    finally:
        metrics.close()
    with (run_dir / "eval.txt").open("a") as file:
        for snapshot, successes, episodes in results:
            file.write(f"{snapshot.path.name}: {successes}/{episodes} successes, policy alone\n")
