"""DAgger in simulation: the scripted pick expert relabels every state an actor visited in the
simulated robot, from the privileged state recorded with the episode."""

from __future__ import annotations

import numpy as np
import pytest

from actor.env import EnvConfig, RobotEnv
from learner.config import LearnerConfig
from learner.learner import Learner
from rlif.learner_cli import privileged_arrays, scripted_pick_relabel
from teleop.scripted_pick import scripted_pick_action
from wire.records import EpisodeRecord, RecordError, StepRecord


def test_scripted_expert_relabels_a_sim_rollout(lockstep_server) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False, max_episode_steps=6))
    rng = np.random.default_rng(0)
    try:
        observation, info = env.reset(seed=0)
        steps, robot_states, expected = [], [], []
        done = False
        while not done:
            robot_states.append(info["robot"])
            expected.append(scripted_pick_action(info["robot"]))
            action = rng.uniform(-1, 1, 7).astype(np.float32)
            next_observation, _, terminated, truncated, info = env.step(action)
            steps.append(
                StepRecord(
                    state=observation["state"],
                    images={},
                    policy_action=action,
                    action=action,
                    intervened=False,
                    intervention_onset=False,
                    source="policy",
                    terminated=terminated,
                    truncated=truncated,
                )
            )
            observation, done = next_observation, terminated or truncated
    finally:
        env.close()
    record = EpisodeRecord.from_steps(steps, observation["state"], {}, episode_id="sim", actor_id="a")
    with pytest.raises(RecordError, match="privileged state"):
        scripted_pick_relabel(record)
    record.arrays.update(privileged_arrays(robot_states))
    labels = scripted_pick_relabel(record)
    np.testing.assert_allclose(labels, np.array(expected), rtol=1e-6, atol=1e-6)

    learner = Learner(LearnerConfig(algorithm="dagger", cameras=(), batch_size=8), relabel=scripted_pick_relabel)
    assert learner.add_episode(record) == 6
    online = learner.buffers["online"]
    np.testing.assert_allclose(online.action[online.valid_slots()], labels, rtol=1e-6)
    assert np.isfinite(learner.update()["loss/bc"])
