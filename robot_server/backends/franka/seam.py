"""The backend's only door to franky: one object, every call with a deadline, franky's types and
exceptions translated at this boundary (quaternions through `quaternions`).

Tests wrap `FrankySeam._call`, the single point every franky call passes, to make a motion
fail with franky's own `ControlException` or the connection drop.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import franky
import numpy as np

from robot_server.backends.franka.calls import CallWorker, FrankaError, FrankaTimeout
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.franka.faults import FrankaConnectionError, unreachable, version_mismatch
from robot_server.backends.franka.quaternions import from_franky, to_franky

T = TypeVar("T")

ERROR_FLAGS = tuple(name for name in dir(franky.Errors) if not name.startswith("_"))
"""The 41 boolean flags of franky.Errors, by name."""


class FrankaControlError(FrankaError):
    """franky aborted a motion (franky.ControlException): a reflex, a limit, a preemption."""


@dataclass(frozen=True)
class FrankyReading:
    """One robot state, in our conventions (base frame, quaternion [w, x, y, z])."""

    joint_pos: np.ndarray
    joint_vel: np.ndarray
    tcp_pos: np.ndarray
    tcp_quat: np.ndarray
    tcp_linvel: np.ndarray
    tcp_angvel: np.ndarray
    external_wrench: np.ndarray
    """Estimated external force and torque on the TCP in the base frame (O_F_ext_hat_K), N and N m."""
    robot_mode: str
    """franky.RobotMode name: Idle, Move, Reflex, UserStopped, Guiding, AutomaticErrorRecovery, Other."""
    errors: tuple[str, ...]
    """franky.Errors flags set now (current_errors)."""
    last_motion_errors: tuple[str, ...]
    """franky.Errors flags that aborted the previous motion."""
    in_control: bool
    """A motion (the tracker, a Cartesian or joint motion) is running."""


def _flags(errors: Any) -> tuple[str, ...]:
    return tuple(name for name in ERROR_FLAGS if getattr(errors, name) is True)


def translate(what: str, exc: Exception) -> Exception:
    if isinstance(exc, FrankaError):
        return exc
    if isinstance(exc, franky.ControlException):
        return FrankaControlError(str(exc))
    if isinstance(exc, franky.NetworkException | franky.ProtocolException | RuntimeError):
        return FrankaConnectionError(f"{what}: {type(exc).__name__}: {exc}")
    return FrankaError(f"{what}: {type(exc).__name__}: {exc}")


class FrankySeam:
    """The arm (and the gripper's connection) through franky, each call bounded in time."""

    def __init__(self, config: FrankaArmConfig) -> None:
        self.config = config
        self._worker = CallWorker(f"franky-arm-{config.host}")
        self._robot: Any = None
        self._tracker: Any = None
        self._frames: tuple[Any, Any] | None = None

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
        """The one place every franky call passes: on the worker, within `timeout`, translated."""
        try:
            return self._worker.call(fn, self.config.call_timeout if timeout is None else timeout, what)
        except Exception as exc:
            translated = translate(what, exc)
            if translated is exc:
                raise
            try:
                raise translated from exc
            finally:
                del translated  # see CallWorker.call: no reference cycle through this frame

    # ------------------------------------------------------------------ connection

    def connect(self) -> None:
        """Connect (again) and apply the collision thresholds; raises with what to check."""
        config = self.config
        realtime = franky.RealtimeConfig.Enforce if config.realtime == "enforce" else franky.RealtimeConfig.Ignore
        dynamics = franky.RelativeDynamicsFactor(config.velocity_factor, config.acceleration_factor, config.jerk_factor)

        def open_robot() -> Any:
            robot = franky.Robot(config.host, relative_dynamics_factor=dynamics, realtime_config=realtime)
            robot.set_collision_behavior(
                list(config.collision_torque_thresholds), list(config.collision_force_thresholds)
            )
            state = robot.state
            return robot, (state.F_T_EE, state.EE_T_K)

        if self._robot is not None:
            self._release()
        try:
            self._robot, self._frames = self._call(open_robot, f"connect to {config.host}", config.connect_timeout)
        except FrankaTimeout as exc:
            raise unreachable(config.host, f"no answer within {config.connect_timeout:g} s") from exc
        except FrankaError as exc:
            cause = exc.__cause__
            if isinstance(cause, franky.IncompatibleVersionException):
                raise version_mismatch(config.host, str(cause), libfranka_version()) from cause
            raise unreachable(config.host, str(cause or exc)) from exc

    def _release(self) -> None:
        """Hang up: franky has no close call, libfranka's destructor closes the connection. Runs on
        the worker; the caller must hold no other reference (an exception's traceback is one)."""
        held = [self._robot, self._tracker]
        self._robot = self._tracker = None
        self._call(held.clear, "close the connection")

    def close(self) -> None:
        with contextlib.suppress(FrankaError):  # else the worker is stuck in libfranka (a daemon thread)
            self._release()
        self._worker.close()

    # ------------------------------------------------------------------ state

    def read(self) -> FrankyReading:
        robot = self._robot

        def read_state() -> FrankyReading:
            state = robot.state
            jacobian = robot.model.zero_jacobian(franky.Frame.EndEffector, state)
            twist = jacobian @ np.asarray(state.dq)
            pose = state.O_T_EE
            return FrankyReading(
                joint_pos=np.array(state.q, dtype=float),
                joint_vel=np.array(state.dq, dtype=float),
                tcp_pos=np.array(pose.translation, dtype=float).reshape(3),
                tcp_quat=from_franky(pose.quaternion),
                tcp_linvel=twist[:3].copy(),
                tcp_angvel=twist[3:].copy(),
                external_wrench=np.array(state.O_F_ext_hat_K, dtype=float).reshape(6),
                robot_mode=state.robot_mode.name,
                errors=_flags(state.current_errors),
                last_motion_errors=_flags(state.last_motion_errors),
                in_control=bool(robot.is_in_control),
            )

        return self._call(read_state, "read the robot state")

    def forward_kinematics(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP position and quaternion [w, x, y, z] at `joints`, from the robot's own model."""
        robot, frames = self._robot, self._frames
        assert frames is not None
        q = np.asarray(joints, dtype=float)
        pose = self._call(lambda: robot.model.pose(franky.Frame.EndEffector, q, *frames), "forward kinematics")
        return np.array(pose.translation, dtype=float).reshape(3), from_franky(pose.quaternion)

    # ------------------------------------------------------------------ motion

    def start_tracking(self) -> None:
        """Follow targets from now on, starting at the pose measured now."""
        config, robot = self.config, self._robot
        if config.control_mode == "cartesian_motion":
            self._call(lambda: robot.move(self._cartesian_motion(robot.current_pose), asynchronous=True), "hold")
            return
        damping = None
        if config.translational_damping is not None or config.rotational_damping is not None:
            linear = config.translational_damping or 2.0 * np.sqrt(config.translational_stiffness)
            angular = config.rotational_damping or 2.0 * np.sqrt(config.rotational_stiffness)
            damping = np.array([linear] * 3 + [angular] * 3)

        def start() -> Any:
            posture = None
            if config.nullspace_stiffness > 0:
                posture = franky.PostureTask(np.asarray(robot.current_joint_positions), config.nullspace_stiffness)
            return franky.CartesianImpedanceTracker(
                robot,
                translational_stiffness=config.translational_stiffness,
                rotational_stiffness=config.rotational_stiffness,
                damping=damping,
                translational_error_clip=np.full(3, config.translational_error_clip),
                rotational_error_clip=np.full(3, config.rotational_error_clip),
                max_delta_tau=config.max_delta_tau,
                gains_time_constant=config.gains_time_constant,
                posture_task=posture,
            )

        self._tracker = self._call(start, "start impedance tracking")

    def _cartesian_motion(self, target: Any) -> Any:
        return franky.CartesianMotion(target, franky.ReferenceType.Absolute, return_when_finished=False)

    def track(self, pos: np.ndarray, quat: np.ndarray) -> None:
        """Replace the target: an absolute TCP pose in the base frame, quaternion [w, x, y, z]."""
        target = franky.Affine(np.asarray(pos, dtype=float), to_franky(quat))
        robot, tracker = self._robot, self._tracker
        if self.config.control_mode == "cartesian_motion":
            self._call(lambda: robot.move(self._cartesian_motion(target), asynchronous=True), "new target")
        elif tracker is None:
            raise FrankaError("new target: impedance tracking is not running")
        else:
            self._call(lambda: tracker.set_target(target), "new target")

    def check_motion(self) -> None:
        """Raises the error that ended the running motion (FrankaControlError), once."""
        robot = self._robot
        self._call(robot.poll_motion, "check the motion")

    def stop_motion(self) -> None:
        """End the running motion and wait until the arm is at rest; our own preemption is no error."""
        robot, tracker = self._robot, self._tracker
        self._tracker = None

        def stop() -> None:
            try:
                if tracker is not None:
                    tracker.stop()
                else:
                    if robot.is_in_control:
                        robot.stop()
                    robot.join_motion()
            except franky.ControlException as exc:
                if "preempted" not in str(exc):
                    raise

        self._call(stop, "stop the motion", self.config.reset_timeout)

    def move_joints(self, joints: np.ndarray) -> None:
        """A joint motion to `joints`, waiting until it is finished (at most `reset_timeout`)."""
        robot, timeout = self._robot, self.config.reset_timeout
        motion = franky.JointMotion(np.asarray(joints, dtype=float))

        def move() -> bool:
            robot.move(motion, asynchronous=True)
            if robot.join_motion(timeout):
                return True
            robot.stop()
            return False

        if not self._call(move, "joint motion", timeout + self.config.call_timeout):
            raise FrankaTimeout(f"joint motion: not finished within {timeout:g} s; the arm was stopped")

    def recover(self) -> bool:
        """The robot's automatic error recovery; whether it succeeded."""
        robot = self._robot
        return bool(self._call(robot.recover_from_errors, "error recovery", self.config.reset_timeout))


def libfranka_version() -> str:
    """The libfranka that franky-control bundles (its shared library's file name says)."""
    try:
        files = importlib.metadata.files("franky-control") or []
    except importlib.metadata.PackageNotFoundError:
        return "(unknown)"
    for file in files:
        found = re.search(r"libfranka[^/]*\.so\.(\d+\.\d+\.\d+)$", str(file))
        if found:
            return found.group(1)
    return "(unknown)"
