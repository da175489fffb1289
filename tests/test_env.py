"""`RobotEnv` over ZeroMQ: the gymnasium checker, the scripted pick, both modes."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from actor.env import EnvConfig, RobotEnv
from teleop.scripted_pick import scripted_pick_action


@pytest.mark.parametrize("images", [True, False], ids=["images", "state-only"])
def test_check_env_passes(lockstep_server, images: bool) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=images))
    try:
        check_env(env, skip_render_check=True)
        obs, _ = env.reset(seed=1)
        assert obs["state"].shape == (13,)
        assert ("images" in obs) is images
        if images:
            assert obs["images"]["front"].shape == (128, 128, 3)
            assert obs["images"]["front"].dtype == np.uint8
            assert obs["images"]["front"].std() > 5  # a rendered scene, not a blank buffer
    finally:
        env.close()


def test_scripted_pick_succeeds_on_randomised_cubes(lockstep_server) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False, max_episode_steps=80))
    successes, cube_positions = 0, []
    try:
        for episode in range(20):
            _, info = env.reset(seed=1000 + episode)
            cube_positions.append(info["robot"]["sim_cube_pos"][:2])
            terminated = truncated = False
            while not (terminated or truncated):
                _, reward, terminated, truncated, info = env.step(scripted_pick_action(info["robot"]))
            successes += bool(info["success"])
            assert reward == (1.0 if info["success"] else 0.0)
    finally:
        env.close()
    assert len({tuple(np.round(p, 3)) for p in cube_positions}) == 20
    assert successes >= 19, f"{successes}/20 scripted picks succeeded"


def test_scripted_pick_with_images_and_lift_above_five_cm(lockstep_server) -> None:
    env = RobotEnv(
        EnvConfig(server=lockstep_server.address, images=True, terminate_on_success=False, max_episode_steps=45)
    )
    try:
        obs, info = env.reset(seed=5)
        first_wrist = obs["images"]["wrist"].copy()
        truncated = False
        while not truncated:
            obs, _, _, truncated, info = env.step(scripted_pick_action(info["robot"]))
        robot = info["robot"]
        assert robot["success"] and robot["sim_cube_lift"] >= 0.05
        assert not np.array_equal(first_wrist, obs["images"]["wrist"])
    finally:
        env.close()


def test_seeded_resets_and_steps_are_repeatable(lockstep_server) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=True))
    try:
        runs = []
        for _ in range(2):
            obs, _ = env.reset(seed=11)
            states, images = [obs["state"]], [obs["images"]["front"]]
            rng = np.random.default_rng(3)
            for _ in range(10):
                obs, *_ = env.step(rng.uniform(-1, 1, 7))
                states.append(obs["state"])
                images.append(obs["images"]["front"])
            runs.append((np.array(states), np.array(images)))
        np.testing.assert_array_equal(runs[0][0], runs[1][0])
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
    finally:
        env.close()


def test_realtime_mode_steps_on_the_wall_clock(start_server) -> None:
    running = start_server()
    env = RobotEnv(EnvConfig(server=running.address, mode="realtime", images=True, control_period=0.05))
    try:
        obs, info = env.reset(seed=2)
        start = obs["state"][:3].copy()
        counters = []
        for _ in range(12):
            obs, _, _, _, info = env.step(np.array([1.0, 0, 0, 0, 0, 0, 1.0]))
            assert env.last_reply is not None
            counters.append(env.last_reply.data["image_counters"]["front"])
            assert "late" in info["timing"]
        assert obs["state"][0] - start[0] > 0.05  # moved +x on its own clock
        assert counters[-1] > counters[0]  # cameras keep capturing in real time
        assert info["robot"]["mode"] == "realtime"
    finally:
        env.close()


def test_env_rejects_bad_actions_before_sending(lockstep_server) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False))
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="7 finite numbers"):
            env.step(np.array([np.nan, 0, 0, 0, 0, 0, 0]))
        with pytest.raises(ValueError):
            env.step(np.zeros(6))
    finally:
        env.close()
