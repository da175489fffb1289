"""The RLIF-vs-DAgger benchmark path end to end at CI size (one expert level, two methods, a few
hundred steps, tiny images): its outputs have the shape the report promises, and a second
invocation resumes, running only what is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from learner.agents.sac import SACAgent
from learner.config import LearnerConfig
from learner.replay import ReplayBuffer
from rlif.comparison.probe import critic_preferences
from rlif.comparison.scenes import demo_scene, eval_scenes, train_scene
from rlif.comparison.settings import METHODS, PROPRIO_DIM, RunSpec, SweepConfig, all_runs, run_learner_config
from rlif.comparison.world import STATE_CENTRE, STATE_SPREAD, CubePoseState, cube_pose
from rlif.sim_config import SIM_LEARNER

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--setting", "image", "--image-size", "32", "--levels", "medium", "--methods", "rlif", "dagger",
    "--seeds", "1", "--env-steps", "150", "--eval-episodes", "2", "--eval-points", "2",
    "--expert-episodes", "2", "--demos", "2", "--episode-steps", "30", "--workers", "2",
    "--learner.batch-size", "16", "--learner.min-transitions", "16",
]  # fmt: skip


def sweep(out: Path) -> str:
    command = [
        sys.executable,
        "benchmarks/rlif_vs_dagger.py",
        "--out",
        str(out),
        "--report",
        str(out / "report"),
        *TINY,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_a_tiny_sweep_writes_table_curves_and_results_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    first = sweep(out)
    assert "0 runs done before, 2 to run" in first
    runs = out / "image" / "runs" / "medium"
    results = {method: json.loads((runs / method / "seed0.json").read_text()) for method in ("rlif", "dagger")}
    for method, result in results.items():
        assert result["env_steps"] >= 150 and result["updates"] > 0, method
        assert [point["env_steps"] for point in result["curve"]] == sorted(p["env_steps"] for p in result["curve"])
        assert len(result["curve"]) == 2 and all(0 <= p["success"] <= 1 for p in result["curve"])
        assert result["episodes"] and all(0 <= e["intervened"] <= 1 for e in result["episodes"])
        assert result["demos"] == 2 and result["learner"]["cameras"] == ["front", "wrist"]
    table = (out / "report" / "rlif_vs_dagger_image.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| medium |")]
    assert len(rows) == 2 and rows[0].count("|") == 5, table  # level, expert, two methods
    assert (out / "report" / "rlif_vs_dagger_image.png").stat().st_size > 10_000
    experts = json.loads((out / "image" / "experts.json").read_text())
    assert len(experts["medium"]) == 1

    (runs / "dagger" / "seed0.json").unlink()
    kept = (runs / "rlif" / "seed0.json").stat().st_mtime_ns
    second = sweep(out)
    assert "1 runs done before, 1 to run" in second
    assert (runs / "dagger" / "seed0.json").exists()
    assert (runs / "rlif" / "seed0.json").stat().st_mtime_ns == kept


def test_scenes_of_evaluation_demonstrations_and_training_never_meet() -> None:
    evaluation = set(eval_scenes(200))
    demos = {demo_scene(seed, index) for seed in range(5) for index in range(100)}
    training = {train_scene(seed, episode) for seed in range(5) for episode in range(5_000)}
    assert not evaluation & demos and not evaluation & training and not demos & training


def test_every_method_gets_the_same_learner_but_its_algorithm() -> None:
    config = SweepConfig()
    settings = [run_learner_config(config, RunSpec("poor", method, 1)).to_dict() for method in METHODS]
    varying = {key for key in settings[0] if len({json.dumps(s[key]) for s in settings}) > 1}
    assert varying == {"algorithm", "bc_weight", "conservative_weight"}
    assert settings[0]["state_dim"] == 18 and settings[0]["cameras"] == []
    assert {s["seed"] for s in settings} == {1}


def test_runs_are_interleaved_so_a_cut_sweep_has_every_method() -> None:
    runs = all_runs(SweepConfig(seeds=3))
    first = runs[: len(METHODS) * 3]
    assert {run.method for run in first} == set(METHODS) and {run.seed for run in first} == {0}
    assert len(runs) == len(set(runs)) == 3 * 3 * len(METHODS)
    assert np.all(np.diff([run.seed for run in runs]) >= 0)


def test_the_rlif_bc_weight_option_changes_only_its_column() -> None:
    config = SweepConfig(rlif_bc_weight=100.0)
    weights = {method: run_learner_config(config, RunSpec("good", method, 0)).bc_weight for method in METHODS}
    assert weights["rlif_bc"] == 100.0
    assert all(weight == 0.0 for method, weight in weights.items() if method != "rlif_bc")


def test_only_the_rlif_sim_column_has_the_conservative_critic() -> None:
    weights = {
        method: run_learner_config(SweepConfig(), RunSpec("good", method, 0)).conservative_weight for method in METHODS
    }
    assert weights["rlif_bc"] == SIM_LEARNER.conservative_weight > 0
    assert all(weight == 0.0 for method, weight in weights.items() if method != "rlif_bc")


class _PrefersOneAction(torch.nn.Module):
    """Q = -|a - 0.5| summed over dimensions, the same for every critic of an ensemble of 2."""

    def forward(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return -(action - 0.5).abs().sum(-1).expand(2, -1)


def test_the_probe_reports_which_actions_the_critics_prefer() -> None:
    config = LearnerConfig(cameras=(), state_dim=3, action_dim=2, critic_ensemble=2)
    agent = SACAgent(config)
    agent.critic = _PrefersOneAction()  # type: ignore[assignment]
    buffer = ReplayBuffer("demos", 16, (), (64, 64), 3, 2)
    rng = np.random.default_rng(0)
    states = rng.normal(size=(6, 3)).astype(np.float32)
    for step in range(5):  # one episode: 5 transitions, 6 observations
        buffer.add(
            "e", step, (states[step], {}), np.full(2, 0.5, np.float32), 0.0, False, (states[step + 1], {}), step == 4
        )
    figures = critic_preferences(agent, buffer, torch.Generator().manual_seed(0))
    with torch.no_grad():
        policy = agent.actor.deterministic(agent.encoder({}, torch.from_numpy(states[:5])))
    assert figures["states"] == 5
    assert figures["data_beats_noisy"] == 1.0 and figures["q_stored"] == 0.0
    assert figures["data_beats_policy"] == 1.0 and figures["q_policy"] < 0
    assert figures["policy_distance"] == pytest.approx((policy - 0.5).abs().mean(0).tolist(), abs=0.01)


@pytest.mark.slow
def test_the_critic_probe_trains_a_run_and_prints_one_json_line(tmp_path: Path) -> None:
    command = [
        sys.executable, "benchmarks/critic_probe.py", "--method", "rlif", "--level", "medium",
        "--sweep.out", str(tmp_path), "--sweep.env-steps", "120", "--sweep.eval-episodes", "2",
        "--sweep.expert-episodes", "2", "--sweep.demos", "2", "--sweep.episode-steps", "30",
        "--sweep.learner.batch-size", "16", "--sweep.learner.min-transitions", "16",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["run"] == "medium/rlif/seed0" and figures["env_steps"] >= 120
    assert figures["buffers"]["demos"]["states"] > 0
    for buffer in figures["buffers"].values():
        assert 0 <= buffer["data_beats_policy"] <= 1 and len(buffer["policy_distance"]) == 7


def test_the_cube_pose_is_in_the_world_or_relative_to_the_gripper() -> None:
    quarter_yaw = [np.cos(np.pi / 16), 0.0, 0.0, np.sin(np.pi / 16)]  # yaw pi/8: 4 yaw is pi/2
    robot = {"sim_cube_pos": [0.5, -0.1, 0.025], "sim_cube_quat": quarter_yaw, "tcp_pos": [0.45, 0.0, 0.3]}
    world, gripper = cube_pose(robot), cube_pose(robot, "gripper")
    np.testing.assert_allclose(world, [0.5, -0.1, 0.025, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(gripper, [0.05, -0.1, -0.275, 1.0, 0.0], atol=1e-6)


def test_a_gripper_frame_sweep_keeps_apart_and_needs_the_state_setting() -> None:
    assert SweepConfig(cube_frame="gripper").folder != SweepConfig().folder
    with pytest.raises(ValueError, match="state setting only"):
        SweepConfig(setting="image", cube_frame="gripper")


STUB_ROBOT = {"sim_cube_pos": [0.55, 0.05, 0.025], "sim_cube_quat": [1.0, 0.0, 0.0, 0.0], "tcp_pos": [0.5, 0.0, 0.2]}


class _RobotStub(gym.Env):
    """Proprio state 1, 2, ..., 13 and the robot map `CubePoseState` reads, on reset and step."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Dict({"state": gym.spaces.Box(0.0, 20.0, (PROPRIO_DIM,), np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return {"state": np.arange(1, PROPRIO_DIM + 1, dtype=np.float32)}, {"robot": STUB_ROBOT}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, info = self.reset()
        return obs, 0.0, False, False, info


