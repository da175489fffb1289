"""Request handling of the robot server, independent of sockets.

`RobotService.handle(frames)` takes the frames of one request and returns the frames
of its one reply. It never raises: malformed, stale, duplicate and non-finite input
gets an `error` reply and leaves the arm's target untouched.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_server.backends.base import ArmState, Backend
from robot_server.config import ServerConfig
from robot_server.limits import (
    ACTION_TOLERANCE,
    CLAMP_KINDS,
    PLAUSIBLE_FORCE,
    PLAUSIBLE_POSITION,
    PLAUSIBLE_ROTATION,
    PLAUSIBLE_TRANSLATION,
    PLAUSIBLE_WIDTH,
    Limits,
    clamp_gripper,
    clamp_target,
)
from wire import ErrorCode, Message, WireError, decode, error_reply, ok_reply
from wire.geometry import (
    quat_from_rotvec,
    quat_from_rotvec_t,
    quat_mul,
    quat_mul_t,
    quat_normalize,
    quat_rotate,
    rotation_between_t,
)

log = logging.getLogger(__name__)

MAX_CLIENTS_TRACKED = 1024
"""Clients whose last sequence number is remembered. An entry is forgotten only once every
command it could have let through is past its deadline; a new client is refused before that."""
MAX_DEADLINE_AHEAD = 60.0
MAX_REQUEST_FRAMES = 17
"""Frames of one request: the header and at most 16 arrays (requests carry a few small vectors)."""
MAX_REQUEST_BYTES = 64 * 1024
"""Bytes of one request, all frames together."""
MAX_ADVANCE = 10.0
STATE_VECTOR_FIELDS = ("tcp_pos", "tcp_rotvec", "tcp_linvel", "tcp_angvel", "gripper_width")
"""Layout of the proprio vector the env builds: 3 + 3 + 3 + 3 + 1 values."""


class CommandError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Reply = tuple[dict[str, Any], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Command:
    handler: Callable[[Message], Reply]
    acts: bool
    """Acting commands carry `client`, `seq` and `deadline`; queries do not."""


def _finite_vector(message: Message, name: str, size: int, *, bound: float, required: bool = True) -> np.ndarray | None:
    """A float vector from the arrays (preferred) or the data map: shape checked, every
    value finite and within +-bound (a plausibility check; safety limits come later)."""
    value: Any = message.arrays.get(name)
    if value is None:
        value = (message.header.get("data") or {}).get(name)
    if value is None:
        if required:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, f"missing {name!r} ({size} numbers)")
        return None
    if isinstance(value, list):
        if not all(type(v) in (int, float) for v in value):
            raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must hold numbers only")
        value = np.array(value, dtype=np.float64)
    elif not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be a numeric array")
    if value.shape != (size,):
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must have shape ({size},), got {value.shape}")
    vector = value.astype(np.float64)
    magnitude = float(np.abs(vector).max(initial=0.0))  # nan if any value is nan
    if not math.isfinite(magnitude):
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} holds a non-finite value")
    if magnitude > bound:
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} is outside the plausible range +-{bound}")
    return vector


def _check_size(frames: list[Any]) -> None:
    if len(frames) > MAX_REQUEST_FRAMES:
        raise CommandError(ErrorCode.MALFORMED, f"a request has at most {MAX_REQUEST_FRAMES} frames, got {len(frames)}")
    size = sum(len(frame) if isinstance(frame, bytes) else memoryview(frame).nbytes for frame in frames)
    if size > MAX_REQUEST_BYTES:
        raise CommandError(ErrorCode.MALFORMED, f"a request has at most {MAX_REQUEST_BYTES} bytes, got {size}")


def _number(data: dict[str, Any], name: str, low: float, high: float, default: float | None = None) -> float:
    value = data.get(name, default)
    if type(value) not in (int, float) or not math.isfinite(value):
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be a finite number")
    if not low <= value <= high:
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be within [{low}, {high}]")
    return float(value)


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be true or false")
    return value


def _choice(data: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    if value not in choices:
        raise CommandError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be one of {list(choices)}")
    return str(value)


class RobotService:
    """The server's state machine: modes, safety, watchdog, and one handler per command."""

    def __init__(self, config: ServerConfig, backend: Backend, limits: Limits) -> None:
        self.config = config
        self.backend = backend
        self.limits = limits
        self._check_action_scale()
        self.mode = "realtime"
        self.stopped = False
        self.stop_reason = ""
        self.holding = False
        self.link_established = False
        self.clamps: Counter[str] = Counter({kind: 0 for kind in CLAMP_KINDS})
        self.rejected: Counter[str] = Counter()
        self.watchdog_holds = 0
        self.episode = 0
        self.step_index = 0
        self._last_seq: OrderedDict[str, tuple[int, float]] = OrderedDict()
        """Per client: the last accepted sequence number and when it was accepted."""
        self.controller: str | None = None
        """The client whose acting command was accepted last: only its requests feed the link watchdog."""
        self._rng = np.random.default_rng(config.seed)
        now = time.monotonic()
        self.last_command_time = now
        self.last_request_time = now
        self._reference_quat = tuple(limits.reference_quat.tolist())
        self._reading: ArmState | None = None
        self._reading_version: int | None = None
        self._physical: dict[str, Any] | None = None
        self.gripper_width_target = backend.arm.max_gripper_width
        self.gripper_force = limits.gripper_default_force
        self.backend.arm.set_gripper(self.gripper_width_target, self.gripper_force)
        self.backend.arm.hold()
        state = self.arm_state()
        self.target_pos, self.target_quat = state.tcp_pos, state.tcp_quat
        self.commands: dict[str, Command] = {
            "info": Command(self._info, acts=False),
            "ping": Command(self._ping, acts=False),
            "state": Command(self._state, acts=False),
            "observation": Command(self._observation, acts=False),
            "move": Command(self._move, acts=True),
            "gripper": Command(self._gripper, acts=True),
            "act": Command(self._act, acts=True),
            "step": Command(self._step, acts=True),
            "advance": Command(self._advance, acts=True),
            "reset": Command(self._reset, acts=True),
            "stop": Command(self._stop, acts=True),
            "recover": Command(self._recover, acts=True),
            "set_mode": Command(self._set_mode, acts=True),
        }
        self._enter_mode(config.mode)

    def _check_action_scale(self) -> None:
        scale = self.config.action_scale
        if not 0 < scale.translation * math.sqrt(3) <= self.limits.max_translation:
            raise ValueError("action_scale.translation * sqrt(3) must not exceed limits max_translation")
        if not 0 < scale.rotation * math.sqrt(3) <= self.limits.max_rotation:
            raise ValueError("action_scale.rotation * sqrt(3) must not exceed limits max_rotation")

    # ------------------------------------------------------------------ entry

    def handle(self, frames: list[Any]) -> list[Any]:
        """One request in, one reply out; never raises."""
        now = time.monotonic()
        try:
            _check_size(frames)
            message = decode(frames)
            if message.header.get("type") != "req":
                raise CommandError(ErrorCode.MALFORMED, "header 'type' must be 'req'")
            name = message.header.get("cmd")
            if name == "stop":  # whatever else is wrong with it
                return ok_reply(*self._stop(message))
            command = self.commands.get(name) if isinstance(name, str) else None
            if command is None:
                raise CommandError(
                    ErrorCode.UNKNOWN_COMMAND, f"unknown command {name!r}; known: {sorted(self.commands)}"
                )
            data = message.header.get("data", {})
            if not isinstance(data, dict):
                raise CommandError(ErrorCode.MALFORMED, "'data' must be a map")
            if command.acts:
                self._admit(message, now)
            reply_data, reply_arrays = command.handler(message)
            if command.acts:
                self._record(message, now)
            elif message.header.get("client") == self.controller:
                self.last_request_time = now
            return ok_reply(reply_data, reply_arrays)
        except (WireError, CommandError) as exc:
            self.rejected[str(exc.code)] += 1
            return error_reply(exc.code, exc.message)
        except Exception as exc:  # a bug must not take the server down
            log.error("internal error handling a request:\n%s", traceback.format_exc())
            self.rejected[str(ErrorCode.INTERNAL)] += 1
            return error_reply(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    def _admit(self, message: Message, now: float) -> None:
        """Sequence and deadline checks of an acting command (STOP never comes here)."""
        header = message.header
        client, seq, deadline = header.get("client"), header.get("seq"), header.get("deadline")
        if not isinstance(client, str) or not 0 < len(client) <= 64:
            raise CommandError(ErrorCode.MALFORMED, "acting commands need 'client': a string of 1-64 chars")
        if type(seq) is not int or seq < 0:
            raise CommandError(ErrorCode.MALFORMED, "acting commands need 'seq': an integer >= 0")
        if type(deadline) not in (int, float) or not math.isfinite(deadline):
            raise CommandError(ErrorCode.MALFORMED, "acting commands need 'deadline': server monotonic seconds")
        if deadline < now:
            raise CommandError(ErrorCode.STALE, f"deadline passed {now - deadline:.4f} s before arrival")
        if deadline > now + MAX_DEADLINE_AHEAD:
            raise CommandError(
                ErrorCode.INVALID_ARGUMENT,
                f"deadline {deadline - now:.1f} s ahead; re-sync the client's clock offset (ping)",
            )
        last = self._last_seq.get(client)
        if last is not None and seq <= last[0]:
            raise CommandError(ErrorCode.DUPLICATE, f"seq {seq} is not above the last accepted ({last[0]})")
        if last is None and len(self._last_seq) >= MAX_CLIENTS_TRACKED:
            self._forget_expired_clients(now)
            if len(self._last_seq) >= MAX_CLIENTS_TRACKED:
                raise CommandError(
                    ErrorCode.LIMIT_EXCEEDED,
                    f"{MAX_CLIENTS_TRACKED} clients sent commands in the last {MAX_DEADLINE_AHEAD:.0f} s; "
                    "try again later or reuse a client id",
                )

    def _forget_expired_clients(self, now: float) -> None:
        """Drop clients idle for longer than any deadline: their old commands are stale by now."""
        while self._last_seq:
            client, (_seq, accepted) = next(iter(self._last_seq.items()))
            if now - accepted <= MAX_DEADLINE_AHEAD or client == self.controller:
                return
            del self._last_seq[client]

    def _record(self, message: Message, now: float) -> None:
        """An acting command was applied: remember its sequence number, feed the watchdog."""
        client, seq = message.header["client"], message.header["seq"]
        self._last_seq[client] = (seq, now)
        self._last_seq.move_to_end(client)
        self.controller = client
        self.last_command_time = now
        self.last_request_time = now
        self.link_established = True

    # ------------------------------------------------------------------ periodic work

    def tick(self, now: float) -> None:
        """Real-time mode: advance the arm with the clock and run the watchdog."""
        if self.mode != "realtime":
            return
        self.backend.arm.sync(now)
        self.backend.cameras.sync(now)
        if self.link_established and not self.stopped and now - self.last_request_time > self.limits.link_timeout:
            self._halt(f"link lost: no request for {now - self.last_request_time:.1f} s")
        elif not self.holding and now - self.last_command_time > self.limits.cmd_timeout:
            self._hold_pose()
            self.watchdog_holds += 1

    def _hold_pose(self) -> None:
        self.backend.arm.hold()
        state = self.arm_state()
        self.target_pos, self.target_quat = state.tcp_pos, state.tcp_quat
        self.holding = True

    def _halt(self, reason: str) -> None:
        self._hold_pose()
        self.stopped = True
        self.stop_reason = reason
        log.warning("arm stopped: %s", reason)

    def _enter_mode(self, mode: str) -> None:
        clock = self.backend.clock
        if mode == "lockstep" and clock is None:
            raise CommandError(ErrorCode.UNAVAILABLE, f"{self.backend.arm.name} has no lockstep mode")
        self.mode = mode
        on_demand = mode == "lockstep"
        if hasattr(self.backend.cameras, "on_demand"):
            self.backend.cameras.on_demand = on_demand  # type: ignore[attr-defined]
        if mode == "realtime" and clock is not None:
            clock.start_realtime(time.monotonic())
        self._hold_pose()
        self.last_command_time = time.monotonic()

    # ------------------------------------------------------------------ state

    def arm_state(self) -> ArmState:
        """The arm's reading, reused while the backend says nothing moved."""
        version = self.backend.state_version()
        if version is None or version != self._reading_version or self._reading is None:
            self._reading = self.backend.arm.read()
            self._physical = None
            self._reading_version = version
        return self._reading

    def _physical_state(self) -> dict[str, Any]:
        arm = self.arm_state()
        if self._physical is None:
            rotvec = rotation_between_t(self._reference_quat, arm.tcp_quat.tolist())
            physical: dict[str, Any] = {
                "stamp": arm.stamp,
                "fault": arm.fault,
                "tcp_pos": arm.tcp_pos.tolist(),
                "tcp_quat": arm.tcp_quat.tolist(),
                "tcp_rotvec": list(rotvec),
                "tcp_linvel": arm.tcp_linvel.tolist(),
                "tcp_angvel": arm.tcp_angvel.tolist(),
                "joint_pos": arm.joint_pos.tolist(),
                "joint_vel": arm.joint_vel.tolist(),
                "gripper_width": arm.gripper_width,
            }
            clock = self.backend.clock
            if clock is not None:
                physical["sim_time"] = clock.sim_time
            scene = self.backend.scene
            if scene is not None:
                sim = scene.observe()
                physical.update(sim)
                physical["sim_only"] = sorted(sim)
            self._physical = physical
        return self._physical

    def state_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"success": None}
        data.update(self._physical_state())
        data.update(
            mode=self.mode,
            stopped=self.stopped,
            stop_reason=self.stop_reason,
            holding=self.holding,
            target_pos=self.target_pos.tolist(),
            target_quat=self.target_quat.tolist(),
            gripper_target=self.gripper_width_target,
            gripper_force=self.gripper_force,
            clamps=dict(self.clamps),
            rejected=dict(self.rejected),
            watchdog_holds=self.watchdog_holds,
            episode=self.episode,
            step=self.step_index,
        )
        return data

    def camera_names(self, wanted: Any) -> tuple[str, ...]:
        """The cameras an `images` argument asks for: true (all), false/null (none) or names."""
        cameras = self.backend.cameras
        if wanted is True:
            return tuple(cameras.names)
        if wanted is False or wanted is None:
            return ()
        if isinstance(wanted, list) and all(isinstance(n, str) for n in wanted):
            unknown = set(wanted) - set(cameras.names)
            if unknown:
                raise CommandError(ErrorCode.INVALID_ARGUMENT, f"unknown cameras {sorted(unknown)}")
            return tuple(wanted)
        raise CommandError(ErrorCode.INVALID_ARGUMENT, "'images' must be true, false or a list of names")

    def images_for(self, data: dict[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The newest frame of each named camera; their stamps and counters go into `data`."""
        if not names:
            return {}
        frames = self.backend.cameras.latest(names)
        data["image_stamps"] = {name: frame.stamp for name, frame in frames.items()}
        data["image_counters"] = {name: frame.counter for name, frame in frames.items()}
        return {name: frame.image for name, frame in frames.items()}

    def _observation_reply(self, names: tuple[str, ...]) -> Reply:
        data = self.state_data()
        return data, self.images_for(data, names)

    def _requested_cameras(self, message: Message) -> tuple[str, ...]:
        return self.camera_names((message.header.get("data") or {}).get("images", True))

    def version(self) -> tuple[float | None, int, int]:
        """Changes whenever what an observation shows may have changed (lockstep)."""
        clock = self.backend.clock
        return (clock.sim_time if clock is not None else None, self.episode, self.step_index)

    # ------------------------------------------------------------------ queries

    def _info(self, message: Message) -> Reply:
        cameras = self.backend.cameras
        return {
            "backend": self.backend.arm.name,
            "cameras": {name: [cameras.height, cameras.width] for name in cameras.names},
            "limits": self.limits.as_dict(),
            "mode": self.mode,
            "modes": ["realtime", "lockstep"] if self.backend.clock is not None else ["realtime"],
            "control_period": self.config.control_period,
            "physics_dt": self.backend.physics_dt,
            "pub_hz": self.config.pub_hz,
            "action_scale": {
                "translation": self.config.action_scale.translation,
                "rotation": self.config.action_scale.rotation,
            },
            "home_joints": self.backend.arm.home_joints.tolist(),
            "max_gripper_width": self.backend.arm.max_gripper_width,
            "state_vector": list(STATE_VECTOR_FIELDS),
            "sim": self.backend.scene is not None,
            "now": time.monotonic(),
        }, {}

    def _ping(self, message: Message) -> Reply:
        return {"now": time.monotonic()}, {}

    def _state(self, message: Message) -> Reply:
        return self.state_data(), {}

    def _observation(self, message: Message) -> Reply:
        return self._observation_reply(self._requested_cameras(message))

    # ------------------------------------------------------------------ commands

    def _movable_arm(self) -> ArmState:
        """The arm's reading, if it may move; else the reason it may not."""
        if self.stopped:
            raise CommandError(ErrorCode.STOPPED, f"arm is stopped ({self.stop_reason}); send 'recover'")
        arm = self.arm_state()
        if arm.fault:
            raise CommandError(ErrorCode.BACKEND_ERROR, f"arm fault: {arm.fault}; send 'recover'")
        return arm

    def _apply_target(self, arm: ArmState, pos: np.ndarray, quat: np.ndarray) -> None:
        result = clamp_target(self.limits, arm.tcp_pos, arm.tcp_quat, pos, quat)
        self.clamps.update(result.clamped)
        self.target_pos, self.target_quat = result.pos, result.quat
        self.backend.arm.set_target(result.pos, result.quat)
        self.holding = False

    def _apply_gripper(self, width: float, force: float) -> None:
        width, force, clamped = clamp_gripper(self.limits, width, force)
        self.clamps.update(clamped)
        self.gripper_width_target, self.gripper_force = width, force
        self.backend.arm.set_gripper(width, force)

    def _move(self, message: Message) -> Reply:
        data = message.header.get("data") or {}
        frame = _choice(data, "frame", ("base", "ee"), "base")
        relative = _flag(data, "relative", False)
        pos = _finite_vector(message, "pos", 3, bound=PLAUSIBLE_TRANSLATION if relative else PLAUSIBLE_POSITION)
        quat = _finite_vector(message, "quat", 4, bound=2.0, required=False)
        rotvec = _finite_vector(message, "rotvec", 3, bound=PLAUSIBLE_ROTATION, required=False)
        if rotvec is not None and np.linalg.norm(rotvec) > PLAUSIBLE_ROTATION:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "'rotvec' turns by more than pi")
        if quat is not None and rotvec is not None:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "give 'quat' or 'rotvec', not both")
        if quat is not None and not 0.5 < np.linalg.norm(quat) < 2.0:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "'quat' must be a unit quaternion [w, x, y, z]")
        if rotvec is not None and not relative:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "'rotvec' is a relative rotation; set relative")
        if frame == "ee" and not relative:
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "absolute targets are in the base frame")
        arm = self._movable_arm()
        assert pos is not None
        if not relative:
            target_quat = quat_normalize(quat) if quat is not None else self.target_quat
            self._apply_target(arm, pos, target_quat)
        else:
            turn = (
                quat_from_rotvec(rotvec)
                if rotvec is not None
                else (quat_normalize(quat) if quat is not None else np.array([1.0, 0.0, 0.0, 0.0]))
            )
            if frame == "base":
                self._apply_target(arm, arm.tcp_pos + pos, quat_mul(turn, arm.tcp_quat))
            else:
                step = quat_rotate(arm.tcp_quat, pos)
                self._apply_target(arm, arm.tcp_pos + step, quat_mul(arm.tcp_quat, turn))
        return {"target_pos": self.target_pos.tolist(), "target_quat": self.target_quat.tolist()}, {}

    def _gripper(self, message: Message) -> Reply:
        data = message.header.get("data") or {}
        width = _number(data, "width", 0.0, PLAUSIBLE_WIDTH)
        force = _number(data, "force", 0.0, PLAUSIBLE_FORCE, self.limits.gripper_default_force)
        self._movable_arm()
        self._apply_gripper(width, force)
        return {"gripper_target": self.gripper_width_target, "gripper_force": self.gripper_force}, {}

    def _apply_action(self, message: Message) -> None:
        action = _finite_vector(message, "action", 7, bound=1.0 + ACTION_TOLERANCE)
        assert action is not None
        values = action.tolist()
        if max(values) > 1.0 or min(values) < -1.0:
            values = [min(max(v, -1.0), 1.0) for v in values]
            self.clamps["action_range"] += 1
        arm = self._movable_arm()
        scale = self.config.action_scale
        turn = quat_from_rotvec_t([v * scale.rotation for v in values[3:6]])
        position = arm.tcp_pos + np.array(values[:3]) * scale.translation
        self._apply_target(arm, position, quat_mul_t(turn, arm.tcp_quat.tolist()))
        width = (values[6] + 1.0) / 2.0 * self.limits.gripper_max_width
        self._apply_gripper(width, self.gripper_force)

    def _act(self, message: Message) -> Reply:
        self._apply_action(message)
        return {"target_pos": self.target_pos.tolist(), "target_quat": self.target_quat.tolist()}, {}

    def _require_lockstep(self) -> None:
        if self.mode != "lockstep":
            raise CommandError(ErrorCode.WRONG_MODE, "only in lockstep mode; send set_mode lockstep")

    def _step(self, message: Message) -> Reply:
        self._require_lockstep()
        cameras = self._requested_cameras(message)
        self._apply_action(message)
        assert self.backend.clock is not None
        self.backend.clock.advance(self.config.control_period)
        self.step_index += 1
        return self._observation_reply(cameras)

    def _advance(self, message: Message) -> Reply:
        self._require_lockstep()
        seconds = _number(message.header.get("data") or {}, "seconds", 1e-6, MAX_ADVANCE)
        assert self.backend.clock is not None
        self.backend.clock.advance(seconds)
        return self.state_data(), {}

    def _reset(self, message: Message) -> Reply:
        data = message.header.get("data") or {}
        seed = data.get("seed")
        if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
            raise CommandError(ErrorCode.INVALID_ARGUMENT, "'seed' must be a non-negative integer or null")
        randomize_arm = _flag(data, "randomize_arm", False)
        randomize_scene = _flag(data, "randomize_scene", True)
        joints = _finite_vector(message, "joints", 7, bound=2 * math.pi, required=False)
        cameras = self._requested_cameras(message)
        arm = self.backend.arm
        if joints is not None and not ((arm.joint_lower <= joints) & (joints <= arm.joint_upper)).all():
            raise CommandError(
                ErrorCode.INVALID_ARGUMENT,
                f"'joints' outside the joint limits {arm.joint_lower.tolist()} .. {arm.joint_upper.tolist()}",
            )
        self._movable_arm()
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        home = self.backend.arm.home_joints if joints is None else joints
        self._check_reset_pose(home)
        if randomize_arm:
            home = self._perturbed(home)
        self.backend.reset(home, self._rng, randomize_scene)
        self._apply_gripper(self.limits.gripper_max_width, self.limits.gripper_default_force)
        self._hold_pose()
        self.holding = False
        if self.mode == "realtime" and self.backend.clock is not None:
            self.backend.clock.start_realtime(time.monotonic())
        self.episode += 1
        self.step_index = 0
        return self._observation_reply(cameras)

    def _perturbed(self, joints: np.ndarray, tries: int = 20) -> np.ndarray:
        """Joints with uniform noise that still put the TCP inside the limits (else unchanged)."""
        arm = self.backend.arm
        noise = getattr(self.config.sim, "arm_noise", 0.0)
        for _ in range(tries):
            candidate = np.clip(joints + self._rng.uniform(-noise, noise, size=7), arm.joint_lower, arm.joint_upper)
            try:
                self._check_reset_pose(candidate)
            except CommandError:
                continue
            return candidate
        return joints

    def _check_reset_pose(self, joints: np.ndarray) -> None:
        """A reset must end with the TCP inside the workspace box and the orientation cone."""
        pos, quat = self.backend.arm.tcp_pose_at(joints)
        limits = self.limits
        if not ((limits.workspace_min <= pos) & (pos <= limits.workspace_max)).all():
            raise CommandError(
                ErrorCode.INVALID_ARGUMENT,
                f"these joints put the TCP at {np.round(pos, 3).tolist()}, outside the workspace box "
                f"{limits.workspace_min.tolist()} .. {limits.workspace_max.tolist()}",
            )
        deviation = float(np.linalg.norm(rotation_between_t(self._reference_quat, quat.tolist())))
        if deviation > limits.max_orientation_deviation:
            raise CommandError(
                ErrorCode.INVALID_ARGUMENT,
                f"these joints turn the TCP {deviation:.2f} rad from the reference orientation "
                f"(at most {limits.max_orientation_deviation})",
            )

    def _stop(self, message: Message) -> Reply:
        """Always accepted, from anyone; changes no client's sequence state."""
        self._halt("stop requested")
        return {"stopped": True}, {}

    def _recover(self, message: Message) -> Reply:
        self.backend.arm.recover()
        self._reading = None  # the fault may be gone without the arm having moved
        self.stopped = False
        self.stop_reason = ""
        self._hold_pose()
        self.holding = False
        return {"stopped": False}, {}

    def _set_mode(self, message: Message) -> Reply:
        mode = _choice(message.header.get("data") or {}, "mode", ("realtime", "lockstep"), "")
        self._enter_mode(mode)
        return {"mode": self.mode}, {}
