"""`rlif sim` (and `make sim`): the main job against the simulation. Starts the simulated robot
server, the learner, a simulated operator and the actor as separate processes, shows progress
in the terminal, and at the end (time up, or Ctrl-C) stops them in reverse order and plots
success rate and intervention rate against environment steps and wall time.

Everything of a run lives in `run_dir`: the processes' settings (YAML) and logs, TensorBoard
logs, metrics.csv, checkpoints and the PNG curves. Running again with the same `run_dir`
resumes from its newest checkpoint (`--fresh` starts over).
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rlif.children import configured_child, server_child
from rlif.processes import ChildProcess, ProcessGroup
from rlif.sim_config import SimRunConfig
from rlif.sim_eval import evaluate_snapshots
from rlif.sim_progress import Progress
from rlif.sim_settings import (
    Ports,
    actor_settings,
    learner_settings,
    operator_settings,
    record_settings,
    server_settings,
)
from wire.lifecycle import stop_on_signals, wait_until

RECORD_TIMEOUT = 600.0
"""Seconds the scripted demonstrations may take before the run gives up."""
LEARNER_GRACE = 60.0
"""Seconds the learner gets to write its checkpoint after SIGINT."""


@dataclass
class _Children:
    """The run's processes, their settings written (and checked) before any of them starts."""

    server: ChildProcess
    learner: ChildProcess
    operator: ChildProcess
    actor: ChildProcess
    recorder: ChildProcess | None


def _children(config: SimRunConfig, ports: Ports, settings_dir: Path, log_dir: Path) -> _Children:
    image_size = config.learner.image_size[0]
    record = config.demos and not (config.run_dir / "checkpoints").exists()
    return _Children(
        server=server_child(server_settings(config, ports, image_size), settings_dir, log_dir),
        learner=configured_child(
            "learner",
            "learner",
            learner_settings(config, ports, image_size),
            settings_dir,
            log_dir,
            grace=LEARNER_GRACE,
        ),
        operator=configured_child("operator", "operator", operator_settings(config, ports), settings_dir, log_dir),
        actor=configured_child("actor", "actor", actor_settings(config, ports), settings_dir, log_dir),
        recorder=configured_child("record", "record", record_settings(config, ports), settings_dir, log_dir)
        if record
        else None,
    )


def run_sim(config: SimRunConfig) -> int:
    if config.fresh and config.run_dir.exists():
        shutil.rmtree(config.run_dir)
    settings_dir, log_dir = config.run_dir / "settings", config.run_dir / "logs"
    ports = Ports()
    children = _children(config, ports, settings_dir, log_dir)
    stop = threading.Event()
    progress = Progress(ports)
    failed: list[ChildProcess] = []
    group = ProcessGroup()
    print(f"rlif sim: run folder {config.run_dir} (logs in {log_dir}); Ctrl-C stops and plots", flush=True)
    with stop_on_signals(stop.set):  # a second Ctrl-C must not cut the clean stop short
        try:
            failed = _run(config, children, group, progress, stop)
        finally:
            progress.poll()
            print(progress.line(), flush=True)
            print("stopping: actor, operator, learner (it writes a checkpoint), server ...", flush=True)
            codes = group.stop()
            progress.close()
    for child in failed:
        print(f"\n{child.name} exited early with code {child.returncode()}; the end of {child.log_path}:")
        print(_tail(child.log_path))
    unclean = {name: code for name, code in codes.items() if code not in (0, -signal.SIGINT, None)}
    if unclean:
        print(f"processes that did not stop cleanly: {unclean}")
    _plot(config.run_dir)
    evaluate = config.eval_episodes > 0 and config.eval_points > 0 and not failed
    if evaluate and evaluate_snapshots(config, log_dir):
        _plot(config.run_dir, quiet=True)
    print(f"TensorBoard: tensorboard --logdir {config.run_dir}")
    return 1 if failed else 0


def _run(
    config: SimRunConfig, children: _Children, group: ProcessGroup, progress: Progress, stop: threading.Event
) -> list[ChildProcess]:
    """Starts the processes in order and watches them until time is up or `stop`; the children
    that exited by themselves."""
    group.start(children.server)
    if children.recorder is not None and not stop.is_set():
        _record_demos(config, children.recorder, stop)
    for child in (children.learner, children.operator, children.actor):
        if stop.is_set():
            return []
        group.start(child)
    deadline = time.monotonic() + config.minutes * 60 if config.minutes > 0 else float("inf")
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.2)
        progress.poll()
        progress.maybe_print(every=5.0)
        failed = group.dead()
        if failed:
            return failed
    return []


def _record_demos(config: SimRunConfig, recorder: ChildProcess, stop: threading.Event) -> None:
    """Scripted demonstrations into run_dir/demos, which the learner loads as prior data."""
    print(f"recording {config.demos} demonstrations of the scripted expert ...", flush=True)
    with recorder:
        wait_until(lambda: stop.is_set() or not recorder.alive(), RECORD_TIMEOUT, interval=0.2)
        if not stop.is_set() and recorder.returncode() != 0:
            raise RuntimeError(f"recording demonstrations failed; see {recorder.log_path}")


def _plot(run_dir: Path, quiet: bool = False) -> None:
    try:
        from learner.plot import plot_run

        for path in plot_run(run_dir):
            if not quiet:
                print(f"plot: {path}")
    except (FileNotFoundError, ValueError) as exc:
        print(f"no plots: {exc}")


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
