"""Settings files: the example site settings in configs/ stay loadable as the settings classes
change, and every child a launcher starts gets settings that read back as they were written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actor.config import ActorConfig
from learner.service_config import LearnerServiceConfig
from rlif.children import sim_server_config
from rlif.cli import COMMANDS
from rlif.config_files import ConfigFileError, load_config, parse_with_config_file, write_config
from rlif.sim_config import SimRunConfig
from rlif.sim_settings import (
    Ports,
    actor_settings,
    eval_settings,
    learner_settings,
    operator_settings,
    record_settings,
    server_settings,
)
from robot_server.config import ServerConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("robot_pc.server.yaml", ServerConfig),
        ("robot_pc.actor.yaml", ActorConfig),
        ("franka.server.yaml", ServerConfig),
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
    assert actor.env.server_curve is not None  # the robot server of robot_pc.server.yaml needs keys
    assert actor.env.server_curve.server_public_key == Path("keys/robot/server.key")
    learner = load_config(LearnerServiceConfig(), CONFIGS / "gpu_host.learner.yaml")
    assert learner.learner.image_size == (128, 128) and learner.curve_clients is not None


def children_settings(run_dir: Path, images: bool) -> dict[str, tuple[str, Any]]:
    """What `rlif sim`, its evaluation and `rlif demo` write for each child: (subcommand, settings)."""
    config = SimRunConfig(run_dir=run_dir, images=images, scene_range=0.3, seed=4)
    ports = Ports()
    return {
        "server": ("server", server_settings(config, ports, 64)),
        "learner": ("learner", learner_settings(config, ports, 64)),
        "operator": ("operator", operator_settings(config, ports)),
        "actor": ("actor", actor_settings(config, ports)),
        "record": ("record", record_settings(config, ports)),
        "eval": ("eval", eval_settings(config, ports, run_dir / "policy.npz", run_dir / "report.json")),
        "demo_server": ("server", sim_server_config(ports.server, ports.server_stream, 96, mode="realtime")),
    }


@pytest.mark.parametrize("images", [True, False])
def test_every_childs_settings_read_back_through_its_own_command(tmp_path: Path, images: bool) -> None:
    for name, (subcommand, settings) in children_settings(tmp_path, images).items():
        path = write_config(tmp_path / f"{name}.yaml", settings)
        assert load_config(type(settings)(), path) == settings, name
        # What the child itself does with `rlif SUBCOMMAND --config FILE`.
        command = COMMANDS[subcommand]
        assert isinstance(settings, command.config), name
        assert parse_with_config_file(command.config, ["--config", str(path)], f"rlif {subcommand}", "") == settings


@dataclass(frozen=True)
class Boxes:
    boxes: tuple[tuple[float, float], ...] = ((0.0, 1.0),)


def test_settings_that_would_not_read_back_fail_when_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"does not read back from YAML: boxes"):
        write_config(tmp_path / "boxes.yaml", Boxes())
    assert not (tmp_path / "boxes.yaml").exists()
