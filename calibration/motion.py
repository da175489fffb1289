"""Moving the arm through the robot server and taking a still view: a target is sent every
period (the server clamps each to one step from the measured pose and keeps it in the box), in
lockstep mode with simulated time advanced in between, until the arm is there and still."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration.config import MotionConfig
from calibration.geometry import angle_between, pose_matrix, quat_from_matrix
from robot_server.client import RobotClient


@dataclass(frozen=True)
class Still:
    """The arm at rest and what the camera showed then."""

    tcp: np.ndarray
    """T_base_tcp, the measured pose (4x4)."""
    image: np.ndarray | None
    """The camera's image as served, RGB (None when no camera was asked for)."""
    state: dict[str, Any]


def tcp_of(state: dict[str, Any]) -> np.ndarray:
    return pose_matrix(state["tcp_pos"], state["tcp_quat"])


def _still(state: dict[str, Any], speed: float) -> bool:
    return bool(np.linalg.norm(state["tcp_linvel"]) < speed and np.linalg.norm(state["tcp_angvel"]) < 5 * speed)


class Mover:
    def __init__(self, client: RobotClient, config: MotionConfig) -> None:
        self.client = client
        self.config = config
        self.lockstep = client.info()["mode"] == "lockstep"

    def wait(self) -> dict[str, Any]:
        """Let one period pass (simulated in lockstep); the state after it."""
        if self.lockstep:
            return self.client.advance(self.config.period)
        time.sleep(self.config.period)
        return self.client.state()

    def move_to(self, target: np.ndarray) -> tuple[dict[str, Any], bool]:
        """Send T_base_tcp `target` until the arm is there and still, or the time is up; the state
        then and whether it arrived. A fault or a stop raises the server's error."""
        c = self.config
        position, quat = target[:3, 3], quat_from_matrix(target[:3, :3])
        elapsed = 0.0
        state = self.client.state()
        while elapsed < c.timeout:
            self.client.move(position, quat=quat)
            state = self.wait()
            elapsed += c.period
            tcp = tcp_of(state)
            arrived = (
                np.linalg.norm(tcp[:3, 3] - position) < c.position_tolerance
                and angle_between(tcp, target) < c.rotation_tolerance
            )
            if arrived and _still(state, c.still_speed):
                return state, True
        return state, False

    def settle(self) -> dict[str, Any]:
        """Hold the pose the arm has until it is still (the operator let go)."""
        state = self.client.state()
        for _ in range(max(1, round(self.config.timeout / self.config.period))):
            if _still(state, self.config.still_speed):
                break
            state = self.wait()
        return state

    def view(self, camera: str | None) -> Still:
        """The measured pose and the camera's image, taken together."""
        if camera is None:
            state = self.client.state()
            return Still(tcp_of(state), None, state)
        reply = self.client.observation([camera])
        return Still(tcp_of(reply.data), np.asarray(reply.images[camera]), reply.data)
