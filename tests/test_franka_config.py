"""The Franka backend's configuration and quaternion convention, without a robot."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.franka.quaternions import from_franky, to_franky


def test_config_imports_without_franky() -> None:
    code = (
        "import sys; import robot_server.backends.franka; from robot_server.backends.franka.config import "
        "FrankaArmConfig; FrankaArmConfig(); assert 'franky' not in sys.modules, 'franky was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_config_documents_every_field() -> None:
    source = Path(sys.modules[FrankaArmConfig.__module__].__file__ or "").read_text()
    for field in dataclasses.fields(FrankaArmConfig):
        declaration = source.index(f"    {field.name}: ")
        assert source[declaration:].split("\n", 2)[1].strip().startswith('"""'), field.name


@pytest.mark.parametrize(
    "overrides",
    [
        {"home_joints": (0.0,) * 6},
        {"collision_force_thresholds": (30.0,) * 7},
        {"velocity_factor": 0.0},
        {"jerk_factor": 1.5},
        {"call_timeout": 0.0},
        {"recovery_retries": 0},
        {"home_joints": (0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0)},  # joint 4 above its upper limit
        {"joint_lower": (float("nan"),) * 7},
    ],
)
def test_bad_config_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FrankaArmConfig(**overrides)  # type: ignore[arg-type]


def test_quaternion_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        ours = rng.normal(size=4)
        ours /= np.linalg.norm(ours)
        franky_order = to_franky(ours)
        assert franky_order[3] == ours[0] and np.array_equal(franky_order[:3], ours[1:])
        np.testing.assert_array_equal(from_franky(franky_order), ours)


def test_quaternion_order_matches_franky_affine() -> None:
    franky = pytest.importorskip("franky", reason="franky-control is not installed")
    quarter_turn_about_z = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])  # [w, x, y, z]
    pose = franky.Affine(np.zeros(3), to_franky(quarter_turn_about_z))
    np.testing.assert_allclose(pose.matrix[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(from_franky(pose.quaternion), quarter_turn_about_z, atol=1e-12)


def test_errors_cleared_without_a_person_are_franky_error_flags() -> None:
    pytest.importorskip("franky", reason="franky-control is not installed")
    from robot_server.backends.franka.faults import SAFE_TO_CLEAR
    from robot_server.backends.franka.seam import ERROR_FLAGS

    assert len(ERROR_FLAGS) == 41
    assert set(ERROR_FLAGS) >= SAFE_TO_CLEAR
    assert not any("reflex" in flag for flag in SAFE_TO_CLEAR)
