"""The robot server with RealSense cameras (a pyrealsense2 software device fed known frames):
exactly those pixels after the server's crop and resize, their stamps and frame numbers, never
an older frame than the newest given, and a camera that drops out and comes back."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed (pip install -e '.[realsense]')")

from robot_server.backends.base import Station
from robot_server.backends.mujoco_sim.backend import SimRig
from robot_server.backends.realsense.backend import RealSenseCameras
from robot_server.backends.realsense.config import RealSenseConfig
from robot_server.backends.realsense.sources import GivenDevices
from robot_server.client import RobotClient, RobotError
from robot_server.images import ViewConfig
from robot_server.server import RobotServer
from tests.conftest import server_config
from tests.realsense_fixture import SoftwareCamera, pattern, wait_for

CROP = (8, 0, 56, 48)
"""Of the 64x48 software frames: the middle 48x48, served at 24x24 (each 2x2 block averaged)."""


def expected_image(frame_number: int) -> np.ndarray:
    x0, y0, x1, y1 = CROP
    cut = pattern(frame_number, 48, 64)[y0:y1, x0:x1].astype(np.float64)
    return cut.reshape(24, 2, 24, 2, 3).mean(axis=(1, 3))


@pytest.fixture
def served() -> Iterator[tuple[RobotClient, SoftwareCamera, RobotServer]]:
    camera = SoftwareCamera(width=64, height=48, fps=30)
    config = RealSenseConfig(cameras=(camera.config("front"),), stale_after=0.3, reopen_interval=0.1, start_timeout=0.0)
    station = Station(SimRig(), RealSenseCameras(config, GivenDevices([camera.device])))
    settings = dataclasses.replace(
        server_config(mode="realtime"), views=(ViewConfig("front", crop=CROP, height=24, width=24),)
    )
    server = RobotServer(settings, backend=station)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    assert server.ready.wait(30)
    client = RobotClient(f"tcp://127.0.0.1:{settings.port}", timeout=5.0)
    yield client, camera, server
    client.close()
    server.shutdown()
    thread.join(30)


def newest(client: RobotClient) -> tuple[dict[str, Any], np.ndarray] | None:
    try:
        reply = client.observation()
    except RobotError as error:
        assert error.code == "camera_fault"
        return None
    return reply.data, reply.images["front"]


def test_the_server_serves_exactly_the_injected_frames_cropped_and_resized(served) -> None:
    client, camera, _ = served
    assert client.info()["cameras"] == {"front": [24, 24]}
    seen: list[int] = []
    for number in range(1, 16):
        stamp_ms = time.time() * 1000.0
        injected = camera.inject(number, stamp_ms=stamp_ms)
        reply = wait_for(lambda n=number: (r := newest(client)) and r[0]["image_frame_numbers"]["front"] >= n and r)
        assert reply, f"frame {number} never served"
        data, image = reply
        served_number = data["image_frame_numbers"]["front"]
        assert served_number == number  # nothing newer was injected
        seen.append(served_number)
        assert image.shape == (24, 24, 3) and image.dtype == np.uint8
        assert np.abs(image.astype(np.float64) - expected_image(number)).max() <= 1.0  # rounding of the average
        assert data["image_device_stamps"]["front"] == pytest.approx(stamp_ms, abs=1e-3)
        assert abs(data["image_stamps"]["front"] - injected) < 0.5  # converted to the host's monotonic clock
        assert data["image_ages"]["front"] >= 0
    assert seen == sorted(seen)


def test_a_camera_that_stops_is_a_fault_and_recovers_without_a_restart(served) -> None:
    client, camera, _ = served
    camera.inject(1)
    assert wait_for(lambda: newest(client))
    faults = wait_for(lambda: client.state()["camera_faults"], timeout=5.0)  # nothing injected since
    assert faults and "front" in faults
    with pytest.raises(RobotError) as refused:
        client.observation()
    assert refused.value.code == "camera_fault"
    assert client.observation(images=False).data["camera_faults"]  # the arm's state is still served
    client.move([0.0, 0.0, -0.01], relative=True)  # and its commands
    for number in range(2, 40):  # the camera comes back
        camera.inject(number)
        if (reply := newest(client)) is not None:
            break
        time.sleep(1 / 30)
    assert reply is not None and reply[0]["image_frame_numbers"]["front"] >= 2
    assert client.state()["camera_faults"] == {}
