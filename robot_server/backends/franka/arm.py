"""The Franka arm behind the server's `Arm` protocol: targets, state, resets, faults.

A fault holds until a person's `recover` (the server's `recover` command): a motion franky
aborted (a reflex after a collision, a limit), robot errors, or a connection that stopped
answering. While it holds, targets are ignored (the server refuses them, seeing `fault`). The
only errors cleared without a person are command-stream errors found at start-up.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from robot_server.backends.base import ArmState
from robot_server.backends.franka.calls import FrankaError, FrankaTimeout
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.franka.faults import (
    FrankaConnectionError,
    describe_control_error,
    describe_robot_errors,
    lost,
    needs_person,
)
from robot_server.backends.franka.gripper import HAND_MAX_WIDTH, FrankaGripper
from robot_server.backends.franka.seam import FrankaControlError, FrankyReading, FrankySeam

log = logging.getLogger(__name__)

SETTLE_SPEED = 0.01
"""Joint speed below which the arm counts as at rest after a joint motion, rad/s."""
SETTLE_TIMEOUT = 2.0
"""Longest wait for the arm to come to rest after a joint motion, s."""


@dataclass(frozen=True)
class FrankaArmState(ArmState):
    """`ArmState` and what the Franka reports beyond it."""

    external_wrench: np.ndarray = field(default_factory=lambda: np.zeros(6))
    """Estimated external force and torque on the TCP, base frame (O_F_ext_hat_K), N and N m (6)."""
    robot_mode: str = ""
    """franky.RobotMode name (Idle, Move, Reflex, UserStopped, Guiding, ...); empty if unread."""
    errors: tuple[str, ...] = ()
    """The robot's current error flags (franky.Errors names)."""
    gripper_fault: str = ""
    """Empty while the gripper answers; else its last failure (does not stop the arm)."""


