"""Request handling of the robot server, independent of sockets.

`RobotService.handle(frames)` takes the frames of one request and returns the frames of its
one reply. It never raises: malformed, stale, duplicate and non-finite input gets an `error`
reply and leaves the arm's target untouched. The service holds the state machine (modes,
stop, hold, the watchdog); the commands themselves are in `robot_server.commands`.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections import Counter
from typing import Any

import numpy as np

from robot_server.backends.base import LOCKSTEP, ON_DEMAND_FRAMES, ArmState, Backend
from robot_server.commands import COMMANDS, Reply
from robot_server.config import ServerConfig
from robot_server.ledger import CommandLedger
from robot_server.limits import CLAMP_KINDS, Limits, clamp_gripper, clamp_target
from robot_server.readings import Readings
from wire import ErrorCode, WireError, decode, error_reply, ok_reply
from wire.requests import read_acting, read_data, read_header

log = logging.getLogger(__name__)

MAX_REQUEST_FRAMES = 17
"""Frames of one request: the header and at most 16 arrays (requests carry a few small vectors)."""
MAX_REQUEST_BYTES = 64 * 1024
"""Bytes of one request, all frames together."""


class RobotService:
    """The server's state machine: modes, safety, watchdog; one handler per command."""

    def __init__(self, config: ServerConfig, backend: Backend, limits: Limits) -> None:
        self.config = config
        self.backend = backend
        self.limits = limits
        self._check_action_scale()
        self.readings = Readings(backend, limits.reference_quat)
        self.ledger = CommandLedger()
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
        self.rng = np.random.default_rng(config.seed)
        now = time.monotonic()
        self.last_command_time = now
        self.last_request_time = now
        self.gripper_width_target = backend.arm.max_gripper_width
        self.gripper_force = limits.gripper_default_force
        self.backend.arm.set_gripper(self.gripper_width_target, self.gripper_force)
        self.backend.arm.hold()
        state = self.arm_state()
        self.target_pos, self.target_quat = state.tcp_pos, state.tcp_quat
        self.commands = dict(COMMANDS)
        self.enter_mode(config.mode)

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
            if message.header.get("type") == "req" and message.header.get("cmd") == "stop":
                self.halt("stop requested")  # from anyone, whatever else is wrong with it
                return ok_reply({"stopped": True})
            header = read_header(message)
            command = self.commands.get(header.cmd) if isinstance(header.cmd, str) else None
            if command is None:
                raise WireError(
                    ErrorCode.UNKNOWN_COMMAND, f"unknown command {header.cmd!r}; known: {sorted(self.commands)}"
                )
            acting = read_acting(header) if command.acts else None
            if acting is not None:
                self.ledger.check(acting.client, acting.seq, acting.deadline, now)
            reply_data, reply_arrays = command.handler(self, message, read_data(header, command.schema))
            if acting is not None:
                self.ledger.accept(acting.client, acting.seq, now)
                self.last_command_time = now
                self.link_established = True
            if header.client is not None and header.client == self.ledger.controller:
                self.last_request_time = now
            return ok_reply(reply_data, reply_arrays)
        except WireError as exc:
            self.rejected[str(exc.code)] += 1
            return error_reply(exc.code, exc.message)
        except Exception as exc:  # a bug must not take the server down
            log.error("internal error handling a request:\n%s", traceback.format_exc())
            self.rejected[str(ErrorCode.INTERNAL)] += 1
            return error_reply(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ periodic work

    def tick(self, now: float) -> None:
        """Real-time mode: advance the arm with the clock and run the watchdog."""
        if self.mode != "realtime":
            return
        self.backend.arm.sync(now)
        self.backend.cameras.sync(now)
        if self.link_established and not self.stopped and now - self.last_request_time > self.limits.link_timeout:
            self.halt(f"link lost: no request for {now - self.last_request_time:.1f} s")
        elif not self.holding and now - self.last_command_time > self.limits.cmd_timeout:
            self.hold_pose()
            self.watchdog_holds += 1

    # ------------------------------------------------------------------ the state machine

    def hold_pose(self) -> None:
        self.backend.arm.hold()
        state = self.arm_state()
        self.target_pos, self.target_quat = state.tcp_pos, state.tcp_quat
        self.holding = True

    def halt(self, reason: str) -> None:
        self.hold_pose()
        self.stopped = True
        self.stop_reason = reason
        log.warning("arm stopped: %s", reason)

    def enter_mode(self, mode: str) -> None:
        clock = self.backend.clock
        if mode == "lockstep" and (clock is None or LOCKSTEP not in self.backend.capabilities):
            raise WireError(ErrorCode.UNAVAILABLE, f"{self.backend.arm.name} has no lockstep mode")
        self.mode = mode
        if ON_DEMAND_FRAMES in self.backend.capabilities:
            self.backend.cameras.set_on_demand(mode == "lockstep")
        if mode == "realtime" and clock is not None:
            clock.start_realtime(time.monotonic())
        self.hold_pose()
        self.last_command_time = time.monotonic()

    def movable_arm(self) -> ArmState:
        """The arm's reading, if it may move; else the reason it may not."""
        if self.stopped:
            raise WireError(ErrorCode.STOPPED, f"arm is stopped ({self.stop_reason}); send 'recover'")
        arm = self.arm_state()
        if arm.fault:
            raise WireError(ErrorCode.BACKEND_ERROR, f"arm fault: {arm.fault}; send 'recover'")
        return arm

    def apply_target(self, arm: ArmState, pos: np.ndarray, quat: np.ndarray) -> None:
        result = clamp_target(self.limits, arm.tcp_pos, arm.tcp_quat, pos, quat)
        self.clamps.update(result.clamped)
        self.target_pos, self.target_quat = result.pos, result.quat
        self.backend.arm.set_target(result.pos, result.quat)
        self.holding = False

    def apply_gripper(self, width: float, force: float) -> None:
        width, force, clamped = clamp_gripper(self.limits, width, force)
        self.clamps.update(clamped)
        self.gripper_width_target, self.gripper_force = width, force
        self.backend.arm.set_gripper(width, force)

    # ------------------------------------------------------------------ what it reports

    def arm_state(self) -> ArmState:
        """The arm's reading, reused while the backend says nothing moved."""
        return self.readings.arm()

    def state_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"success": None}
        data.update(self.readings.physical())
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
        return self.readings.camera_names(wanted)

    def images_for(self, data: dict[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
        return self.readings.images(data, names)

    def observation_reply(self, names: tuple[str, ...]) -> Reply:
        data = self.state_data()
        return data, self.images_for(data, names)

    def version(self) -> tuple[float | None, int, int]:
        """Changes whenever what an observation shows may have changed (lockstep)."""
        clock = self.backend.clock
        return (clock.sim_time if clock is not None else None, self.episode, self.step_index)


def _check_size(frames: list[Any]) -> None:
    if len(frames) > MAX_REQUEST_FRAMES:
        raise WireError(ErrorCode.MALFORMED, f"a request has at most {MAX_REQUEST_FRAMES} frames, got {len(frames)}")
    size = sum(len(frame) if isinstance(frame, bytes) else memoryview(frame).nbytes for frame in frames)
    if size > MAX_REQUEST_BYTES:
        raise WireError(ErrorCode.MALFORMED, f"a request has at most {MAX_REQUEST_BYTES} bytes, got {size}")
