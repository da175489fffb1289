"""The end of `rlif sim`: the policy alone, at a few snapshots along the run.

Each chosen snapshot (see `learner.snapshots`) runs `rlif eval` for `eval_episodes` episodes,
deterministic and without the operator, on a fresh lockstep server with the run's scenes. The
success rates go into the run's metrics.csv (and TensorBoard) as `eval/success_rate` at the
snapshot's environment steps, so the success plot shows what the policy does by itself;
snapshots already evaluated in an earlier session of the same run are skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from learner.metrics import read_metrics
from learner.snapshots import Snapshot, list_snapshots, pick_evenly
from rlif.processes import ChildProcess, ProcessGroup
from rlif.sim_demo import wait_for_server

if TYPE_CHECKING:
    from rlif.sim_run import Ports, SimRunConfig

EVAL_TAG = "eval/success_rate"


def evaluate_snapshots(
    config: SimRunConfig,
    server_command: Callable[[SimRunConfig, Ports, int], list[str]],
    image_size: int,
    log_dir: Path,
) -> int:
    """Evaluates the snapshots not yet evaluated; returns how many were."""
    from rlif.sim_run import Ports

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
    results: list[tuple[Snapshot, int, int]] = []
    try:
        with ProcessGroup() as group:
            server = group.start(
                ChildProcess("server", server_command(config, ports, image_size), log_dir / "eval_server.log")
            )
            wait_for_server(ports.address(ports.server), server.process)  # type: ignore[arg-type]
            for snapshot in chosen:
                outcome = _evaluate(config, snapshot, ports, log_dir)
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


def _evaluate(config: SimRunConfig, snapshot: Snapshot, ports: Ports, log_dir: Path) -> tuple[int, int] | None:
    report_path = log_dir / "eval_report.json"
    report_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "rlif",
        "eval",
        "--policy",
        str(snapshot.path),
        "--episodes",
        str(config.eval_episodes),
        "--seed",
        str(config.seed + 20_000),  # the same scenes for every snapshot
        "--report",
        str(report_path),
        "--actor.env.server",
        ports.address(ports.server),
        "--actor.env.mode",
        "lockstep",
        "--actor.env.max-episode-steps",
        str(config.episode_steps),
        *([] if config.images else ["--actor.env.no-images"]),
        "--actor.intervention.commands",
        ports.address(ports.commands),
    ]
    log_path = log_dir / "eval.log"
    evaluation = ChildProcess("eval", command, log_path).start()
    assert evaluation.process is not None
    try:
        code = evaluation.process.wait(60 + 20 * config.eval_episodes)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        evaluation.stop()
    if code != 0 or not report_path.exists():
        print(f"the evaluation of {snapshot.path} failed (exit {code}); see {log_path}", flush=True)
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
