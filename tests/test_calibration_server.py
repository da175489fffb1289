"""What the server knows of its cameras: the simulated ChArUco board (drawn where the model says,
in the legacy pattern too), intrinsics as served after the crop and resize (a board's pose found
with them), RealSense factory intrinsics, and calibration files (read, or refused at start)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2", reason="OpenCV is not installed (pip install -e '.[calibration]')")

from calibration.board import Charuco, project, reprojection_rms
from calibration.camera_actions import served_intrinsics
from calibration.config import BoardConfig
from calibration.geometry import angle_between, from_rotation, invert
from robot_server.backends.base import Station
from robot_server.backends.mujoco_sim.backend import SimBackend, SimRig
from robot_server.backends.mujoco_sim.config import SimBoardConfig, SimCamerasConfig, SimConfig
from robot_server.camera_calibration import CalibrationFileError, load_calibration_file
from robot_server.config import ServerConfig
from robot_server.images import ViewConfig
from robot_server.limits import DEFAULT_LIMITS_FILE, Limits
from robot_server.service import RobotService

CAMERAS = SimCamerasConfig(image_height=480, image_width=640)


def board_in_camera(backend: SimBackend, camera: str) -> np.ndarray:
    """T_cam_board from the model: the board's site and the camera, OpenCV axes."""
    model, data = backend.world.model, backend.world.data
    site, index = model.site("calibration_board").id, model.camera(camera).id
    board = from_rotation(data.site_xmat[site].reshape(3, 3), data.site_xpos[site])
    seen_from = from_rotation(data.cam_xmat[index].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0]), data.cam_xpos[index])
    return invert(seen_from) @ board


@pytest.mark.parametrize("legacy", [False, True], ids=["current", "legacy"])
def test_the_simulated_board_is_where_the_model_puts_it(legacy: bool) -> None:
    backend = SimBackend(SimConfig(board=SimBoardConfig(mount="table", legacy=legacy)), CAMERAS)
    try:
        image = backend.cameras.latest(("wrist",))["wrist"].image
        intrinsics = backend.cameras.calibration()["wrist"].intrinsics
        assert intrinsics is not None
        view = Charuco(BoardConfig(legacy=legacy)).detect(image)
        assert view is not None and len(view.ids) >= 20  # of the 7x6 board's 30 inner corners
        # The corners found are where the model's board, seen through the model's camera, puts them.
        truth = board_in_camera(backend, "wrist")
        assert reprojection_rms(view, truth, intrinsics) < 0.2
        found, rms = Charuco(BoardConfig(legacy=legacy)).pose(view, intrinsics)
        assert np.linalg.norm(found[:3, 3] - truth[:3, 3]) < 0.002 and math.degrees(angle_between(found, truth)) < 1
        assert rms < 0.2
        # Read with the other pattern, the board's corners are not found where they are (OpenCV may
        # still find a board: for this geometry, one whose corners are numbered a square off).
        other = Charuco(BoardConfig(legacy=not legacy)).detect(image)
        assert other is None or reprojection_rms(other, truth, intrinsics) > 5
    finally:
        backend.close()


def test_intrinsics_are_reported_for_the_images_as_served() -> None:
    backend = SimBackend(SimConfig(board=SimBoardConfig(mount="table")), CAMERAS)
    view = ViewConfig("wrist", crop=(100, 0, 580, 480), height=360, width=360)
    service = RobotService(ServerConfig(views=(view,)), backend, Limits.load(DEFAULT_LIMITS_FILE))
    try:
        info = service.camera_calibration["wrist"]
        assert (info["width"], info["height"], info["crop"]) == (360, 360, [100, 0, 580, 480])
        intrinsics = served_intrinsics({"camera_calibration": service.camera_calibration}, "wrist")
        assert intrinsics is not None and intrinsics.cx == pytest.approx((319.5 + 0.5 - 100) * 0.75 - 0.5)
        image = service.readings.images({}, ("wrist",))["wrist"]
        assert image.shape == (360, 360, 3)
        charuco = Charuco(BoardConfig())
        board = charuco.detect(image)
        assert board is not None
        truth = board_in_camera(backend, "wrist")
        assert reprojection_rms(board, truth, intrinsics) < 0.5
        offset = (project(board.object_points, truth, intrinsics) - board.image_points).mean(axis=0)
        assert np.abs(offset).max() < 0.25  # a principal point off by a pixel would show here
        pose = info["extrinsics"]
        assert pose["frame"] == "tcp" and pose["source"] == "sim"
        assert np.allclose(pose["position"], [0.06, 0.0, 0.07 - 0.1034])  # the XML's camera, from the TCP
        assert service.camera_calibration["front"]["extrinsics"]["frame"] == "base"
    finally:
        backend.close()


