"""`rlif calibrate workspace`: the box of the corners the arm was driven to (a scripted sequence of
moves, or an operator on the teleop stream), with its margin, written as a limits file the server
loads; a degenerate box or one beyond the arm's reach is refused and nothing is written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("cv2", reason="OpenCV is not installed (pip install -e '.[calibration]')")

from calibration.cli import calibrate
from calibration.config import CalibrateConfig, WorkspaceConfig
from calibration.handeye import CalibrationError
from calibration.workspace import box_from
from robot_server.backends.no_cameras import NoCamerasConfig
from robot_server.limits import DEFAULT_LIMITS_FILE, Limits
from teleop.publishers import CommandPublisher
from tests.conftest import RunningServer, free_port
from wire.operator import MARK_SUCCESS, OperatorCommand

CORNERS = ((0.35, -0.2, 0.1), (0.6, 0.2, 0.35), (0.45, 0.05, 0.2))
DOWN = (0.0, 1.0, 0.0, 0.0)


def config(running: RunningServer, output: Path, **workspace: object) -> CalibrateConfig:
    return CalibrateConfig(
        action="workspace",
        server=running.address,
        source="scripted",
        output=output,
        workspace=WorkspaceConfig(**workspace),  # type: ignore[arg-type]
    )


def test_scripted_corners_give_the_limits_file_the_server_loads(start_server, tmp_path: Path) -> None:
    running = start_server(cameras=NoCamerasConfig())
    output = tmp_path / "limits.yaml"
    assert calibrate(config(running, output, corners=CORNERS, margin=0.01)) == 0
    written = Limits.load(output)
    points = np.array(CORNERS)
    assert np.allclose(written.workspace_min, points.min(axis=0) + 0.01, atol=0.002)
    assert np.allclose(written.workspace_max, points.max(axis=0) - 0.01, atol=0.002)
    # The other sections are the server's own.
    default = Limits.load(DEFAULT_LIMITS_FILE)
    assert written.max_translation == default.max_translation and written.cmd_timeout == default.cmd_timeout
    assert np.allclose(written.reference_quat, default.reference_quat)

    served = start_server(cameras=NoCamerasConfig(), limits=output)
    with served.client() as client:
        limits = client.info()["limits"]
    assert np.allclose(limits["workspace_min"], written.workspace_min)
    assert np.allclose(limits["workspace_max"], written.workspace_max)


def test_a_flat_box_is_refused_and_nothing_is_written(start_server, tmp_path: Path, capsys) -> None:
    running = start_server(cameras=NoCamerasConfig())
    output = tmp_path / "limits.yaml"
    flat = ((0.35, -0.2, 0.2), (0.6, 0.2, 0.2))
    assert calibrate(config(running, output, corners=flat)) == 1
    assert "degenerate box: z" in capsys.readouterr().err
    assert not output.exists() and not list(tmp_path.iterdir())


def test_too_few_corners_and_boxes_beyond_reach_are_refused() -> None:
    with pytest.raises(CalibrationError, match="at least 2"):
        box_from([(0.4, 0.0, 0.2)], WorkspaceConfig(), DOWN)
    # The shipped box's far top corners are beyond the conservative reach radius.
    with pytest.raises(CalibrationError, match="beyond the arm's reach"):
        box_from([(0.25, -0.35, 0.0), (0.75, 0.35, 0.5)], WorkspaceConfig(margin=0.0), DOWN)
    low, high = box_from([(0.3, -0.2, 0.05), (0.6, 0.2, 0.4)], WorkspaceConfig(margin=0.02), DOWN)
    assert np.allclose(low, [0.32, -0.18, 0.07]) and np.allclose(high, [0.58, 0.18, 0.38])


def operator(address: str, stop: threading.Event) -> None:
    """A scripted operator on the teleop stream: a corner where the arm is, then down, forward and
    to the side for a while, another corner, then done."""
    publisher = CommandPublisher(address)
    start = time.monotonic()
    try:
        while not stop.is_set():
            t = time.monotonic() - start
            moving = 1.5 <= t < 3.0
            twist = np.array([0.6, 0.5, -0.8, 0, 0, 0], np.float32) if moving else np.zeros(6, np.float32)
            command = OperatorCommand(
                twist=twist,
                active=moving,
                gripper_toggles=(t >= 1.0) + (t >= 4.0),
                mark=MARK_SUCCESS if t >= 5.5 else -1,
                mark_seq=int(t >= 5.5),
                source="keyboard",
                stamp=time.monotonic(),
            )
            publisher.publish(command)
            time.sleep(0.02)
    finally:
        publisher.close()


def test_the_operator_drives_to_the_corners(start_server, tmp_path: Path) -> None:
    running = start_server(cameras=NoCamerasConfig())
    with running.client() as client:
        home = np.array(client.state()["tcp_pos"])
    address = f"tcp://127.0.0.1:{free_port()}"
    stop = threading.Event()
    thread = threading.Thread(target=operator, args=(address, stop), daemon=True)
    output = tmp_path / "limits.yaml"
    settings = CalibrateConfig(
        action="workspace",
        server=running.address,
        source="teleop",
        teleop=address,
        output=output,
        workspace=WorkspaceConfig(margin=0.0),
    )
    thread.start()
    try:
        assert calibrate(settings) == 0
    finally:
        stop.set()
        thread.join(5)
    with running.client() as client:
        last = np.array(client.state()["tcp_pos"])
    assert np.linalg.norm(last - home) > 0.1  # the operator moved the arm
    written = yaml.safe_load(output.read_text())["workspace"]
    assert np.allclose(written["min"], np.minimum(home, last), atol=0.003)
    assert np.allclose(written["max"], np.maximum(home, last), atol=0.003)
