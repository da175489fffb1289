"""The seam between the server and the hardware (or simulation) it drives.

An arm backend tracks a Cartesian target with an impedance controller, drives a
parallel gripper, moves to joint positions, stops and recovers. A camera backend
hands out the newest frame of each named camera with its capture time. The server
is written against these protocols only; the MuJoCo simulation implements all of
them, a Franka backend (franky-control: `Robot`, `CartesianImpedance`-style tracking,
`Gripper.grasp/move`, `recover_from_errors`) and a RealSense backend (pyrealsense2:
`pipeline.poll_for_frames`, frame timestamps and numbers) implement the arm and
camera parts, and the simulation alone implements `LockstepClock` and `SimScene`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ArmState:
    """One reading of the arm, all in the robot base frame."""

    tcp_pos: np.ndarray
    """TCP position, metres (3,)."""
    tcp_quat: np.ndarray
    """TCP orientation, unit quaternion [w, x, y, z] (4,)."""
    tcp_linvel: np.ndarray
    """TCP linear velocity, m/s (3,)."""
    tcp_angvel: np.ndarray
    """TCP angular velocity, rad/s (3,)."""
    joint_pos: np.ndarray
    """Joint positions, rad (7,)."""
    joint_vel: np.ndarray
    """Joint velocities, rad/s (7,)."""
    gripper_width: float
    """Opening between the fingers, metres."""
    stamp: float
    """Monotonic time of the reading, seconds (time.monotonic of the server host)."""
    fault: str = ""
    """Empty when the arm is healthy, else what the controller reported (reflex, limit...)."""


@dataclass(frozen=True)
class CameraFrame:
    image: np.ndarray
    """uint8 HxWx3 RGB."""
    stamp: float
    """Monotonic capture time, seconds."""
    counter: int
    """Frames delivered by this camera since the backend started."""


@runtime_checkable
class Arm(Protocol):
    """A 7-DoF arm with a parallel gripper, tracking a Cartesian impedance target."""

    name: str
    home_joints: np.ndarray
    joint_lower: np.ndarray
    """Lower joint limits, rad (7,)."""
    joint_upper: np.ndarray
    """Upper joint limits, rad (7,)."""
    max_gripper_width: float

    def read(self) -> ArmState: ...

    def set_target(self, pos: np.ndarray, quat: np.ndarray) -> None:
        """Track this TCP pose with the impedance controller; returns at once."""

    def set_gripper(self, width: float, force: float) -> None:
        """Move the fingers towards `width`, pressing with at most `force` on contact."""

    def tcp_pose_at(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: the TCP position and quaternion [w, x, y, z] at `joints`."""

    def move_to_joints(self, joints: np.ndarray) -> None:
        """Go to these joint positions and track the resulting TCP pose afterwards."""

    def hold(self) -> None:
        """Track the pose measured now: the watchdog's and STOP's reaction."""

    def recover(self) -> None:
        """Clear a fault so that targets are tracked again."""

    def sync(self, now: float) -> None:
        """Real-time mode: let the arm catch up with the wall clock (no-op on hardware)."""

    def close(self) -> None: ...


@runtime_checkable
class Cameras(Protocol):
    names: tuple[str, ...]
    height: int
    width: int

    def latest(self, names: tuple[str, ...]) -> dict[str, CameraFrame]:
        """The newest frame of each camera, captured at or after the last physics change."""

    def sync(self, now: float) -> None:
        """Real-time mode: capture frames that are due (no-op where a device thread does it)."""

    def close(self) -> None: ...


@runtime_checkable
class LockstepClock(Protocol):
    """Simulation only: time advances when asked, as fast as the CPU allows."""

    def advance(self, seconds: float) -> None: ...

    def start_realtime(self, now: float) -> None:
        """Anchor simulated time to the wall clock from `now` on."""

    @property
    def sim_time(self) -> float: ...


@runtime_checkable
class SimScene(Protocol):
    """Simulation only: the task's objects and the success oracle."""

    def observe(self) -> dict[str, Any]:
        """Privileged, sim-only facts (object poses, `success`), keys prefixed `sim_`."""


@runtime_checkable
class Backend(Protocol):
    """What the server drives: an arm, cameras, and for simulation a clock and a scene."""

    arm: Arm
    cameras: Cameras
    clock: LockstepClock | None
    """None on hardware: lockstep mode is then unavailable."""
    scene: SimScene | None
    """None on hardware: there is no success oracle."""
    physics_dt: float | None

    def reset(self, joints: np.ndarray, rng: np.random.Generator | None, randomize_scene: bool) -> None:
        """Bring the arm to `joints` (and in simulation the scene to a new random layout)."""

    def state_version(self) -> int | None:
        """A number that changes whenever the arm or scene may have moved, so that readings
        can be reused until it does; None where every reading must be fresh (hardware)."""

    def close(self) -> None: ...
