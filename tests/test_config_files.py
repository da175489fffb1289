"""The example site settings in configs/ stay loadable as the settings classes change."""

from __future__ import annotations

from pathlib import Path

import pytest

from actor.config import ActorConfig
from learner.service_config import LearnerServiceConfig
from rlif.config_files import load_config
from robot_server.config import ServerConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("robot_pc.server.yaml", ServerConfig),
        ("robot_pc.actor.yaml", ActorConfig),
        ("gpu_host.learner.yaml", LearnerServiceConfig),
    ],
)
def test_example_settings_load(name: str, kind: type) -> None:
    config = load_config(kind(), CONFIGS / name)
    assert config != kind()


def test_example_actor_points_at_the_learner_host() -> None:
    actor = load_config(ActorConfig(), CONFIGS / "robot_pc.actor.yaml")
    assert actor.env.mode == "realtime" and actor.intervention.proposals is None
    assert actor.transitions.startswith("tcp://GPU_HOST") and actor.learner_public_key is not None
    learner = load_config(LearnerServiceConfig(), CONFIGS / "gpu_host.learner.yaml")
    assert learner.learner.image_size == (128, 128) and learner.curve_clients is not None