def test_standardised_state_inputs_shift_and_scale_every_entry_and_keep_the_bounds_consistent() -> None:
    measured, standardised = CubePoseState(_RobotStub()), CubePoseState(_RobotStub(), standardise=True)
    raw = measured.reset()[0]["state"]
    np.testing.assert_allclose(raw[PROPRIO_DIM:], [0.55, 0.05, 0.025, 0.0, 1.0], atol=1e-6)
    for state in (standardised.reset()[0]["state"], standardised.step(np.zeros(7))[0]["state"]):
        assert state.dtype == np.float32
        np.testing.assert_allclose(state, (raw - STATE_CENTRE) / STATE_SPREAD, rtol=1e-6)
    np.testing.assert_allclose(state[PROPRIO_DIM : PROPRIO_DIM + 2], [1.0, 0.05 / 0.065], rtol=1e-5)
    for env, observed in ((measured, raw), (standardised, state)):
        space = env.observation_space
        assert isinstance(space, gym.spaces.Dict) and space["state"].contains(observed)


def test_standardised_inputs_keep_their_runs_apart_and_need_the_world_frame_state_setting() -> None:
    assert SweepConfig(state_inputs="standardised").folder.name == "state_standardised"
    with pytest.raises(ValueError, match="state-inputs"):
        SweepConfig(setting="image", state_inputs="standardised")
    with pytest.raises(ValueError, match="state-inputs"):
        SweepConfig(cube_frame="gripper", state_inputs="standardised")