def test_calibration_files_are_read_or_refused_at_start(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "cameras:\n  front:\n    extrinsics: {frame: base, position: [1.0, 0.0, 0.7], quat: [0.0, 0.0, 1.0, 0.0]}\n"
        "    intrinsics: {width: 128, height: 128, fx: 100.0, fy: 101.0, cx: 63.0, cy: 64.0, distortion: [0.1, 0.0]}\n"
        "    handeye: {method: refined}\n"
    )
    loaded = load_calibration_file(good)["front"]
    assert loaded.extrinsics is not None and loaded.extrinsics.frame == "base"
    assert loaded.intrinsics is not None and loaded.intrinsics.distortion == (0.1, 0.0)
    backend = SimBackend()
    try:
        service = RobotService(ServerConfig(calibration=good), backend, Limits.load(DEFAULT_LIMITS_FILE))
        front = service.camera_calibration["front"]
        assert front["extrinsics"]["source"] == "file" and front["intrinsics"]["fx"] == 100.0
        assert service.camera_calibration["wrist"]["extrinsics"]["source"] == "sim"
        # Intrinsics measured on full frames are reported for the images as served.
        view = ViewConfig("front", crop=(32, 0, 96, 64), height=32, width=32)
        service = RobotService(ServerConfig(calibration=good, views=(view,)), backend, Limits.load(DEFAULT_LIMITS_FILE))
        served = service.camera_calibration["front"]["intrinsics"]
        assert (served["fx"], served["fy"], served["source"]) == (50.0, 50.5, "file")
        assert served["cx"] == pytest.approx((63.0 + 0.5 - 32) / 2 - 0.5) and served["cy"] == pytest.approx(31.75)
        bad = tmp_path / "bad.yaml"
        for text in (
            "cameras:\n  front:\n    extrinsics: {frame: base, position: [1, 0, 0], quat: [2, 0, 0, 0]}\n",
            "cameras:\n  front:\n    extrinsics: {frame: elbow, position: [1, 0, 0], quat: [1, 0, 0, 0]}\n",
            "cameras:\n  front:\n    intrinsics: {width: 128, height: 128, fx: -1, fy: 1, cx: 0, cy: 0}\n",
            "cameras: [front]\n",
        ):
            bad.write_text(text)
            with pytest.raises(CalibrationFileError, match=str(bad)):
                RobotService(ServerConfig(calibration=bad), backend, Limits.load(DEFAULT_LIMITS_FILE))
        with pytest.raises(CalibrationFileError, match="missing"):
            load_calibration_file(tmp_path / "missing.yaml")
    finally:
        backend.close()


def test_realsense_cameras_report_their_factory_intrinsics() -> None:
    pytest.importorskip("pyrealsense2", reason="pyrealsense2 is not installed (pip install -e '.[realsense]')")
    from robot_server.backends.realsense.backend import RealSenseCameras
    from robot_server.backends.realsense.config import RealSenseConfig
    from robot_server.backends.realsense.sources import GivenDevices
    from tests.realsense_fixture import SoftwareCamera

    camera = SoftwareCamera(width=64, height=48, fps=30)
    config = RealSenseConfig(cameras=(camera.config("front"),), start_timeout=0.0)
    station = Station(SimRig(), RealSenseCameras(config, GivenDevices([camera.device])))
    try:
        factory = station.cameras.calibration()["front"].intrinsics
        assert factory is not None and factory.source == "device"
        assert (factory.fx, factory.cx, factory.cy, factory.width) == (pytest.approx(57.6), 32.0, 24.0, 64)
        settings = dataclasses.replace(
            ServerConfig(), views=(ViewConfig("front", crop=(8, 0, 56, 48), height=24, width=24),)
        )
        service = RobotService(settings, station, Limits.load(DEFAULT_LIMITS_FILE))
        served = service.camera_calibration["front"]["intrinsics"]
        assert served["fx"] == pytest.approx(57.6 / 2) and served["cx"] == pytest.approx((32 + 0.5 - 8) / 2 - 0.5)
        assert served["source"] == "device" and service.camera_calibration["front"]["extrinsics"] is None
    finally:
        station.close()
