"""`rlif sim`'s wiring: what it asks of the processes it starts."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from learner.metrics import read_metrics
from learner.snapshots import list_snapshots, pick_evenly, snapshot_path
from rlif.children import server_child
from rlif.config_files import parse_with_config_file
from rlif.processes import wait_until
from rlif.sim_config import DEMOS_FOLDER, SimRunConfig
from rlif.sim_settings import Ports, learner_settings, server_settings
from robot_server.backends.mujoco_sim.config import SimConfig
from robot_server.config import ServerConfig


@pytest.mark.parametrize("fraction", [0.4, 1.0])
def test_server_draws_cubes_from_the_scene_range_about_the_centres(fraction: float, tmp_path: Path) -> None:
    child = server_child(server_settings(SimRunConfig(scene_range=fraction), Ports(), image_size=64), tmp_path)
    args = child.command[child.command.index("server") + 1 :]
    assert args == ["--config", str(tmp_path / "server.yaml")]
    server = parse_with_config_file(ServerConfig, args, "rlif server", "")
    assert isinstance(server.arm, SimConfig) and server.arm.scene_range == fraction
    full = SimConfig()
    for (low, high), (full_low, full_high) in zip(server.arm.cube_ranges(), full.cube_ranges(), strict=True):
        assert high - low == pytest.approx(fraction * (full_high - full_low))
        assert (low + high) / 2 == pytest.approx((full_low + full_high) / 2)
    assert server.mode == "lockstep" and server.cameras.image_height == server.cameras.image_width == 64


def test_the_learner_takes_the_recorded_demonstrations_as_prior_data(tmp_path: Path) -> None:
    with_demos = learner_settings(SimRunConfig(run_dir=tmp_path, demos=5), Ports(), image_size=64)
    assert with_demos.prior_episodes == tmp_path / DEMOS_FOLDER
    assert learner_settings(SimRunConfig(run_dir=tmp_path, demos=0), Ports(), image_size=64).prior_episodes is None


def test_snapshots_are_listed_in_training_order_and_picked_evenly(tmp_path: Path) -> None:
    for steps, updates in [(0, 0), (900, 700), (300, 100), (600, 400), (1200, 1000)]:
        snapshot_path(tmp_path, steps, updates).write_bytes(b"")
    (tmp_path / "policies" / "policy_steps1_updates2.npz.partial").write_bytes(b"")
    snapshots = list_snapshots(tmp_path)
    assert [s.updates for s in snapshots] == [0, 100, 400, 700, 1000]
    assert [s.env_steps for s in pick_evenly(snapshots, 3)] == [0, 600, 1200]
    assert [s.env_steps for s in pick_evenly(snapshots, 2)] == [0, 1200]
    assert [s.env_steps for s in pick_evenly(snapshots, 1)] == [1200]
    assert pick_evenly(snapshots, 9) == snapshots and pick_evenly([], 3) == [] and pick_evenly(snapshots, 0) == []


TINY_RUN = [
    "--demos", "2", "--episode-steps", "10", "--eval-episodes", "2", "--seed", "3",
    "--learner.image-size", "24", "24", "--learner.encoder-channels", "8", "--learner.latent-dim", "16",
    "--learner.hidden-dims", "64", "64", "--learner.critic-ensemble", "4", "--learner.batch-size", "32",
    "--learner.min-transitions", "40", "--learner.log-every", "10", "--learner.threads", "1",
]  # fmt: skip


def processes_naming(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
    return found


@pytest.mark.slow
def test_rlif_sim_learns_until_ctrl_c_then_stops_everything_plots_and_evaluates(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "rlif", "sim", "--minutes", "0", "--run-dir", str(run_dir), *TINY_RUN]
    sim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    stdout = sim.stdout
    assert stdout is not None  # stdout=PIPE
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    progress = re.compile(r"episode +(\d+) .* weights v(\d+)")

    def learned_a_while() -> bool:
        matches = [progress.search(line) for line in list(lines)]
        return any(m is not None and int(m[1]) >= 4 and int(m[2]) >= 1 for m in matches)

    try:
        assert wait_until(learned_a_while, timeout=300, interval=0.5), "".join(lines)
        sim.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
        assert sim.wait(240) == 0, "".join(lines)
    finally:
        if sim.poll() is None:
            sim.kill()
    reader.join(5)
    output = "".join(lines)
    assert processes_naming(str(run_dir)) == [], output  # no orphans
    assert "stopping: actor, operator, learner" in output and "Traceback" not in output
    assert (run_dir / "learning_curves.png").stat().st_size > 0
    assert list((run_dir / "checkpoints").iterdir()) and (run_dir / "tensorboard").exists()
    # The policy alone, at its first snapshot (untrained) and its last, on the success plot.
    evaluated = read_metrics(run_dir)["eval/success_rate"]
    assert len(evaluated) == 2 and evaluated[0][1] == 0 and evaluated[1][1] > 0, output
    assert output.count("policy after") == 2 and "successes" in (run_dir / "eval.txt").read_text()
    learner_log = (run_dir / "logs" / "learner.log").read_text()
    assert "Traceback" not in learner_log and "loaded 2 prior episodes" in learner_log
