"""The learner/actor pair end to end, and its faults: a killed learner, a killed actor, a
restarted robot server. Processes are real (`rlif learner`, `rlif actor`, `rlif operator`)."""

from __future__ import annotations

import collections
import time

import numpy as np
import pytest

from learner.policy import POLICY_FILE, load_policy_file
from robot_server.client import RobotClient
from tests.pair_harness import Pair, expected_transitions, kill, recorded_episodes, stored_transitions

pytestmark = pytest.mark.slow


def test_pair_learns_from_streamed_steps_with_rlif_rewards(tmp_path) -> None:
    pair = Pair(tmp_path, episodes=8, episode_steps=25).start()
    try:
        assert pair.wait_actor_done(timeout=240) == 0, pair.log("actor")
        assert pair.wait_for(lambda s: s.get("learner", {}).get("env_steps", 0) >= 8 * 1, timeout=30)
    finally:
        codes = pair.stop()
    assert codes.get("learner") == 0 and codes.get("operator") in (0, None), (codes, pair.log("learner"))
    episodes = recorded_episodes(tmp_path / "episodes")
    assert len(episodes) == 8
    expected = expected_transitions(episodes)
    stored = stored_transitions(pair.learner_config.run_dir, pair.learner_config.learner)
    # Every step arrived exactly once, with the reward of the RLIF rule, in the right buffer.
    assert collections.Counter(stored) == collections.Counter(expected)
    assert any(reward == -1.0 for _, _, reward, _ in expected), "no takeover happened; the test proves little"
    assert any(intervened for *_, intervened in expected) and not all(i for *_, i in expected)
    # The learner updated and published; the actor acted with newer weights as they came.
    versions = np.concatenate([episode.arrays["policy_version"] for episode in episodes])
    policy_steps = ~np.concatenate([episode.arrays["intervened"] for episode in episodes])
    assert versions.min() == 0 and versions.max() > 0
    assert (np.diff(versions) >= 0).all()  # applied in order, latest only
    assert policy_steps.any()
    checkpoints = list((pair.learner_config.run_dir / "checkpoints").iterdir())
    assert checkpoints
    # Beside the checkpoint, the newest policy for `rlif eval --policy`.
    policy = load_policy_file(pair.learner_config.run_dir / POLICY_FILE)
    assert policy.config == pair.learner_config.learner
    assert "Traceback" not in pair.log("learner") + pair.log("actor") + pair.log("operator")


def test_killed_learner_resumes_and_keeps_every_step_exactly_once(tmp_path) -> None:
    # Enough episodes that the unpaced actor still has steps to take when the learner dies, even
    # when a loaded machine slows the learner and lets the actor run far ahead.
    pair = Pair(tmp_path, episodes=20, episode_steps=25, actor_changes={"pace": False}).start()
    try:
        assert pair.wait_for(lambda s: s.get("learner", {}).get("env_steps", 0) >= 60, timeout=120)
        time.sleep(2.5)  # past a checkpoint, and more steps in the write-ahead log after it
        assert pair.learner is not None
        kill(pair.learner)
        sent_at_kill = pair.poll_status().get("sim-actor", {}).get("sent", 0)
        # The actor keeps driving the robot and holds the steps the learner has not acknowledged.
        assert pair.wait_for(lambda s: s.get("sim-actor", {}).get("sent", 0) > sent_at_kill + 20, timeout=60)
        assert pair.wait_for(lambda s: s.get("sim-actor", {}).get("pending", 0) > 0, timeout=10)
        pair.start_learner()  # resumes from its checkpoint and log; the actor resends the rest
        assert pair.wait_actor_done(timeout=240) == 0, pair.log("actor")
    finally:
        pair.stop()
    learner_log = pair.log("learner")
    assert "resumed from update" in learner_log and "logged steps replayed" in learner_log
    expected = expected_transitions(recorded_episodes(tmp_path / "episodes"))
    stored = stored_transitions(pair.learner_config.run_dir, pair.learner_config.learner)
    assert collections.Counter(stored) == collections.Counter(expected)


def test_killed_actor_leaves_the_arm_held_by_the_watchdog(tmp_path) -> None:
    pair = Pair(tmp_path, mode="realtime", episodes=0, episode_steps=50, operator=False).start()
    try:
        assert pair.wait_for(lambda s: s.get("sim-actor", {}).get("steps", 0) >= 15, timeout=180)
        service = pair.server.service
        assert not service.holding
        assert pair.actor is not None
        kill(pair.actor)
        assert pair.wait_for(lambda _s: service.holding, timeout=5.0)
        client = RobotClient(pair.server.address)
        held = np.array(client.state()["tcp_pos"])
        time.sleep(1.5)
        later = client.state()
        client.close()
        assert later["holding"] and np.linalg.norm(np.array(later["tcp_pos"]) - held) < 0.01
    finally:
        pair.stop()


def test_restarted_robot_server_is_reported_and_the_actor_carries_on(tmp_path) -> None:
    pair = Pair(
        tmp_path, episodes=0, episode_steps=20, operator=False, actor_changes={"robot_retry": 60.0, "pace": False}
    ).start()
    try:
        assert pair.wait_for(lambda s: s.get("sim-actor", {}).get("episodes", 0) >= 2, timeout=180)
        pair.server.stop()
        assert pair.wait_for(lambda s: "unavailable" in s.get("sim-actor", {}).get("state", ""), timeout=30)
        from tests.conftest import RunningServer

        pair.server = RunningServer(pair.server.config)  # the same ports
        episodes = pair.latest["sim-actor"]["episodes"]
        assert pair.wait_for(lambda s: s.get("sim-actor", {}).get("episodes", 0) >= episodes + 2, timeout=120)
        assert pair.actor is not None and pair.actor.alive()
    finally:
        pair.stop()
    assert "robot server back" in pair.log("actor")


def test_robot_server_that_stays_away_stops_the_actor_with_a_clear_message(tmp_path) -> None:
    pair = Pair(
        tmp_path, episodes=0, episode_steps=20, operator=False, actor_changes={"robot_retry": 3.0, "pace": False}
    ).start()
    try:
        assert pair.wait_for(lambda s: s.get("sim-actor", {}).get("steps", 0) >= 5, timeout=180)
        pair.server.stop()
        assert pair.wait_actor_done(timeout=90) == 3
    finally:
        pair.stop()
    assert "did not come back" in pair.log("actor") and "watchdog holds the arm" in pair.log("actor")
