"""The robot server's commands: one handler each, and the table that names them.

A handler gets the service, the decoded request and its `data` already checked against the
command's schema (`wire.requests`); it returns the reply's data and arrays, or raises
WireError. Handlers of acting commands run only after the service admitted the command
(sequence number and deadline); STOP is the service's own and preempts everything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from robot_server.control import ArmControl, Reply
from robot_server.limits import (
    ACTION_TOLERANCE,
    PLAUSIBLE_FORCE,
    PLAUSIBLE_POSITION,
    PLAUSIBLE_ROTATION,
    PLAUSIBLE_TRANSLATION,
    PLAUSIBLE_WIDTH,
)
from wire import ErrorCode, Message, WireError
from wire.geometry import (
    quat_from_rotvec,
    quat_from_rotvec_t,
    quat_mul,
    quat_mul_t,
    quat_normalize,
    quat_rotate,
    rotation_between_t,
)
from wire.requests import (
    DATA_SCHEMAS,
    ActData,
    AdvanceData,
    GripperData,
    MoveData,
    ObservationData,
    ResetData,
    SetModeData,
    StepData,
    number,
    vector,
)

MAX_ADVANCE = 10.0
STATE_VECTOR_FIELDS = ("tcp_pos", "tcp_rotvec", "tcp_linvel", "tcp_angvel", "gripper_width")
"""Layout of the proprio vector the env builds: 3 + 3 + 3 + 3 + 1 values."""

Handler = Callable[[ArmControl, Message, Any], Reply]


@dataclass(frozen=True)
class Command:
    handler: Handler
    acts: bool
    """Acting commands carry `client`, `seq` and `deadline`; queries do not."""
    schema: type[msgspec.Struct]


# ---------------------------------------------------------------------- queries


def info(service: ArmControl, message: Message, data: Any) -> Reply:
    backend, config = service.backend, service.config
    cameras = backend.cameras
    return {
        "backend": backend.arm.name,
        "cameras": {name: list(service.readings.pipeline.sizes[name]) for name in cameras.names},
        "camera_calibration": service.camera_calibration,
        "limits": service.limits.as_dict(),
        "mode": service.mode,
        "modes": ["realtime", "lockstep"] if backend.clock is not None else ["realtime"],
        "control_period": config.control_period,
        "physics_dt": backend.physics_dt,
        "pub_hz": config.pub_hz,
        "action_scale": {"translation": config.action_scale.translation, "rotation": config.action_scale.rotation},
        "home_joints": backend.arm.home_joints.tolist(),
        "max_gripper_width": backend.arm.max_gripper_width,
        "state_vector": list(STATE_VECTOR_FIELDS),
        "sim": backend.scene is not None,
        "now": time.monotonic(),
    }, {}


def ping(service: ArmControl, message: Message, data: Any) -> Reply:
    return {"now": time.monotonic()}, {}


def state(service: ArmControl, message: Message, data: Any) -> Reply:
    return service.state_data(), {}


def observation(service: ArmControl, message: Message, data: ObservationData) -> Reply:
    return service.observation_reply(service.camera_names(data.images))


# ---------------------------------------------------------------------- motion


def move(service: ArmControl, message: Message, data: MoveData) -> Reply:
    relative = data.relative
    pos = vector(message, data.pos, "pos", 3, bound=PLAUSIBLE_TRANSLATION if relative else PLAUSIBLE_POSITION)
    quat = vector(message, data.quat, "quat", 4, bound=2.0, required=False)
    rotvec = vector(message, data.rotvec, "rotvec", 3, bound=PLAUSIBLE_ROTATION, required=False)
    if rotvec is not None and np.linalg.norm(rotvec) > PLAUSIBLE_ROTATION:
        raise WireError(ErrorCode.INVALID_ARGUMENT, "'rotvec' turns by more than pi")
    if quat is not None and rotvec is not None:
        raise WireError(ErrorCode.INVALID_ARGUMENT, "give 'quat' or 'rotvec', not both")
    if quat is not None and not 0.5 < np.linalg.norm(quat) < 2.0:
        raise WireError(ErrorCode.INVALID_ARGUMENT, "'quat' must be a unit quaternion [w, x, y, z]")
    if rotvec is not None and not relative:
        raise WireError(ErrorCode.INVALID_ARGUMENT, "'rotvec' is a relative rotation; set relative")
    if data.frame == "ee" and not relative:
        raise WireError(ErrorCode.INVALID_ARGUMENT, "absolute targets are in the base frame")
    arm = service.movable_arm()
    assert pos is not None
    if not relative:
        service.apply_target(arm, pos, quat_normalize(quat) if quat is not None else service.target_quat)
    else:
        turn = (
            quat_from_rotvec(rotvec)
            if rotvec is not None
            else (quat_normalize(quat) if quat is not None else np.array([1.0, 0.0, 0.0, 0.0]))
        )
        if data.frame == "base":
            service.apply_target(arm, arm.tcp_pos + pos, quat_mul(turn, arm.tcp_quat))
        else:
            step = quat_rotate(arm.tcp_quat, pos)
            service.apply_target(arm, arm.tcp_pos + step, quat_mul(arm.tcp_quat, turn))
    return {"target_pos": service.target_pos.tolist(), "target_quat": service.target_quat.tolist()}, {}


def gripper(service: ArmControl, message: Message, data: GripperData) -> Reply:
    width = number(data.width, "width", 0.0, PLAUSIBLE_WIDTH)
    force = number(
        service.limits.gripper_default_force if data.force is None else data.force, "force", 0.0, PLAUSIBLE_FORCE
    )
    service.movable_arm()
    service.apply_gripper(width, force)
    return {"gripper_target": service.gripper_width_target, "gripper_force": service.gripper_force}, {}


def _apply_action(service: ArmControl, message: Message, given: list[float] | None) -> None:
    action = vector(message, given, "action", 7, bound=1.0 + ACTION_TOLERANCE)
    assert action is not None
    values = action.tolist()
    if max(values) > 1.0 or min(values) < -1.0:
        values = [min(max(v, -1.0), 1.0) for v in values]
        service.clamps["action_range"] += 1
    arm = service.movable_arm()
    scale = service.config.action_scale
    turn = quat_from_rotvec_t([v * scale.rotation for v in values[3:6]])
    position = arm.tcp_pos + np.array(values[:3]) * scale.translation
    service.apply_target(arm, position, np.array(quat_mul_t(turn, arm.tcp_quat.tolist())))
    width = (values[6] + 1.0) / 2.0 * service.limits.gripper_max_width
    service.apply_gripper(width, service.gripper_force)


def act(service: ArmControl, message: Message, data: ActData) -> Reply:
    _apply_action(service, message, data.action)
    return {"target_pos": service.target_pos.tolist(), "target_quat": service.target_quat.tolist()}, {}


def _require_lockstep(service: ArmControl) -> None:
    if service.mode != "lockstep":
        raise WireError(ErrorCode.WRONG_MODE, "only in lockstep mode; send set_mode lockstep")


def step(service: ArmControl, message: Message, data: StepData) -> Reply:
    _require_lockstep(service)
    cameras = service.camera_names(data.images)
    _apply_action(service, message, data.action)
    assert service.backend.clock is not None
    service.backend.clock.advance(service.config.control_period)
    service.step_index += 1
    return service.observation_reply(cameras)


def advance(service: ArmControl, message: Message, data: AdvanceData) -> Reply:
    _require_lockstep(service)
    seconds = number(data.seconds, "seconds", 1e-6, MAX_ADVANCE)
    assert service.backend.clock is not None
    service.backend.clock.advance(seconds)
    return service.state_data(), {}


# ---------------------------------------------------------------------- episodes and modes


def reset(service: ArmControl, message: Message, data: ResetData) -> Reply:
    joints = vector(message, data.joints, "joints", 7, bound=2 * math.pi, required=False)
    cameras = service.camera_names(data.images)
    arm = service.backend.arm
    if joints is not None and not ((arm.joint_lower <= joints) & (joints <= arm.joint_upper)).all():
        raise WireError(
            ErrorCode.INVALID_ARGUMENT,
            f"'joints' outside the joint limits {arm.joint_lower.tolist()} .. {arm.joint_upper.tolist()}",
        )
    service.movable_arm()
    if data.seed is not None:
        service.rng = np.random.default_rng(data.seed)
    home = arm.home_joints if joints is None else joints
    _check_reset_pose(service, home)
    if data.randomize_arm:
        home = _perturbed(service, home)
    service.backend.reset(home, service.rng, data.randomize_scene)
    service.apply_gripper(service.limits.gripper_max_width, service.limits.gripper_default_force)
    service.hold_pose()
    service.holding = False
    if service.mode == "realtime" and service.backend.clock is not None:
        service.backend.clock.start_realtime(time.monotonic())
    service.episode += 1
    service.step_index = 0
    return service.observation_reply(cameras)


def _perturbed(service: ArmControl, joints: np.ndarray, tries: int = 20) -> np.ndarray:
    """Joints with uniform noise that still put the TCP inside the limits (else unchanged)."""
    arm = service.backend.arm
    noise = service.backend.joint_noise
    for _ in range(tries):
        candidate = np.clip(joints + service.rng.uniform(-noise, noise, size=7), arm.joint_lower, arm.joint_upper)
        try:
            _check_reset_pose(service, candidate)
        except WireError:
            continue
        return candidate
    return joints


def _check_reset_pose(service: ArmControl, joints: np.ndarray) -> None:
    """A reset must end with the TCP inside the workspace box and the orientation cone."""
    pos, quat = service.backend.arm.tcp_pose_at(joints)
    limits = service.limits
    if not ((limits.workspace_min <= pos) & (pos <= limits.workspace_max)).all():
        raise WireError(
            ErrorCode.INVALID_ARGUMENT,
            f"these joints put the TCP at {np.round(pos, 3).tolist()}, outside the workspace box "
            f"{limits.workspace_min.tolist()} .. {limits.workspace_max.tolist()}",
        )
    deviation = math.sqrt(sum(v * v for v in rotation_between_t(limits.reference_quat.tolist(), quat.tolist())))
    if deviation > limits.max_orientation_deviation:
        raise WireError(
            ErrorCode.INVALID_ARGUMENT,
            f"these joints turn the TCP {deviation:.2f} rad from the reference orientation "
            f"(at most {limits.max_orientation_deviation})",
        )


def recover(service: ArmControl, message: Message, data: Any) -> Reply:
    service.backend.arm.recover()
    service.readings.forget()  # the fault may be gone without the arm having moved
    service.stopped = False
    service.stop_reason = ""
    service.hold_pose()
    service.holding = False
    return {"stopped": False}, {}


def stop(service: ArmControl, message: Message, data: Any) -> Reply:
    """Listed for `info`'s sake; the service obeys STOP before any check (see RobotService.handle)."""
    service.halt("stop requested")
    return {"stopped": True}, {}


def set_mode(service: ArmControl, message: Message, data: SetModeData) -> Reply:
    service.enter_mode(data.mode)
    return {"mode": service.mode}, {}


_HANDLERS: dict[str, tuple[Handler, bool]] = {
    "info": (info, False),
    "ping": (ping, False),
    "state": (state, False),
    "observation": (observation, False),
    "move": (move, True),
    "gripper": (gripper, True),
    "act": (act, True),
    "step": (step, True),
    "advance": (advance, True),
    "reset": (reset, True),
    "stop": (stop, True),
    "recover": (recover, True),
    "set_mode": (set_mode, True),
}
COMMANDS: dict[str, Command] = {
    name: Command(handler, acts, DATA_SCHEMAS[name]) for name, (handler, acts) in _HANDLERS.items()
}
"""Every command the server knows, by name."""
