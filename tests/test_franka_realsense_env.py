"""A real cell without hardware: the Franka backend on franky-sim and the RealSense backend on a
pyrealsense2 software device (fed frames at 30 fps) served together by one robot server, with a
crop and resize of the camera, behind `actor.env.RobotEnv` in real-time mode with images."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed (pip install -e '.[realsense]')")

from gymnasium.utils.env_checker import check_env

from actor.env import EnvConfig, RobotEnv
from robot_server.backends.base import Station
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.realsense.backend import RealSenseCameras
from robot_server.backends.realsense.config import RealSenseConfig
from robot_server.backends.realsense.sources import GivenDevices
from robot_server.images import ViewConfig
from robot_server.server import RobotServer
from tests.conftest import server_config
from tests.franky_sim_fixture import SKIP_REASON, FrankySim, franky_sim
from tests.realsense_fixture import Injector, SoftwareCamera, pattern

if SKIP_REASON is not None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from robot_server.backends.franka.backend import FrankaBackend

__all__ = ["franky_sim"]  # a fixture, used by name

FRAME = (48, 64)
"""(height, width) of the software camera's frames."""
CROP = (8, 0, 56, 48)
"""x0, y0, x1, y1: the middle 48x48 of each frame..."""
SERVED = (32, 24)
"""...served at (height, width) 32x24: a resize that is not a whole factor, and not square."""


def expected_image(frame_number: int) -> np.ndarray:
    """The served image of injected frame `frame_number`: cropped, then area-resized by PIL."""
    from PIL import Image

    x0, y0, x1, y1 = CROP
    cut = pattern(frame_number, *FRAME)[y0:y1, x0:x1]
    height, width = SERVED
    return np.asarray(Image.fromarray(cut).resize((width, height), Image.Resampling.BOX))


@pytest.fixture
def cell(franky_sim: FrankySim) -> Iterator[str]:
    """One server: the simulated arm and the software camera; its request address."""
    camera = SoftwareCamera(width=FRAME[1], height=FRAME[0], fps=30)
    injector = Injector(camera)  # frames flow before the backend waits for the first one
    arm = FrankaArmConfig(
        host=franky_sim.hosts[0],
        realtime="ignore",
        velocity_factor=0.5,
        acceleration_factor=0.5,
        jerk_factor=0.5,
        call_timeout=2.0,
    )
    rig = FrankaBackend(arm)
    try:
        cameras = RealSenseCameras(RealSenseConfig(cameras=(camera.config("front"),)), GivenDevices([camera.device]))
    except BaseException:
        rig.close()
        injector.stop()
        raise
    view = ViewConfig("front", crop=CROP, height=SERVED[0], width=SERVED[1])
    settings = dataclasses.replace(server_config(mode="realtime", pub_images=False), views=(view,))
    server = RobotServer(settings, backend=Station(rig, cameras))
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(30), "the server did not start"
        yield f"tcp://127.0.0.1:{settings.port}"
    finally:
        server.shutdown()
        thread.join(30)
        injector.stop()


def make_env(address: str) -> RobotEnv:
    # A reset is a joint motion that blocks the server until the arm is home: wait for it.
    config = EnvConfig(
        server=address,
        mode="realtime",
        images=True,
        cameras=("front",),
        randomize_scene=False,
        max_episode_steps=20,
        timeout=30.0,
    )
    env = RobotEnv(config)
    assert env.spec is not None and env.spec.nondeterministic  # a real-time robot says so itself
    return env


def test_robot_env_passes_gymnasiums_checker(cell: str) -> None:
    env = make_env(cell)
    try:
        assert env.server_info["backend"] == "franka" and env.server_info["cameras"] == {"front": list(SERVED)}
        check_env(env, skip_render_check=True)
        obs, info = env.reset(seed=1)
        assert obs["state"].shape == (13,) and np.isfinite(obs["state"]).all()
        numbers = []
        for _ in range(5):
            obs, reward, terminated, truncated, info = env.step(np.zeros(7, dtype=np.float32))
            image = obs["images"]["front"]
            assert image.shape == (*SERVED, 3) and image.dtype == np.uint8
            assert env.last_reply is not None
            number = env.last_reply.data["image_frame_numbers"]["front"]
            # exactly the injected frame, cropped and resized (up to the rounding of the average)
            assert np.abs(image.astype(int) - expected_image(number).astype(int)).max() <= 1
            numbers.append(number)
            assert reward == 0.0 and not terminated and not truncated
            assert info["success"] is None and info["robot"]["fault"] == ""
            assert {"latency", "late", "observe_latency", "overruns"} <= set(info["timing"])
        assert numbers == sorted(numbers) and numbers[-1] > numbers[0]  # a live camera, 10 Hz steps
    finally:
        env.close()
