"""The contract every arm backend keeps behind the robot server, one test body for all of them.

Each backend is built by the registry from `ServerConfig.arm` / `ServerConfig.cameras` and served
in real-time mode by an in-process `RobotServer` (a thread), driven through `RobotClient`:

- `sim`: MuJoCo, with its own (`sim`) cameras;
- `franka`: franky-control against franky-sim (skipped when either is missing), an arm served
  alone (cameras `none`).

A backend joins the contract by adding one entry to `BACKENDS`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.backends.no_cameras import NoCamerasConfig
from robot_server.client import RobotClient, RobotError
from robot_server.server import RobotServer
from teleop.scripted_pick import scripted_pick_action
from tests.conftest import server_config
from tests.franky_sim_fixture import FrankySim, franky_sim

__all__ = ["franky_sim"]  # a fixture, used by name

REACHED = 0.004
"""How close the TCP must come to a target it was driven to, metres."""
HELD = 0.005
"""How far a held TCP may be from where it was held, metres."""
STILL = 0.003
"""How far a held arm may drift over half a second, metres."""
COMMAND_PERIOD = 0.1
"""Seconds between two commands of a streaming client (a 10 Hz policy)."""


def sim_server(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The simulated Panda and its rendered cameras (small, to spare a shared CPU)."""
    return {"arm": SimConfig(), "cameras": SimCamerasConfig(image_height=64, image_width=64)}


def franka_server(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The Franka backend on a franky-sim arm (the module's `franky_sim` fixture skips without it)."""
    sim: FrankySim = request.getfixturevalue("franky_sim")
    arm = FrankaArmConfig(
        host=sim.hosts[0],
        realtime="ignore",  # no PREEMPT_RT kernel in CI
        velocity_factor=0.5,
        acceleration_factor=0.5,
        jerk_factor=0.5,
        call_timeout=2.0,
    )
    return {"arm": arm, "cameras": NoCamerasConfig()}


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], dict[str, Any]]] = {
    "sim": sim_server,
    "franka": franka_server,
}
"""Each arm backend under contract: its `ServerConfig` overrides (the arm and the cameras)."""


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@dataclass
class Served:
    """A running server, its client, and what the server says of itself."""

    backend: str
    server: RobotServer
    thread: threading.Thread
    client: RobotClient
    info: dict[str, Any]
    home_tcp: np.ndarray
    """The TCP at the home joints, as the fixture's reset left it."""

    @property
    def cmd_timeout(self) -> float:
        return float(self.info["limits"]["cmd_timeout"])

    @property
    def box(self) -> tuple[np.ndarray, np.ndarray]:
        limits = self.info["limits"]
        return np.array(limits["workspace_min"]), np.array(limits["workspace_max"])

    def tcp(self) -> np.ndarray:
        return np.array(self.client.state()["tcp_pos"])

    def near(self, target: np.ndarray, tolerance: float = REACHED) -> bool:
        return bool(np.linalg.norm(self.tcp() - target) < tolerance)

    def drive(self, target: np.ndarray, timeout: float = 8.0) -> bool:
        """Send `target` at 10 Hz, as a policy would, until the TCP is there (the watchdog would
        hold the arm cmd_timeout after a single command); then stop commanding."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.client.move(target)
            time.sleep(COMMAND_PERIOD)
            if self.near(target):
                return True
        return False

    def stop(self) -> None:
        self.client.close()
        self.server.shutdown()
        self.thread.join(30)


@pytest.fixture(scope="module", params=list(BACKENDS))
def running(request: pytest.FixtureRequest) -> Iterator[Served]:
    """One real-time server per backend for the whole module (pytest groups the tests by backend)."""
    backend = str(request.param)
    config = server_config(mode="realtime", pub_images=False, **BACKENDS[backend](request))
    server = RobotServer(config)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    if not server.ready.wait(60):
        server.shutdown()
        raise RuntimeError(f"the {backend} server did not start")
    # A Franka reset is a joint motion that blocks the server until it ends: wait for it.
    client = RobotClient(f"tcp://127.0.0.1:{config.port}", timeout=30.0)
    served = Served(backend, server, thread, client, client.info(), np.zeros(3))
    yield served
    served.stop()


@pytest.fixture
def served(running: Served) -> Served:
    """The module's server, re-armed and reset to the home joints (the cube back at its default
    pose), whatever the test before left it in."""
    client = running.client
    state = client.state()
    if state["stopped"] or state["fault"]:
        client.recover()
    reply = client.reset(images=False, randomize_scene=False)
    running.home_tcp = np.array(reply.data["tcp_pos"])
    return running


# ---------------------------------------------------------------------- state


VECTORS = {
    "tcp_pos": 3,
    "tcp_quat": 4,
    "tcp_rotvec": 3,
    "tcp_linvel": 3,
    "tcp_angvel": 3,
    "joint_pos": 7,
    "joint_vel": 7,
    "target_pos": 3,
    "target_quat": 4,
}
"""The state's vectors every backend reports, and their sizes."""


