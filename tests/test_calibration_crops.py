"""`rlif calibrate crops`: each camera's crop (from the settings, or typed at the terminal), a
preview PNG of it on the full frame, and the `views` the server then loads from its YAML, with
intrinsics reported for the images as served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

pytest.importorskip("cv2", reason="OpenCV is not installed (pip install -e '.[calibration]')")

from calibration.arm_actions import run_crops
from calibration.cli import calibrate
from calibration.config import CalibrateConfig, CropsConfig
from rlif.config_files import load_config
from robot_server.backends.mujoco_sim.config import SimCamerasConfig
from robot_server.config import ServerConfig

CAMERAS = SimCamerasConfig(image_height=120, image_width=160)


def test_crops_from_settings_and_prompt_written_as_views(start_server, tmp_path: Path) -> None:
    running = start_server(cameras=CAMERAS)
    output = tmp_path / "server.yaml"
    output.write_text("pub_hz: 20.0\n")  # the file's other settings are kept
    config = CalibrateConfig(
        action="crops",
        server=running.address,
        output=output,
        crops=CropsConfig(boxes={"front": (20, 10, 140, 110)}, height=64, width=64, preview_dir=tmp_path / "previews"),
    )
    typed = iter(["0 0 200 100", "1 2 3", ""])  # outside the frame, too short, then the default
    with running.client() as client:
        assert run_crops(config, client, client.info(), print, ask=lambda _: next(typed)) == 0
    document = yaml.safe_load(output.read_text())
    assert document["pub_hz"] == 20.0
    assert document["views"] == [
        {"camera": "front", "crop": [20, 10, 140, 110], "height": 64, "width": 64},
        {"camera": "wrist", "crop": [20, 0, 140, 120], "height": 64, "width": 64},
    ]
    for camera in ("front", "wrist"):
        with Image.open(tmp_path / "previews" / f"{camera}.png") as preview:
            assert preview.size[1] == 120 and preview.size[0] > 160

    settings = load_config(ServerConfig(), output)
    served = start_server(cameras=CAMERAS, views=settings.views)
    with served.client() as client:
        info = client.info()
    assert info["cameras"] == {"front": [64, 64], "wrist": [64, 64]}
    front = info["camera_calibration"]["front"]
    assert front["crop"] == [20, 10, 140, 110] and front["frame_size"] == [120, 160]
    focal = 60 / np.tan(np.radians(58) / 2)  # the model's front camera: fovy 58 at 120 pixels high
    assert front["intrinsics"]["fx"] == pytest.approx(focal * 64 / 120)
    assert front["intrinsics"]["fy"] == pytest.approx(focal * 64 / 100)
    assert front["intrinsics"]["cx"] == pytest.approx((79.5 + 0.5 - 20) * 64 / 120 - 0.5)
    assert front["intrinsics"]["cy"] == pytest.approx((59.5 + 0.5 - 10) * 64 / 100 - 0.5)

    # On a server that already crops, crops are not chosen (the full frame is not served).
    second = tmp_path / "again.yaml"
    refused = CalibrateConfig(action="crops", server=served.address, output=second, crops=config.crops)
    assert calibrate(refused) == 1 and not second.exists()