class FrankaArm:
    """Tracks absolute Cartesian targets through a `FrankySeam`; the gripper on its own thread."""

    name = "franka"

    def __init__(self, config: FrankaArmConfig, seam: FrankySeam, gripper: FrankaGripper | None) -> None:
        self.config = config
        self.home_joints = np.array(config.home_joints, dtype=float)
        self.joint_lower = np.array(config.joint_lower, dtype=float)
        self.joint_upper = np.array(config.joint_upper, dtype=float)
        self.max_gripper_width = HAND_MAX_WIDTH
        self._seam = seam
        self.gripper = gripper
        """The gripper's driver (None without a hand): its `width`, `fault`, `busy`, `sent`."""
        self._fault = ""
        self._link_lost = False
        self._tracking = False
        self._last: FrankaArmState | None = None

    def start(self) -> None:
        """Connect (raises with what to check), clear start-up command-stream errors, track here."""
        self._seam.connect()
        reading = self._seam.read()
        if needs_person(reading.errors, reading.robot_mode):
            self._fault = describe_robot_errors(reading.errors, reading.robot_mode)
            log.warning("franka: the arm starts with a fault: %s", self._fault)
            return
        if reading.errors:
            self._clear_robot_errors()
            if self._fault:
                return
        self._seam.start_tracking()
        self._tracking = True

    # ------------------------------------------------------------------ state

    def read(self) -> FrankaArmState:
        try:
            if self._tracking:
                self._seam.check_motion()
            reading = self._seam.read()
        except FrankaControlError as exc:
            return self._after_motion_error(str(exc))
        except FrankaError as exc:
            self._on_error("read", exc)
            return self._stale()
        if self._tracking and not reading.in_control:
            self._set_fault("the arm stopped following targets (its motion ended); send 'recover'")
        robot = describe_robot_errors(reading.errors, reading.robot_mode)
        if robot:
            self._set_fault(robot)
        self._last = self._state(reading)
        return self._last

    def _state(self, reading: FrankyReading) -> FrankaArmState:
        gripper = self.gripper
        return FrankaArmState(
            tcp_pos=reading.tcp_pos,
            tcp_quat=reading.tcp_quat,
            tcp_linvel=reading.tcp_linvel,
            tcp_angvel=reading.tcp_angvel,
            joint_pos=reading.joint_pos,
            joint_vel=reading.joint_vel,
            gripper_width=gripper.width if gripper is not None else 0.0,
            stamp=time.monotonic(),
            fault=self._fault,
            external_wrench=reading.external_wrench,
            robot_mode=reading.robot_mode,
            errors=reading.errors,
            gripper_fault=gripper.fault if gripper is not None else "",
        )

    def _stale(self) -> FrankaArmState:
        """The last reading (with its old stamp) and the fault, when no new one can be had."""
        last = self._last
        if last is None:
            raise FrankaError(f"no state of the arm at {self.config.host}: {self._fault}")
        gripper = self.gripper
        return FrankaArmState(
            **{name: getattr(last, name) for name in ArmState.__dataclass_fields__ if name != "fault"},
            fault=self._fault,
            external_wrench=last.external_wrench,
            robot_mode=last.robot_mode,
            errors=last.errors,
            gripper_fault=gripper.fault if gripper is not None else "",
        )

    def _after_motion_error(self, message: str) -> FrankaArmState:
        self._tracking = False
        try:
            reading = self._seam.read()
        except FrankaError as exc:
            self._set_fault(describe_control_error(message, (), ""))
            self._on_error("read after a motion error", exc)
            return self._stale()
        self._set_fault(describe_control_error(message, reading.errors, reading.robot_mode))
        self._last = self._state(reading)
        return self._last

    def _set_fault(self, fault: str) -> None:
        if not self._fault:
            self._fault = fault
            self._tracking = False
            log.error("franka: %s", fault)

    def _on_error(self, what: str, exc: FrankaError) -> None:
        if isinstance(exc, FrankaConnectionError | FrankaTimeout):
            self._link_lost = True
            self._set_fault(lost(what, str(exc)))
        else:
            self._set_fault(f"{what} failed: {exc}; send 'recover'")

    # ------------------------------------------------------------------ commands

    def set_target(self, pos: np.ndarray, quat: np.ndarray) -> None:
        if self._fault or not self._tracking:
            return
        try:
            self._seam.track(pos, quat)
        except FrankaControlError as exc:
            self._after_motion_error(str(exc))
        except FrankaError as exc:
            self._on_error("new target", exc)

    def hold(self) -> None:
        if self._fault or not self._tracking:
            return
        state = self.read()
        self.set_target(state.tcp_pos, state.tcp_quat)

    def set_gripper(self, width: float, force: float) -> None:
        if self.gripper is not None:
            force = force if math.isfinite(force) and force > 0 else self.config.gripper_force
            self.gripper.command(width, force)

    def tcp_pose_at(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._seam.forward_kinematics(joints)

    def move_to_joints(self, joints: np.ndarray) -> None:
        """A joint motion to `joints` (blocking, at most reset_timeout), then track the pose there."""
        if self._fault:
            raise FrankaError(f"no joint motion while the arm has a fault ({self._fault})")
        self._tracking = False
        try:
            self._seam.stop_motion()
            self._seam.move_joints(joints)
            self._settle()
            self._seam.start_tracking()
        except FrankaControlError as exc:
            self._after_motion_error(str(exc))
            raise FrankaError(f"joint motion aborted: {self._fault}") from exc
        except FrankaError as exc:
            self._on_error("joint motion", exc)
            raise
        self._tracking = True

    def _settle(self) -> None:
        """Wait (at most SETTLE_TIMEOUT) until the joints are at rest, so that tracking starts
        from where the arm stays rather than from a pose it passes through."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while np.abs(self._seam.read().joint_vel).max() > SETTLE_SPEED and time.monotonic() < deadline:
            time.sleep(0.01)

    def recover(self) -> None:
        """A person's request: end what is left of the motion, clear the robot's errors with
        bounded retries (reconnecting first if the link was lost), and track the pose measured now."""
        if self.gripper is not None:
            self.gripper.clear_fault()
        if not self._fault and self._tracking:
            with contextlib.suppress(FrankaError):
                self.read()  # a motion error not yet seen
            if not self._fault:
                return  # nothing to clear: the motion is left alone
        self._tracking = False
        self._fault = ""
        try:
            if self._link_lost:
                self._seam.connect()
                self._link_lost = False
            else:
                self._stop_quietly()
            self._clear_robot_errors()
            if not self._fault:
                self._seam.start_tracking()
                self._tracking = True
        except FrankaError as exc:
            self._fault = ""
            self._on_error("recover", exc)
        if self._fault:
            log.error("franka: recovery failed: %s", self._fault)

    def _stop_quietly(self) -> None:
        try:
            self._seam.stop_motion()
        except FrankaControlError as exc:
            log.info("franka: the aborted motion ended with: %s", exc)

    def _clear_robot_errors(self) -> None:
        """franky's recover_from_errors until the robot reports none, at most recovery_retries times."""
        config = self.config
        for attempt in range(config.recovery_retries):
            if attempt:
                time.sleep(config.recovery_pause)
            succeeded = self._seam.recover()
            reading = self._seam.read()
            if succeeded and not reading.errors and not needs_person((), reading.robot_mode):
                return
        problem = describe_robot_errors(reading.errors, reading.robot_mode) or "the robot refused"
        self._fault = f"recovery failed after {config.recovery_retries} tries: {problem}"

    def sync(self, now: float) -> None:
        """Hardware runs on its own clock: nothing to catch up."""

    def close(self) -> None:
        try:
            if self._tracking and not self._link_lost:
                self._stop_quietly()
        except FrankaError as exc:
            log.warning("franka: could not stop the motion at close: %s", exc)
        finally:
            self._tracking = False
            if self.gripper is not None:
                self.gripper.close()
            self._seam.close()