def test_state_fields_are_present_and_finite(served: Served) -> None:
    info = served.info
    assert info["mode"] == "realtime" and "realtime" in info["modes"]
    assert len(info["home_joints"]) == 7 and all(math.isfinite(q) for q in info["home_joints"])
    assert 0.0 < info["max_gripper_width"] <= 0.1
    state = served.client.state()
    for name, size in VECTORS.items():
        values = np.array(state[name], dtype=float)
        assert values.shape == (size,), name
        assert np.isfinite(values).all(), f"{name} = {state[name]}"
    assert abs(np.linalg.norm(state["tcp_quat"]) - 1.0) < 1e-6
    width = state["gripper_width"]
    assert math.isfinite(width) and -0.001 <= width <= info["max_gripper_width"] + 0.005
    assert math.isfinite(state["stamp"])
    assert state["fault"] == "" and not state["stopped"] and state["mode"] == "realtime"
    assert state["camera_faults"] == {}
    low, high = served.box
    assert ((low <= served.home_tcp) & (served.home_tcp <= high)).all()  # home lies inside the box
    joints = np.array(state["joint_pos"])
    assert np.abs(joints - np.array(info["home_joints"])).max() < 0.05


# ---------------------------------------------------------------------- motion


def test_moves_to_a_target_and_holds_it(served: Served) -> None:
    client = served.client
    target = served.tcp() + np.array([0.03, -0.02, 0.01])
    assert served.drive(target), f"the TCP stayed at {served.tcp()}, target {target}"
    assert wait_until(lambda: client.state()["holding"], timeout=served.cmd_timeout + 2.0)  # the watchdog took over
    time.sleep(0.5)
    state = client.state()
    assert np.linalg.norm(np.array(state["tcp_pos"]) - target) < HELD
    assert state["fault"] == "" and state["watchdog_holds"] >= 1


def test_a_target_outside_the_box_ends_inside_it(served: Served) -> None:
    client = served.client
    low, high = served.box
    before = client.state()["clamps"]["workspace"]
    for _ in range(8):  # the box's top is more than three steps of max_translation above home
        reply = client.move(served.tcp() + np.array([0.0, 0.0, 0.3]))
        assert reply.data["target_pos"][2] <= high[2] + 1e-9
        time.sleep(0.3)
    state = client.state()
    assert state["clamps"]["workspace"] > before
    assert state["target_pos"][2] == pytest.approx(high[2])
    tcp = np.array(state["tcp_pos"])
    assert (tcp <= high + HELD).all() and (tcp >= low - HELD).all()
    assert tcp[2] > high[2] - 0.01  # it got to the top of the box and no further


