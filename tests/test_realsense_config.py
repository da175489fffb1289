"""The RealSense backend's settings: importable without pyrealsense2, loadable from YAML, checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlif.config_files import apply_overrides
from robot_server.backends.realsense import RealSenseCameraConfig, RealSenseConfig


def test_the_config_module_does_not_load_pyrealsense2() -> None:
    code = (
        "import sys; sys.modules['pyrealsense2'] = None\n"
        "from robot_server.backends.realsense import RealSenseConfig\n"
        "config = RealSenseConfig(cameras=({'name': 'front', 'serial': '123'},))\n"
        "assert config.cameras[0].serial == '123'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_yaml_settings_become_camera_configs() -> None:
    overrides = {
        "cameras": [{"name": "front", "serial": "123", "fps": 15}, {"name": "wrist", "serial": "456", "depth": True}],
        "stale_after": 0.25,
        "playback": "/data/recordings",
    }
    config = apply_overrides(RealSenseConfig(), overrides)
    assert config.cameras == (
        RealSenseCameraConfig(name="front", serial="123", fps=15),
        RealSenseCameraConfig(name="wrist", serial="456", depth=True),
    )
    assert config.stale_after == 0.25 and config.playback == Path("/data/recordings")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cameras": ({"name": "a", "serial": "1"}, {"name": "a", "serial": "2"})}, "each name once"),
        ({"cameras": ({"name": "a", "serial": "1"}, {"name": "b", "serial": "1"})}, "each serial once"),
        ({"cameras": ({"name": "a", "serial": "1", "colour": 3},)}, "unknown RealSense camera setting"),
        ({"cameras": ({"name": "a", "serial": ""},)}, "serial number"),
        ({"cameras": ({"name": "a", "serial": "1", "fps": 0},)}, "fps must be positive"),
        ({"cameras": ({"name": "a", "serial": "1", "exposure": -1.0},)}, "exposure must be positive"),
        ({"stale_after": 0.0}, "stale_after must be positive"),
        ({"cameras": ({"name": "a", "serial": "1", "fps": 6},), "stale_after": 0.3}, "two frame periods"),
    ],
)
def test_bad_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RealSenseConfig(**settings)
