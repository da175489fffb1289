"""Bad input gives a clear error and writes nothing: too few poses, a board never seen, poses that
turn about one axis only (and the hand-eye solvers themselves on exact synthetic data)."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2", reason="OpenCV is not installed (pip install -e '.[calibration]')")

from calibration.board import BoardView, Charuco
from calibration.cli import calibrate
from calibration.compare import calibrate as solve_hand_eye
from calibration.config import BoardConfig, CalibrateConfig, HandEyeConfig, SamplerConfig
from calibration.files import update_camera
from calibration.geometry import angle_between, from_rotation, invert, rotation_from_rotvec
from calibration.handeye import METHODS, CalibrationError, Sample, solve
from robot_server.backends.camera_model import Intrinsics
from robot_server.backends.mujoco_sim.config import SimBoardConfig, SimCamerasConfig, SimConfig
from teleop.publishers import CommandPublisher
from tests.conftest import free_port
from wire.operator import OperatorCommand

CAMERAS = SimCamerasConfig(image_height=480, image_width=640)
INTRINSICS = Intrinsics(640, 480, 400.0, 400.0, 319.5, 239.5)
CAMERA = from_rotation(rotation_from_rotvec([0.1, -0.2, 1.5]), [0.05, 0.01, -0.03])
"""X of the synthetic eye-in-hand cell: the camera in the TCP frame."""
BOARD = from_rotation(rotation_from_rotvec([math.pi, 0.0, 0.1]), [0.4, -0.1, 0.0])
"""F: the board in the base frame."""


def synthetic(turns: list[np.ndarray]) -> list[Sample]:
    """Exact views of the board from TCP poses turned by `turns` about a pose looking down at it."""
    charuco = Charuco(BoardConfig())
    samples = []
    for index, turn in enumerate(turns):
        position = [0.45 + 0.01 * (index % 3), -0.05 + 0.01 * (index % 2), 0.35 - 0.005 * index]
        tcp = from_rotation(rotation_from_rotvec([math.pi, 0, 0]) @ rotation_from_rotvec(turn), position)
        seen = invert(CAMERA) @ invert(tcp) @ BOARD
        points = charuco.corners
        camera_points = (seen[:3, :3] @ points.T).T + seen[:3, 3]
        pixels = camera_points[:, :2] / camera_points[:, 2:] * 400.0 + [319.5, 239.5]
        view = BoardView(np.arange(len(points)), pixels.astype(np.float32), points)
        samples.append(Sample(tcp, seen, view))
    return samples


def test_every_method_recovers_exact_synthetic_data() -> None:
    rng = np.random.default_rng(3)
    samples = synthetic([rng.uniform(-0.3, 0.3, size=3) for _ in range(10)])
    for method in METHODS:
        found = solve(samples, "eye_in_hand", method)
        assert np.linalg.norm(found.camera[:3, 3] - CAMERA[:3, 3]) < 1e-4, method
        assert angle_between(found.camera, CAMERA) < 1e-4, method
    result = solve_hand_eye(samples, "eye_in_hand", INTRINSICS, Charuco(BoardConfig()).centre, HandEyeConfig())
    assert result.solution.method in (*METHODS, "refined") and result.fit.pixels < 1e-3 and not result.outliers


def test_a_view_far_off_is_left_out_as_an_outlier() -> None:
    rng = np.random.default_rng(5)
    samples = synthetic([rng.uniform(-0.3, 0.3, size=3) for _ in range(12)])
    samples[7].tcp[:3, 3] += [0.02, -0.01, 0.0]  # the arm's pose read 2 cm off for one view
    result = solve_hand_eye(samples, "eye_in_hand", INTRINSICS, Charuco(BoardConfig()).centre, HandEyeConfig())
    assert result.outliers == [7] and result.views == 12
    assert np.linalg.norm(result.solution.camera[:3, 3] - CAMERA[:3, 3]) < 1e-4


def test_degenerate_and_too_few_poses_are_refused() -> None:
    centre = Charuco(BoardConfig()).centre
    about_one_axis = synthetic([np.array([0.0, 0.0, a]) for a in np.linspace(-0.4, 0.4, 8)])
    with pytest.raises(CalibrationError, match="about one axis"):
        solve_hand_eye(about_one_axis, "eye_in_hand", INTRINSICS, centre, HandEyeConfig())
    not_turning = synthetic([np.zeros(3)] * 8)
    with pytest.raises(CalibrationError, match="turned less than"):
        solve_hand_eye(not_turning, "eye_in_hand", INTRINSICS, centre, HandEyeConfig())
    rng = np.random.default_rng(4)
    few = synthetic([rng.uniform(-0.3, 0.3, size=3) for _ in range(4)])
    with pytest.raises(CalibrationError, match="only 4 views"):
        solve_hand_eye(few, "eye_in_hand", INTRINSICS, centre, HandEyeConfig())
    with pytest.raises(CalibrationError, match="not seen in any view"):
        solve_hand_eye([], "eye_in_hand", INTRINSICS, centre, HandEyeConfig())


def test_too_few_views_through_the_server_write_nothing(start_server, tmp_path: Path, capsys) -> None:
    running = start_server(arm=SimConfig(board=SimBoardConfig(mount="table")), cameras=CAMERAS)
    output = tmp_path / "calibration.yaml"
    config = CalibrateConfig(
        action="handeye", server=running.address, camera="wrist", output=output, sampler=SamplerConfig(poses=4)
    )
    assert calibrate(config) == 1
    assert "only 4 views with the board seen" in capsys.readouterr().err
    assert not output.exists()
    assert calibrate(dataclasses.replace(config, action="intrinsics")) == 1
    assert "intrinsics need at least 5" in capsys.readouterr().err and not output.exists()


def test_a_board_never_seen_writes_nothing(start_server, tmp_path: Path, capsys) -> None:
    running = start_server(cameras=CAMERAS)  # no board in the scene
    output = tmp_path / "calibration.yaml"
    update_camera(output, "front", {"extrinsics": {"frame": "base", "position": [1, 0, 0], "quat": [1, 0, 0, 0]}}, "x")
    before = output.read_text()
    for action in ("handeye", "intrinsics"):
        config = CalibrateConfig(action=action, server=running.address, camera="wrist", output=output)
        assert calibrate(config) == 1
        assert "the board is not in view of camera 'wrist'" in capsys.readouterr().err
    assert output.read_text() == before
    # A camera the server does not have, and a setup that cannot be told, are named.
    config = CalibrateConfig(action="handeye", server=running.address, camera="side", output=output)
    assert calibrate(config) == 1 and "no camera 'side'" in capsys.readouterr().err


def test_operator_samples_without_the_board_write_nothing(start_server, tmp_path: Path, capsys) -> None:
    running = start_server(cameras=CAMERAS)  # no board in the scene
    address = f"tcp://127.0.0.1:{free_port()}"
    stop = threading.Event()

    def press_twice_then_done() -> None:
        publisher = CommandPublisher(address)
        start = time.monotonic()
        while not stop.is_set():
            t = time.monotonic() - start
            toggles, done = int(t >= 1.0) + int(t >= 1.6), t >= 2.4
            publisher.publish(OperatorCommand(gripper_toggles=toggles, mark_seq=int(done), stamp=time.monotonic()))
            time.sleep(0.02)
        publisher.close()

    thread = threading.Thread(target=press_twice_then_done, daemon=True)
    output = tmp_path / "calibration.yaml"
    config = CalibrateConfig(
        action="handeye",
        server=running.address,
        camera="wrist",
        source="teleop",
        teleop=address,
        output=output,
        handeye=HandEyeConfig(setup="eye_in_hand"),
    )
    thread.start()
    try:
        assert calibrate(config) == 1
    finally:
        stop.set()
        thread.join(5)
    out, err = capsys.readouterr()
    assert "sample 2: board not seen" in out
    assert "the board was not seen in any of the 2 images of camera 'wrist'" in err and not output.exists()
