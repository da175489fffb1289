"""Simulated operators: expert presets, intervention models, the operator process, recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actor.env import EnvConfig, RobotEnv
from actor.intervention import InterventionConfig, InterventionWrapper
from actor.record import RecordConfig, record_demonstrations
from teleop.intervention_models import RANDOM_SCHEDULES, ExpertModel, RandomModel, ValueBasedModel
from teleop.scripted_expert import NOMINAL_SUCCESS, ScriptedExpert, measure_success
from teleop.scripted_pick import scripted_pick_action
from teleop.sim_operator import OperatorConfig
from teleop.task_value import PickValue
from tests.conftest import free_port
from tests.test_intervention import simulated_operator
from wire.records import SOURCES, EpisodeRecord


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["good", "medium", "poor"])
def test_expert_presets_reach_their_nominal_success_rates(lockstep_server, preset: str) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False, max_episode_steps=100))
    try:
        rate = measure_success(env, ScriptedExpert(preset, seed=11), episodes=60, seed=20_000)
    finally:
        env.close()
    assert abs(rate - NOMINAL_SUCCESS[preset]) <= 0.10, f"{preset}: {rate:.0%} vs nominal {NOMINAL_SUCCESS[preset]:.0%}"


@pytest.mark.parametrize("schedule", sorted(RANDOM_SCHEDULES))
def test_random_schedules_hit_their_rates(schedule: str) -> None:
    model = RandomModel(schedule, seed=5)
    policy, expert = np.zeros(7), np.zeros(7)
    flags = np.array([model.decide({}, policy, expert) for _ in range(200_000)])
    assert abs(flags.mean() - int(schedule) / 100) < 0.02
    takeovers = np.count_nonzero(flags & ~np.r_[False, flags[:-1]])
    nominal = RANDOM_SCHEDULES[schedule]
    assert abs(flags.sum() / takeovers - nominal.mean_length) < 0.05 * nominal.mean_length
    assert abs((~flags).sum() / takeovers - nominal.mean_gap) < 0.05 * nominal.mean_gap


def test_value_based_model_holds_control_for_k_steps() -> None:
    def q(state: dict, action: np.ndarray) -> float:
        return float(action[0])

    model = ValueBasedModel(beta=1.0, delta=0.5, k=4, q=q)
    expert, bad, good = np.r_[1.0, np.zeros(6)], np.r_[-1.0, np.zeros(6)], np.r_[1.0, np.zeros(6)]
    flags = [model.decide({}, bad, expert)] + [model.decide({}, good, expert) for _ in range(5)]
    assert flags == [True, True, True, True, False, False]
    assert not ValueBasedModel(beta=0.0, q=q).decide({}, bad, expert)
    assert ExpertModel().decide({}, good, expert)


def test_q_ref_prefers_the_experts_action(lockstep_server) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False, max_episode_steps=40))
    q = PickValue().q
    rng = np.random.default_rng(0)
    margins, grasp_checked, drop_checked = [], False, False
    try:
        _, info = env.reset(seed=4)
        done = False
        while not done:
            state = info["robot"]
            expert = scripted_pick_action(state)
            margins += [q(state, expert) - q(state, rng.uniform(-1, 1, 7)) for _ in range(5)]
            if expert[6] < 0 and not state["sim_grasped"]:
                keep_open = expert.copy()
                keep_open[6] = 1.0
                assert q(state, expert) > q(state, keep_open), "closing at the grasp point is progress"
                grasp_checked = True
            if state["sim_grasped"] and state["gripper_width"] < 0.07:
                opened = expert.copy()
                opened[6] = 1.0
                assert q(state, opened) < q(state, expert) - 2, "opening drops the cube"
                drop_checked = True
            _, _, terminated, truncated, info = env.step(expert)
            done = terminated or truncated
    finally:
        env.close()
    assert grasp_checked and drop_checked
    assert np.mean(margins) > 1.0 and np.mean(np.array(margins) > 0) > 0.8


def run_policy(env: InterventionWrapper, policy: str, episodes: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    intervened = steps = 0
    for episode in range(episodes):
        _, info = env.reset(seed=seed + episode)
        done = False
        while not done:
            action = rng.uniform(-1, 1, 7) if policy == "random" else scripted_pick_action(info["robot"])
            _, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            intervened += info["step_record"].intervened
            steps += 1
    return intervened / steps


def test_value_based_operator_intervenes_more_for_a_worse_policy(lockstep_server) -> None:
    commands, proposals = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    operator = OperatorConfig(preset="medium", model="value", seed=3).build()
    env = InterventionWrapper(
        RobotEnv(EnvConfig(server=lockstep_server.address, images=False, max_episode_steps=60)),
        InterventionConfig(commands=commands, proposals=proposals),
    )
    try:
        with simulated_operator(operator, commands, proposals):
            random_rate = run_policy(env, "random", episodes=4, seed=100)
            expert_rate = run_policy(env, "expert", episodes=4, seed=100)
    finally:
        env.close()
    assert env.sync_timeouts == 0
    assert random_rate > 0.5 and expert_rate < 0.1 and random_rate > expert_rate + 0.4


def test_operator_process_answers_the_actor(lockstep_server) -> None:
    commands, proposals = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    env = InterventionWrapper(
        RobotEnv(EnvConfig(server=lockstep_server.address, images=False)),
        InterventionConfig(commands=commands, proposals=proposals, answer_timeout=30.0),
    )
    options = ["--preset", "perfect", "--model", "expert", "--proposals", proposals, "--bind", commands]
    process = subprocess.Popen(
        [sys.executable, "-m", "rlif", "operator", *options, "--server", lockstep_server.address],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, info = env.reset(seed=8)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(np.zeros(7))  # a policy that does nothing
            done = terminated or truncated
        episode = info["episode_record"]
        assert info["success"] and episode.arrays["intervened"].all()
        assert {SOURCES[i] for i in episode.arrays["source"]} == {"scripted"}
    finally:
        env.close()
        os.killpg(process.pid, signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "took over" in errors


def test_record_scripted_demonstrations(lockstep_server, tmp_path: Path) -> None:
    config = RecordConfig(
        episodes=2,
        out=tmp_path,
        server=lockstep_server.address,
        images=False,
        scripted="good",
        commands=f"tcp://127.0.0.1:{free_port()}",
        proposals=f"tcp://127.0.0.1:{free_port()}",
    )
    saved = record_demonstrations(config)
    assert len(saved) == 2 and sorted(tmp_path.glob("*.npz")) == sorted(saved)
    for path in saved:
        episode = EpisodeRecord.load(path)
        assert episode.arrays["intervened"].all() and episode.arrays["intervention_onset"].tolist()[:2] == [True, False]
        assert np.isnan(episode.arrays["policy_action"]).all() and SOURCES[episode.arrays["source"][0]] == "scripted"
        assert episode.arrays["terminated"][-1] or episode.arrays["truncated"][-1]
    assert not list(tmp_path.glob(".*.tmp")), "saves are atomic: no temporary files left"


def test_unknown_operator_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="preset"):
        OperatorConfig(preset="superb").build()
    with pytest.raises(ValueError, match="model"):
        OperatorConfig(model="psychic").build()
