"""The seam between the server and the hardware (or simulation) it drives.

An arm backend (a "rig") drives a 7-DoF arm that tracks a Cartesian target with an
impedance controller and a parallel gripper; in simulation it also owns the clock and the
scene. A camera backend hands out the newest frame of each named camera with its capture
time. The server drives a `Station`: one rig and one camera backend, each chosen by name in
the configuration (`robot_server.backends.registry`). What only some backends can do is a
declared capability (`LOCKSTEP`, `SUCCESS_ORACLE`, `ON_DEMAND_FRAMES`), never a check of a
backend's type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from robot_server.backends.camera_model import CameraCalibration

LOCKSTEP = "lockstep"
"""The rig has a clock that advances only when asked (simulation)."""
SUCCESS_ORACLE = "success_oracle"
"""The rig knows whether the task succeeded (simulation's privileged state)."""
ON_DEMAND_FRAMES = "on_demand_frames"
"""The cameras can render a frame of the current state when asked (lockstep needs it)."""


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
    """The host's monotonic capture time, seconds (time.monotonic)."""
    counter: int
    """Frames delivered by this camera since the backend started."""
    device_stamp: float | None = None
    """The device's own timestamp, milliseconds, where the camera has one."""
    frame_number: int | None = None
    """The device's frame number, where the camera has one."""
    depth: np.ndarray | None = None
    """uint16 HxW depth aligned to the colour image, where configured."""


class CameraFault(Exception):
    """A camera has no frame to give: it stopped delivering, or never started."""

    def __init__(self, camera: str, reason: str) -> None:
        super().__init__(f"camera {camera!r}: {reason}")
        self.camera = camera
        self.reason = reason


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
    sizes: dict[str, tuple[int, int]]
    """(height, width) of each camera's frames as the backend delivers them."""
    capabilities: frozenset[str]

    def latest(self, names: tuple[str, ...]) -> dict[str, CameraFrame]:
        """The newest frame of each camera (in simulation: captured at or after the last physics
        change); raises CameraFault for a camera that has none to give."""

    def faults(self) -> dict[str, str]:
        """Cameras that are not delivering, and why; empty when all are."""

    def set_on_demand(self, on_demand: bool) -> None:
        """With ON_DEMAND_FRAMES: render each frame when asked (lockstep) or at the frame rate."""

    def sync(self, now: float) -> None:
        """Real-time mode: capture frames that are due (no-op where a device thread does it)."""

    def calibration(self) -> dict[str, CameraCalibration]:
        """Each camera's intrinsics for its frames as delivered (before the server's crop and
        resize), and its pose where the backend knows it; a camera it knows nothing of is absent."""

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
class Rig(Protocol):
    """An arm backend: the arm, and for simulation a clock and a scene."""

    @property
    def arm(self) -> Arm: ...

    @property
    def clock(self) -> LockstepClock | None:
        """None on hardware: lockstep mode is then unavailable."""

    @property
    def scene(self) -> SimScene | None:
        """None on hardware: there is no success oracle."""

    @property
    def physics_dt(self) -> float | None: ...

    @property
    def joint_noise(self) -> float:
        """Amplitude of a randomised reset's joint noise, rad (0: resets are never randomised)."""

    @property
    def capabilities(self) -> frozenset[str]: ...

    def reset(self, joints: np.ndarray, rng: np.random.Generator | None, randomize_scene: bool) -> None:
        """Bring the arm to `joints` (and in simulation the scene to a new random layout)."""

    def state_version(self) -> int | None:
        """A number that changes whenever the arm or scene may have moved, so that readings
        can be reused until it does; None where every reading must be fresh (hardware)."""

    def close(self) -> None: ...


class Station:
    """What the server drives: one rig and one camera backend."""

    def __init__(self, rig: Rig, cameras: Cameras) -> None:
        self.rig = rig
        self.cameras = cameras
        self.arm = rig.arm
        self.clock = rig.clock
        self.scene = rig.scene
        self.physics_dt = rig.physics_dt
        self.joint_noise = rig.joint_noise
        self.capabilities = rig.capabilities | cameras.capabilities

    def reset(self, joints: np.ndarray, rng: np.random.Generator | None, randomize_scene: bool) -> None:
        self.rig.reset(joints, rng, randomize_scene)

    def state_version(self) -> int | None:
        return self.rig.state_version()

    def close(self) -> None:
        try:
            self.cameras.close()
        finally:
            self.rig.close()


Backend = Station
