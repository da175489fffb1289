"""Settings of the Franka arm backend (`arm: {type: franka, ...}`); importable without franky,
so that configuration never loads libfranka."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

FR3_JOINT_LOWER = (-2.9007, -1.8361, -2.9007, -3.0770, -2.8763, 0.4398, -3.0508)
"""FR3 joint limits from its URDF (franka_description), rad."""
FR3_JOINT_UPPER = (2.9007, 1.8361, 2.9007, -0.1169, 2.8763, 4.6216, 3.0508)
"""FR3 joint limits from its URDF (franka_description), rad."""
HOME_JOINTS = (0.0, -0.11, 0.0, -2.273, 0.0, 2.163, 0.785)
"""The FR3 (with the Franka Hand) at TCP (0.50, 0.00, 0.30) m, gripper pointing down: the middle
of the default workspace box. franky's own start pose (0, 0, 0, -1.57, 0, 1.57, 0.785) puts the
TCP at z = 0.52 m, above the box."""


@dataclass(frozen=True)
class FrankaArmConfig:
    """A Franka FR3 or Panda driven through franky-control (libfranka)."""

    type: Literal["franka"] = "franka"
    """Backend name."""
    host: str = "172.16.0.2"
    """Address of the arm's control unit (FCI), as set in Desk."""
    control_mode: Literal["impedance", "cartesian_motion"] = "impedance"
    """`impedance`: franky's CartesianImpedanceTracker runs a 1 kHz torque-level Cartesian
    impedance controller whose reference each target replaces (the arm is a spring around the
    target). `cartesian_motion`: each target is an absolute asynchronous `CartesianMotion`
    (Ruckig trajectory, the robot's internal controller) that replaces the previous one."""
    translational_stiffness: float = 2000.0
    """Impedance mode: translational stiffness, N/m."""
    rotational_stiffness: float = 150.0
    """Impedance mode: rotational stiffness, N m/rad."""
    translational_damping: float | None = None
    """Impedance mode: translational damping, N s/m; None for critical damping."""
    rotational_damping: float | None = None
    """Impedance mode: rotational damping, N m s/rad; None for critical damping."""
    translational_error_clip: float = 0.02
    """Impedance mode: largest position error the controller sees per axis, m (bounds the force
    when the target jumps or contact blocks the arm)."""
    rotational_error_clip: float = 0.1
    """Impedance mode: largest orientation error the controller sees per axis, rad."""
    max_delta_tau: float = 1.0
    """Impedance mode: largest change of a commanded joint torque per 1 ms cycle, N m."""
    gains_time_constant: float = 0.1
    """Impedance mode: time constant with which stiffness changes are blended in, s."""
    nullspace_stiffness: float = 10.0
    """Impedance mode: stiffness that pulls the elbow (the arm's redundant degree of freedom)
    towards the joints where tracking began, without moving the TCP, N m/rad; 0 switches it off."""
    collision_torque_thresholds: tuple[float, ...] = (20.0,) * 7
    """Joint torques above which the robot's collision reflex stops the arm, N m (7)."""
    collision_force_thresholds: tuple[float, ...] = (30.0,) * 6
    """Cartesian forces/torques above which the collision reflex stops the arm, N and N m (6)."""
    velocity_factor: float = 0.2
    """Relative dynamics factor (0, 1]: share of the robot's velocity limits used by joint
    motions (resets) and Cartesian motions."""
    acceleration_factor: float = 0.2
    """Relative dynamics factor (0, 1] for accelerations."""
    jerk_factor: float = 0.2
    """Relative dynamics factor (0, 1] for jerks."""
    realtime: Literal["enforce", "ignore"] = "enforce"
    """libfranka's realtime check: `enforce` on the PREEMPT_RT robot PC, `ignore` in CI (franky-sim)."""
    home_joints: tuple[float, ...] = HOME_JOINTS
    """Joint positions of a reset that names none, rad (7)."""
    joint_lower: tuple[float, ...] = FR3_JOINT_LOWER
    """Lower joint limits that reset targets are checked against, rad (7); FR3 by default."""
    joint_upper: tuple[float, ...] = FR3_JOINT_UPPER
    """Upper joint limits, rad (7)."""
    joint_noise: float = 0.0
    """Amplitude of a randomised reset's joint noise, rad (0: resets on hardware are exact)."""
    connect_timeout: float = 5.0
    """Longest wait for the arm (and the gripper) to accept a connection, s."""
    call_timeout: float = 1.0
    """Longest wait for any other call into franky (a state read, a new target, a stop), s."""
    reset_timeout: float = 30.0
    """Longest wait for a motion to finish or come to rest (a reset's joint motion, a stop) and
    for the robot's error recovery, s."""
    has_gripper: bool = True
    """Whether a Franka Hand is attached (connected on its own connection)."""
    home_gripper: bool = True
    """Home the gripper at start-up (measures its maximum width)."""
    gripper_speed: float = 0.05
    """Finger speed of every gripper command, m/s."""
    gripper_force: float = 40.0
    """Grasp force used when a command gives none (non-positive or non-finite force), N."""
    gripper_timeout: float = 10.0
    """Longest wait for one gripper command (homing, move, grasp) to finish, s."""
    gripper_width_tolerance: float = 0.004
    """Gripper commands within this distance of the last one sent are not sent again, m."""
    recovery_retries: int = 3
    """How many times `recover` calls the robot's automatic error recovery before giving up."""
    recovery_pause: float = 0.5
    """Wait between two recovery attempts, s."""

    def __post_init__(self) -> None:
        vectors = {
            "collision_torque_thresholds": (self.collision_torque_thresholds, 7),
            "collision_force_thresholds": (self.collision_force_thresholds, 6),
            "home_joints": (self.home_joints, 7),
            "joint_lower": (self.joint_lower, 7),
            "joint_upper": (self.joint_upper, 7),
        }
        for name, (values, size) in vectors.items():
            if len(values) != size or not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name} must hold {size} finite numbers, got {values!r}")
        for name in ("velocity_factor", "acceleration_factor", "jerk_factor"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("connect_timeout", "call_timeout", "reset_timeout", "gripper_timeout", "gripper_speed"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.recovery_retries < 1:
            raise ValueError(f"recovery_retries must be at least 1, got {self.recovery_retries}")
        if not all(
            lo <= q <= hi for lo, q, hi in zip(self.joint_lower, self.home_joints, self.joint_upper, strict=True)
        ):
            raise ValueError("home_joints lie outside joint_lower .. joint_upper")
