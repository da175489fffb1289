"""The robot server's state machine: modes, stop and hold, the targets the arm tracks, and
what the server reports; the commands (`robot_server.commands`) act through it."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from typing import Any

import numpy as np

from robot_server.backends.base import LOCKSTEP, ON_DEMAND_FRAMES, ArmState, Backend
from robot_server.camera_calibration import served_calibration
from robot_server.config import ServerConfig
from robot_server.images import ImagePipeline
from robot_server.ledger import CommandLedger
from robot_server.limits import CLAMP_KINDS, Limits, clamp_gripper, clamp_target
from robot_server.readings import Readings
from wire import ErrorCode, WireError

log = logging.getLogger(__name__)

Reply = tuple[dict[str, Any], dict[str, np.ndarray]]


class ArmControl:
    """Modes, stop and hold, the clamped targets, the watchdog's clocks and the readings."""

    def __init__(self, config: ServerConfig, backend: Backend, limits: Limits) -> None:
        self.config = config
        self.backend = backend
        self.limits = limits
        self._check_action_scale()
        self.readings = Readings(backend, limits.reference_quat, ImagePipeline(config.views, backend.cameras.sizes))
        self.camera_calibration = served_calibration(
            backend.cameras, config.views, self.readings.pipeline.sizes, config.calibration
        )
        """What `info` reports of each camera's intrinsics (as served) and pose."""
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
        self.enter_mode(config.mode)

    def _check_action_scale(self) -> None:
        scale = self.config.action_scale
        if not 0 < scale.translation * math.sqrt(3) <= self.limits.max_translation:
            raise ValueError("action_scale.translation * sqrt(3) must not exceed limits max_translation")
        if not 0 < scale.rotation * math.sqrt(3) <= self.limits.max_rotation:
            raise ValueError("action_scale.rotation * sqrt(3) must not exceed limits max_rotation")

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
            camera_faults=self.backend.cameras.faults(),
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
