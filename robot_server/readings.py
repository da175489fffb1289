"""What the server reports of the arm, the scene and the cameras, read once per change."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from robot_server.backends.base import ArmState, Backend, CameraFault
from robot_server.images import ImagePipeline
from wire import ErrorCode, WireError
from wire.geometry import rotation_between_t
from wire.requests import Images


class Readings:
    """The arm's reading and the physical part of the state map, reused while the backend says
    nothing moved; camera selection and the newest frames."""

    def __init__(self, backend: Backend, reference_quat: np.ndarray, pipeline: ImagePipeline) -> None:
        self.backend = backend
        self.pipeline = pipeline
        self._reference_quat = tuple(reference_quat.tolist())
        self._reading: ArmState | None = None
        self._version: int | None = None
        self._physical: dict[str, Any] | None = None

    def forget(self) -> None:
        """Read afresh next time (a fault may have cleared without the arm moving)."""
        self._reading = None

    def arm(self) -> ArmState:
        version = self.backend.state_version()
        if version is None or version != self._version or self._reading is None:
            self._reading = self.backend.arm.read()
            self._physical = None
            self._version = version
        return self._reading

    def physical(self) -> dict[str, Any]:
        arm = self.arm()
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

    def camera_names(self, wanted: Images) -> tuple[str, ...]:
        """The cameras an `images` argument asks for: true (all), false/null (none) or names."""
        names = self.backend.cameras.names
        if wanted is True:
            return tuple(names)
        if wanted is False or wanted is None:
            return ()
        unknown = set(wanted) - set(names)
        if unknown:
            raise WireError(ErrorCode.INVALID_ARGUMENT, f"unknown cameras {sorted(unknown)}")
        return tuple(wanted)

    def images(self, data: dict[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The newest frame of each named camera, cropped and resized for the policy; their capture
        stamps, ages, counters and device stamps go into `data`. A camera without a fresh frame is
        an error (CAMERA_FAULT), never an old image."""
        if not names:
            return {}
        faults = self.backend.cameras.faults()
        if any(name in faults for name in names):
            wanted = {name: faults[name] for name in names if name in faults}
            raise WireError(ErrorCode.CAMERA_FAULT, f"no fresh image from {wanted}")
        try:
            frames = self.backend.cameras.latest(names)
        except CameraFault as fault:
            raise WireError(ErrorCode.CAMERA_FAULT, str(fault)) from None
        now = time.monotonic()
        data["image_stamps"] = {name: frame.stamp for name, frame in frames.items()}
        data["image_ages"] = {name: now - frame.stamp for name, frame in frames.items()}
        data["image_counters"] = {name: frame.counter for name, frame in frames.items()}
        numbers = {name: frame.frame_number for name, frame in frames.items() if frame.frame_number is not None}
        if numbers:
            data["image_frame_numbers"] = numbers
            data["image_device_stamps"] = {name: frames[name].device_stamp for name in numbers}
        return {name: self.pipeline.apply(name, frame.image) for name, frame in frames.items()}
