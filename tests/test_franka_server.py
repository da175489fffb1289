"""The robot server driving the Franka backend against franky-sim, through `RobotClient`: the
server's safety (workspace clamp, watchdog, STOP, recover) on the real franky code path, and two
arms served at once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.client import RobotClient, RobotError
from robot_server.config import ServerConfig
from robot_server.limits import DEFAULT_LIMITS_FILE
from robot_server.server import RobotServer
from tests.franky_sim_fixture import SKIP_REASON, FaultInjectingSeam, FrankySim

if SKIP_REASON is not None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from robot_server.backends.franka.backend import FrankaBackend

WORKSPACE_MIN = np.array([0.25, -0.35, 0.0])
WORKSPACE_MAX = np.array([0.75, 0.35, 0.5])
"""The box of robot_server/limits.yaml."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def limits_file(tmp_path: Path, cmd_timeout: float) -> Path:
    lines = DEFAULT_LIMITS_FILE.read_text().splitlines()
    text = "\n".join(f"  cmd_timeout: {cmd_timeout}" if "cmd_timeout:" in line else line for line in lines)
    path = tmp_path / "limits.yaml"
    path.write_text(text + "\n")
    return path


def wait_until(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


class FrankaServer:
    """A robot server in a thread, driving one simulated arm through the Franka backend."""

    def __init__(self, host: str, **overrides: Any) -> None:
        arm = FrankaArmConfig(
            host=host,
            realtime="ignore",
            velocity_factor=0.5,
            acceleration_factor=0.5,
            jerk_factor=0.5,
            call_timeout=2.0,
        )
        self.seam = FaultInjectingSeam(arm)
        self.backend = FrankaBackend(arm, seam=self.seam)
        config = ServerConfig(port=free_port(), pub_port=free_port(), mode="realtime", pub_images=False, **overrides)
        self.server = RobotServer(config, backend=self.backend)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        if not self.server.ready.wait(30):
            raise RuntimeError("the franka server did not start")
        self.client = RobotClient(f"tcp://127.0.0.1:{config.port}", timeout=30.0)

    def tcp(self) -> np.ndarray:
        return np.array(self.client.state()["tcp_pos"])

    def near(self, target: np.ndarray, tolerance: float = 0.004) -> bool:
        return bool(np.linalg.norm(self.tcp() - target) < tolerance)

    def stop(self) -> None:
        self.client.close()
        self.server.shutdown()
        self.thread.join(30)


def drive(servers: list[FrankaServer], targets: list[np.ndarray], timeout: float = 5.0) -> bool:
    """Send each server its target at 10 Hz, as a policy would, until every arm is there; then
    stop commanding (the watchdog holds each arm after cmd_timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for running, target in zip(servers, targets, strict=True):
            running.client.move(target)
        time.sleep(0.1)
        if all(running.near(target) for running, target in zip(servers, targets, strict=True)):
            return True
    return False


@pytest.fixture(scope="module")
def two_arms() -> Iterator[FrankySim]:
    sim = FrankySim(arms=2)
    yield sim
    sim.close()


@pytest.fixture
def served(two_arms: FrankySim, tmp_path: Path) -> Iterator[FrankaServer]:
    """The first arm, reset to its home joints, with a 0.5 s command watchdog."""
    running = FrankaServer(two_arms.hosts[0], limits=limits_file(tmp_path, cmd_timeout=0.5))
    running.client.reset(images=False)
    yield running
    running.stop()


def test_moves_to_a_target_and_holds_it(served: FrankaServer) -> None:
    client = served.client
    info = client.info()
    assert info["backend"] == "franka" and info["modes"] == ["realtime"] and info["cameras"] == {}
    target = served.tcp() + np.array([0.03, -0.02, 0.01])
    assert drive([served], [target])
    assert wait_until(lambda: client.state()["holding"], timeout=3.0)  # the watchdog took over
    time.sleep(0.5)
    state = client.state()
    assert np.linalg.norm(np.array(state["tcp_pos"]) - target) < 0.005
    assert state["fault"] == "" and state["watchdog_holds"] >= 1


def test_targets_outside_the_box_are_clamped_and_the_arm_stays_inside(served: FrankaServer) -> None:
    client = served.client
    for _ in range(8):  # the box's top is 0.2 m above home, more than three steps of 0.06 m
        reply = client.move(served.tcp() + np.array([0.0, 0.0, 0.3]))
        assert reply.data["target_pos"][2] <= WORKSPACE_MAX[2] + 1e-9
        time.sleep(0.3)
    state = client.state()
    assert state["clamps"]["workspace"] >= 1
    assert state["target_pos"][2] == pytest.approx(WORKSPACE_MAX[2])
    tcp = np.array(state["tcp_pos"])
    assert (tcp <= WORKSPACE_MAX + 0.005).all() and (tcp >= WORKSPACE_MIN - 0.005).all()
    assert tcp[2] > WORKSPACE_MAX[2] - 0.01  # it got to the top of the box and no further


def test_stop_preempts_and_recover_rearms(served: FrankaServer) -> None:
    client = served.client
    client.stop()
    held = served.tcp()
    with pytest.raises(RobotError) as info:
        client.move(held + np.array([0.03, 0.0, 0.0]))
    assert info.value.code == "stopped"
    time.sleep(0.3)
    assert np.linalg.norm(served.tcp() - held) < 0.003
    client.recover()
    assert drive([served], [held + np.array([0.03, 0.0, 0.0])])


def test_a_control_error_refuses_targets_until_recover(served: FrankaServer) -> None:
    client = served.client
    start = served.tcp()
    served.seam.inject_reflex()  # the next motion call raises franky's ControlException
    state = client.state()
    assert "reflex" in state["fault"]
    with pytest.raises(RobotError) as info:
        client.move(start + np.array([0.03, 0.0, 0.0]))
    assert info.value.code == "backend_error" and "reflex" in info.value.message
    time.sleep(0.3)
    assert np.linalg.norm(served.tcp() - start) < 0.003
    client.recover()
    assert client.state()["fault"] == ""
    assert drive([served], [start + np.array([0.03, 0.0, 0.0])])


def test_gripper_opens_and_closes(served: FrankaServer, two_arms: FrankySim) -> None:
    client = served.client
    client.gripper(0.0, force=20.0)
    assert wait_until(lambda: two_arms.hand_width(0) < 0.005, timeout=10.0)
    assert wait_until(lambda: client.state()["gripper_width"] < 0.005, timeout=2.0)
    client.gripper(0.08)
    assert wait_until(lambda: two_arms.hand_width(0) > 0.07, timeout=10.0)


def test_reset_returns_to_the_home_joints(served: FrankaServer) -> None:
    client = served.client
    client.move(served.tcp() + np.array([0.05, 0.05, -0.05]))
    time.sleep(1.0)
    state = client.reset(images=False).data
    home = np.array(client.info()["home_joints"])
    assert state["fault"] == "" and not state["stopped"]
    assert wait_until(lambda: np.abs(np.array(client.state()["joint_pos"]) - home).max() < 0.05, timeout=3.0)
    np.testing.assert_allclose(served.tcp(), [0.5, 0.0, 0.3], atol=0.005)


OFFSETS = ([0.03, 0.03, 0.0], [-0.03, -0.03, 0.02])


def test_two_arms_served_at_once_each_hold_their_own_target(two_arms: FrankySim, tmp_path: Path) -> None:
    assert two_arms.hosts == ["127.0.0.1", "127.0.0.2"]
    servers = [FrankaServer(host, limits=limits_file(tmp_path, cmd_timeout=0.5)) for host in two_arms.hosts]
    try:
        for running in servers:
            running.client.reset(images=False)
        targets = [running.tcp() + np.array(offset) for running, offset in zip(servers, OFFSETS, strict=True)]
        assert drive(servers, targets)
        time.sleep(1.0)  # both watchdogs hold
        for running, target in zip(servers, targets, strict=True):
            state = running.client.state()
            assert state["holding"] and state["fault"] == ""
            assert np.linalg.norm(np.array(state["tcp_pos"]) - target) < 0.005
    finally:
        for running in servers:
            running.stop()