def test_the_watchdog_holds_after_cmd_timeout(served: Served) -> None:
    client = served.client
    start = served.tcp()
    holds = client.state()["watchdog_holds"]
    for step in range(1, 6):  # a moving stream of targets (5 cm/s), then silence
        client.move(start + np.array([0.005 * step, 0.0, 0.0]))
        time.sleep(COMMAND_PERIOD)
    silent_from = time.monotonic()
    assert not client.state()["holding"]  # still within cmd_timeout of the last command
    assert wait_until(lambda: client.state()["holding"], timeout=served.cmd_timeout + 1.0)
    waited = time.monotonic() - silent_from
    assert waited >= served.cmd_timeout - COMMAND_PERIOD - 0.05
    assert client.state()["watchdog_holds"] == holds + 1
    held = np.array(client.state()["target_pos"])  # the pose measured when the watchdog held
    # The arm may still have been moving then: it comes back to that pose...
    assert wait_until(lambda: served.near(held, HELD), timeout=2.0), f"TCP at {served.tcp()}, held at {held}"
    settled = served.tcp()
    time.sleep(0.5)  # ...and stays there
    assert np.linalg.norm(served.tcp() - settled) < STILL
    assert client.state()["watchdog_holds"] == holds + 1  # one hold per silence


def test_stop_preempts_a_motion_and_recover_rearms(served: Served) -> None:
    client = served.client
    start = served.tcp()
    away = start + np.array([0.05, 0.0, 0.0])
    client.move(away)
    client.stop()  # at once: the arm has barely left
    state = client.state()
    assert state["stopped"] and state["stop_reason"]
    with pytest.raises(RobotError) as refused:
        client.move(away)
    assert refused.value.code == "stopped"
    time.sleep(1.0)
    tcp = served.tcp()
    assert np.linalg.norm(tcp - away) > 0.03, "the arm went on to the target after STOP"
    assert np.linalg.norm(tcp - np.array(client.state()["target_pos"])) < HELD  # held where it stopped
    client.recover()
    assert not client.state()["stopped"]
    assert served.drive(away)


# ---------------------------------------------------------------------- gripper


def test_gripper_closes_and_opens(served: Served) -> None:
    client = served.client
    widest = float(served.info["max_gripper_width"])
    client.gripper(0.0, force=20.0)
    assert wait_until(lambda: client.state()["gripper_width"] < 0.005, timeout=10.0)
    client.gripper(widest)
    assert wait_until(lambda: client.state()["gripper_width"] > widest - 0.01, timeout=10.0)
    assert client.state()["fault"] == ""


def test_grasps_and_lifts_the_scene_object(served: Served) -> None:
    client = served.client
    state = client.state()
    if "sim_cube_pos" not in state:
        pytest.skip(f"the {served.backend} backend's scene has no object to grasp (franky-sim simulates the arm alone)")
    deadline = time.monotonic() + 30.0
    while not state["success"] and time.monotonic() < deadline:
        client.act(scripted_pick_action(state))
        time.sleep(COMMAND_PERIOD)
        state = client.state()
    assert state["success"], f"no grasp: cube at {state['sim_cube_pos']}, TCP at {state['tcp_pos']}"
    assert state["sim_grasped"] and state["sim_cube_lift"] >= 0.05
    assert state["gripper_width"] > 0.03  # closed on the cube, not on nothing


# ---------------------------------------------------------------------- reset


def test_reset_returns_to_the_home_joints(served: Served) -> None:
    client = served.client
    assert served.drive(served.tcp() + np.array([0.04, 0.04, -0.04]))
    state = client.reset(images=False, randomize_scene=False).data
    assert state["fault"] == "" and not state["stopped"]
    home = np.array(served.info["home_joints"])
    assert wait_until(lambda: np.abs(np.array(client.state()["joint_pos"]) - home).max() < 0.05, timeout=3.0)
    assert np.linalg.norm(served.tcp() - served.home_tcp) < HELD
    assert np.linalg.norm(np.array(state["target_pos"]) - np.array(state["tcp_pos"])) < HELD  # it holds there
