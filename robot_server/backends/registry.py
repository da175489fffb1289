"""The arm and camera backends, by the name the configuration gives (`type`).

A backend is one module plus one line here: its configuration dataclass (importable without
the backend's library) and where its factory lives, imported only when that backend is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from robot_server.backends.base import Cameras, Rig, Station
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.backends.no_cameras import NoCamerasConfig
from robot_server.backends.realsense.config import RealSenseConfig

ArmConfig = SimConfig | FrankaArmConfig
"""The settings of any arm backend; `type` names it."""
CameraConfig = SimCamerasConfig | RealSenseConfig | NoCamerasConfig
"""The settings of any camera backend; `type` names it."""

ARM_BACKENDS: dict[str, str] = {
    "sim": "robot_server.backends.mujoco_sim.backend:SimRig",
    "franka": "robot_server.backends.franka.backend:FrankaBackend",
}
CAMERA_BACKENDS: dict[str, str] = {
    "sim": "robot_server.backends.mujoco_sim.backend:sim_cameras",
    "realsense": "robot_server.backends.realsense.backend:realsense_cameras",
    "none": "robot_server.backends.no_cameras:NoCameras",
}


def _factory(table: dict[str, str], kind: str, name: str) -> Any:
    if name not in table:
        raise ValueError(f"unknown {kind} backend {name!r}; known: {sorted(table)}")
    module, attribute = table[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def make_station(arm: ArmConfig, cameras: CameraConfig) -> Station:
    """The rig named by `arm.type` and the cameras named by `cameras.type`, built and joined."""
    rig: Rig = _factory(ARM_BACKENDS, "arm", arm.type)(arm)
    try:
        camera_backend: Cameras = _factory(CAMERA_BACKENDS, "camera", cameras.type)(cameras, rig)
    except BaseException:
        rig.close()
        raise
    return Station(rig, camera_backend)
