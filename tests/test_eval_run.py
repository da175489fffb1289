"""Evaluating a sim run as it ran: `rlif eval --run RUN_DIR` with the run's settings, the scene
range as a setting of the simulated arm, and one clear line when a policy does not fit a server."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from actor.config import EvalConfig
from learner.config import LearnerConfig
from learner.metrics import CSV_COLUMNS, EVAL_EPISODES_TAG, EVAL_SUCCESS_TAG, read_metrics
from learner.policy import ObservationMismatch, Policy, save_policy_file
from learner.snapshots import final_policy, snapshot_path
from rlif.cli import main as rlif_main
from rlif.config_files import load_config, parse_with_config_file, write_config
from rlif.sim_config import SIM_LEARNER, SimRunConfig
from rlif.sim_eval import RUN_SERVER, RunSettings, describe, evaluate_snapshots, run_eval_settings
from rlif.sim_settings import Ports, actor_settings, server_settings
from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.backends.mujoco_sim.world import MujocoWorld
from robot_server.config import ServerConfig
from tests.conftest import free_port

SMALL_POLICY = {"hidden_dims": (16, 16), "latent_dim": 8, "encoder_channels": 8}


def policy_file(path: Path, image_size: int) -> Path:
    config = LearnerConfig(cameras=("front", "wrist"), image_size=(image_size, image_size), **SMALL_POLICY)  # type: ignore[arg-type]
    return save_policy_file(path, Policy(config, seed=0).arrays(), config)


def test_the_scene_range_is_a_setting_of_the_simulated_arm() -> None:
    server = parse_with_config_file(ServerConfig, ["--arm.scene-range", "0.4"], "rlif server", "")
    assert isinstance(server.arm, SimConfig) and server.arm.scene_range == 0.4
    world = MujocoWorld(server.arm)
    rng = np.random.default_rng(0)
    poses = np.array([world.random_cube_pose(rng) for _ in range(300)])
    for axis, (low, high) in enumerate(server.arm.cube_ranges()):
        full_low, full_high = getattr(SimConfig(), ("cube_x", "cube_y", "cube_yaw")[axis])
        assert high - low == pytest.approx(0.4 * (full_high - full_low))
        assert low <= poses[:, axis].min() and poses[:, axis].max() <= high
        assert np.ptp(poses[:, axis]) > 0.9 * (high - low)
    with pytest.raises(ValueError, match="scene_range"):
        SimConfig(scene_range=1.5)


def fake_run(run: Path, image_size: int = 24, episode_steps: int = 5) -> None:
    """The settings `rlif sim` writes for its server and actor, and a policy."""
    config = SimRunConfig(run_dir=run, episode_steps=episode_steps)
    ports = Ports()
    write_config(run / "settings" / "server.yaml", server_settings(config, ports, image_size))
    write_config(run / "settings" / "actor.yaml", actor_settings(config, ports))
    policy_file(run / "policy.npz", image_size)


def rlif_eval(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        rlif_main(["eval", *args])
    return int(exited.value.code or 0)


def test_rlif_eval_run_evaluates_the_final_policy_with_the_runs_settings(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    fake_run(run)
    report = tmp_path / "report.json"
    assert rlif_eval("--run", str(run), "--episodes", "2", "--report", str(report)) == 0
    out = capsys.readouterr().out
    assert f"{run / 'policy.npz'} with the settings of {run}" in out
    assert "5-step episodes, cameras front, wrist at 24x24, the cube within the middle 40 % of its placement" in out
    assert "0/2 successes" in out and "mean episode length 5.0 steps" in out  # the run's 5 steps, not 100
    assert json.loads(report.read_text())["episodes"] == 2
    server = load_config(ServerConfig(), run / "settings" / f"{RUN_SERVER}.yaml")
    assert isinstance(server.arm, SimConfig) and server.arm.scene_range == 0.4 and server.mode == "lockstep"

    assert rlif_eval("--run", str(run), "--episodes", "1", "--scene-range", "1.0") == 0
    assert "the cube over its full placement ranges; 1 episodes" in capsys.readouterr().out
    server = load_config(ServerConfig(), run / "settings" / f"{RUN_SERVER}.yaml")
    assert isinstance(server.arm, SimConfig) and server.arm.scene_range == 1.0


def test_rlif_eval_run_refuses_a_folder_that_is_no_sim_run_in_one_line(tmp_path: Path, capsys) -> None:
    assert rlif_eval("--run", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"rlif eval: {tmp_path} is not a run folder of `rlif sim`" in err and "Traceback" not in err
    assert rlif_eval("--scene-range", "1.0") == 2  # not silently ignored without --run
    assert "--scene-range needs --run" in capsys.readouterr().err


def test_the_scene_range_of_an_evaluation_is_a_fraction_of_the_full_task(tmp_path: Path) -> None:
    """Also for a run whose server settings hold shrunk cube ranges (how runs were once written)."""
    old_run = RunSettings(
        dataclasses.replace(ServerConfig(), arm=SimConfig(cube_x=(0.468, 0.532), cube_y=(-0.048, 0.048))),
        actor_settings(SimRunConfig(), Ports()),
    )
    server, evaluation = run_eval_settings(EvalConfig(scene_range=1.0), old_run, Ports(), tmp_path / "p.npz")
    assert isinstance(server.arm, SimConfig) and server.arm.cube_ranges() == SimConfig().cube_ranges()
    assert "the cube over its full placement ranges" in describe(server, evaluation)
    server, evaluation = run_eval_settings(EvalConfig(), old_run, Ports(), tmp_path / "p.npz")
    assert "the cube at x 0.468-0.532 m, y -0.048-0.048 m" in describe(server, evaluation)


def test_the_final_policy_is_policy_npz_else_the_newest_snapshot(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no policy"):
        final_policy(tmp_path)
    for steps, updates in [(0, 0), (900, 700), (300, 100)]:
        snapshot_path(tmp_path, steps, updates).write_bytes(b"")
    assert final_policy(tmp_path) == snapshot_path(tmp_path, 900, 700)
    (tmp_path / "policy.npz").write_bytes(b"")
    assert final_policy(tmp_path) == tmp_path / "policy.npz"


def test_a_policy_that_does_not_fit_the_server_ends_eval_with_both_shapes(start_server, tmp_path, capsys) -> None:
    running = start_server(cameras=SimCamerasConfig(image_height=32, image_width=32))
    policy = policy_file(tmp_path / "policy.npz", image_size=24)
    commands = f"tcp://127.0.0.1:{free_port()}"
    code = rlif_eval(
        "--policy", str(policy), "--episodes", "1",
        "--actor.env.server", running.address, "--actor.intervention.commands", commands,
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert (
        "rlif eval: the policy expects state (13,), images front 24x24, wrist 24x24; "
        "the server gives state (13,), images front 32x32, wrist 32x32"
    ) in err


def test_a_policy_ignores_cameras_it_does_not_use_but_needs_its_own() -> None:
    policy = Policy(LearnerConfig(cameras=("front",), image_size=(24, 24), **SMALL_POLICY))  # type: ignore[arg-type]
    policy.check_observations((13,), {"front": (24, 24, 3), "wrist": (64, 64, 3)})
    with pytest.raises(ObservationMismatch, match=r"expects state \(13,\), images front 24x24; .* images none"):
        policy.check_observations((13,), {})
    with pytest.raises(ObservationMismatch, match=r"gives state \(7,\)"):
        policy.check_observations((7,), {"front": (24, 24, 3)})


def test_the_end_of_run_evaluation_records_each_rate_with_its_episodes(tmp_path: Path, capsys) -> None:
    learner = dataclasses.replace(SIM_LEARNER, image_size=(24, 24))
    config = SimRunConfig(run_dir=tmp_path, episode_steps=4, eval_episodes=3, eval_points=2, learner=learner)
    (tmp_path / "metrics.csv").write_text(",".join(CSV_COLUMNS) + "\n")
    for steps, updates in [(0, 0), (50, 40), (100, 90)]:
        policy_file(snapshot_path(tmp_path, steps, updates), image_size=24)
    assert evaluate_snapshots(config, tmp_path / "logs") == 2
    out = capsys.readouterr().out
    assert "2 points of the run, 3 episodes each" in out and out.count("0/3 successes (0 %, 95 % interval 0-56 %)") == 2
    series = read_metrics(tmp_path)
    assert [row[1:] for row in series[EVAL_SUCCESS_TAG]] == [(0, 0, 0.0), (90, 100, 0.0)]
    assert [row[1:] for row in series[EVAL_EPISODES_TAG]] == [(0, 0, 3.0), (90, 100, 3.0)]
