"""Camera calibration against the simulated cell with a ChArUco board in the scene: the wrist
camera (eye-in-hand, board on the table) and the front camera (eye-to-hand, board in the hand)
recovered within 2 mm and 0.5 degrees of the model's ground truth, their intrinsics within 1 % of
the model's; the files written are what the server then reports in `info`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("cv2", reason="OpenCV is not installed (pip install -e '.[calibration]')")

from calibration.cli import calibrate
from calibration.config import CalibrateConfig, MotionConfig
from calibration.geometry import angle_between, from_rotation, invert, pose_matrix
from calibration.motion import Mover
from robot_server.backends.mujoco_sim.config import SimBoardConfig, SimCamerasConfig, SimConfig
from robot_server.backends.mujoco_sim.world import MujocoWorld
from tests.conftest import RunningServer, server_config

HEIGHT, WIDTH = 480, 640
FRONT_START = ([0.55, 0.0, 0.3], [0.0, 1.0, 0.0, 0.0])
"""Where the arm holds the board for the front camera when a calibration starts (gripper down)."""


def board_server(mount: str, **overrides: object) -> RunningServer:
    arm = SimConfig(board=SimBoardConfig(mount=mount))  # type: ignore[arg-type]
    cameras = SimCamerasConfig(image_height=HEIGHT, image_width=WIDTH)
    return RunningServer(server_config(arm=arm, cameras=cameras, **overrides))


@pytest.fixture(scope="module")
def table() -> Iterator[RunningServer]:
    running = board_server("table")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hand() -> Iterator[RunningServer]:
    running = board_server("hand")
    with running.client() as client:
        _, arrived = Mover(client, MotionConfig()).move_to(pose_matrix(*FRONT_START))
    assert arrived
    yield running
    running.stop()


def world_of(running: RunningServer) -> MujocoWorld:
    return running.service.backend.rig.world  # type: ignore[attr-defined]


def true_pose(running: RunningServer, camera: str) -> np.ndarray:
    """The model's camera pose (OpenCV axes): in the TCP frame for the wrist, the base (world) for the front."""
    world = world_of(running)
    model, data = world.model, world.data
    index = model.camera(camera).id
    in_world = from_rotation(data.cam_xmat[index].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0]), data.cam_xpos[index])
    if camera == "front":
        return in_world
    tcp = model.site("tcp").id
    return invert(from_rotation(data.site_xmat[tcp].reshape(3, 3), data.site_xpos[tcp])) @ in_world


def true_focal(running: RunningServer, camera: str) -> float:
    fovy = float(world_of(running).model.camera(camera).fovy[0])
    return HEIGHT / 2 / math.tan(math.radians(fovy) / 2)


def run(running: RunningServer, action: str, camera: str, output: Path, **settings: object) -> int:
    config = CalibrateConfig(action=action, server=running.address, camera=camera, output=output)  # type: ignore[arg-type]
    return calibrate(dataclasses.replace(config, **settings))  # type: ignore[arg-type]


def pose_error(entry: dict, truth: np.ndarray) -> tuple[float, float]:
    found = pose_matrix(entry["position"], entry["quat"])
    return 1000 * float(np.linalg.norm(found[:3, 3] - truth[:3, 3])), math.degrees(angle_between(found, truth))


@pytest.mark.parametrize(
    ("mount", "camera", "frame"), [("table", "wrist", "tcp"), ("hand", "front", "base")], ids=["wrist", "front"]
)
def test_hand_eye_recovers_the_camera_pose(
    mount: str, camera: str, frame: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    running = request.getfixturevalue(mount)
    output = tmp_path / "calibration.yaml"
    assert run(running, "handeye", camera, output) == 0
    entry = yaml.safe_load(output.read_text())["cameras"][camera]
    assert entry["extrinsics"]["frame"] == frame
    truth = true_pose(running, camera)
    millimetres, degrees = pose_error(entry["extrinsics"], truth)
    report = entry["handeye"]
    print(f"\n{camera}: chosen {report['method']}: {millimetres:.2f} mm {degrees:.3f} deg")
    for method, found in report["methods"].items():
        if "position" in found:
            print(f"  {method:10s} %.2f mm %.3f deg  held-out {found['held_out']}" % pose_error(found, truth))
    assert millimetres < 2.0 and degrees < 0.5
    assert {"tsai", "park", "horaud", "andreff", "daniilidis", "shah", "li"} <= set(report["methods"])
    assert report["views"] >= 20 and report["held_out_views"] >= 2 and report["residuals"]["pixels"] < 0.5

    # The server started with the file reports the calibrated pose.
    served = RunningServer(server_config(arm=SimConfig(), calibration=output))
    try:
        with served.client() as client:
            reported = client.info()["camera_calibration"][camera]["extrinsics"]
    finally:
        served.stop()
    assert reported["source"] == "file" and reported["frame"] == frame
    assert np.allclose(reported["position"], entry["extrinsics"]["position"])


@pytest.mark.parametrize(("mount", "camera"), [("table", "wrist"), ("hand", "front")], ids=["wrist", "front"])
def test_intrinsics_within_one_percent_of_the_model(
    mount: str, camera: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    running = request.getfixturevalue(mount)
    output = tmp_path / "calibration.yaml"
    assert run(running, "intrinsics", camera, output) == 0
    found = yaml.safe_load(output.read_text())["cameras"][camera]["intrinsics"]
    focal = true_focal(running, camera)
    errors = {
        "fx": found["fx"] / focal - 1,
        "fy": found["fy"] / focal - 1,
        "cx": found["cx"] / ((WIDTH - 1) / 2) - 1,
        "cy": found["cy"] / ((HEIGHT - 1) / 2) - 1,
    }
    print(f"\n{camera}: " + ", ".join(f"{k} {100 * v:+.2f} %" for k, v in errors.items()), found["report"])
    assert all(abs(error) < 0.01 for error in errors.values())
    assert found["report"]["reprojection_rms_px"] < 0.5 and (found["width"], found["height"]) == (WIDTH, HEIGHT)

    # Served at the calibrated size, the server reports the file's intrinsics; the arm is back.
    with running.client() as client:
        assert client.info()["camera_calibration"][camera]["intrinsics"]["source"] == "sim"
    served = RunningServer(
        server_config(cameras=SimCamerasConfig(image_height=HEIGHT, image_width=WIDTH), calibration=output)
    )
    try:
        with served.client() as client:
            reported = client.info()["camera_calibration"][camera]["intrinsics"]
    finally:
        served.stop()
    assert reported["source"] == "file" and reported["fx"] == pytest.approx(found["fx"])
