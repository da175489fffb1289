"""`rlif eval`: a policy file on the robot, deterministic, with a success report and videos."""

from __future__ import annotations

import dataclasses

import av

from actor.config import ActorConfig, EvalConfig
from actor.env import EnvConfig
from actor.evaluate import evaluate
from actor.intervention import InterventionConfig
from learner.config import LearnerConfig
from learner.policy import Policy, load_policy_file, save_policy_file
from robot_server.backends.mujoco_sim.config import SimCamerasConfig
from tests.conftest import free_port


def test_policy_file_round_trip_and_evaluation_with_videos(start_server, tmp_path) -> None:
    running = start_server(cameras=SimCamerasConfig(image_height=32, image_width=32))
    config = LearnerConfig(image_size=(32, 32), hidden_dims=(32, 32), latent_dim=8, encoder_channels=8)
    policy = Policy(config, seed=3)
    path = save_policy_file(tmp_path / "policy.npz", policy.arrays(), config)
    loaded = load_policy_file(path)
    assert loaded.config == dataclasses.replace(config, pretrained_weights=None)
    actor = ActorConfig(
        env=EnvConfig(server=running.address, images=True, max_episode_steps=8),
        intervention=InterventionConfig(commands=f"tcp://127.0.0.1:{free_port()}"),
    )
    report = evaluate(EvalConfig(actor=actor, policy=path, episodes=2, video_dir=tmp_path / "videos"))
    assert report.episodes == 2 and report.steps == [8, 8] and report.assisted == 0
    assert f"{report.successes}/2 successes" in report.summary()
    assert len(report.videos) == 2
    with av.open(str(report.videos[0])) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 9  # every step and the final observation
