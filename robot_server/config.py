"""Configuration of the robot server process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.backends.registry import ArmConfig, CameraConfig
from robot_server.images import ViewConfig
from robot_server.limits import DEFAULT_LIMITS_FILE
from wire.action import ROTATION_SCALE, TRANSLATION_SCALE


@dataclass(frozen=True)
class ActionScale:
    """What a normalised action of 1.0 means, per control period."""

    translation: float = TRANSLATION_SCALE
    """Metres of TCP translation per unit action, per axis."""
    rotation: float = ROTATION_SCALE
    """Radians of TCP rotation per unit action, per axis (rotation vector, base frame)."""


@dataclass(frozen=True)
class ServerConfig:
    """The robot server: where it listens, what it drives and how."""

    host: str = "127.0.0.1"
    """Address to bind. Any address but loopback also needs `curve_secret_key`."""
    port: int = 5555
    """Request/reply port (queries and commands)."""
    pub_port: int = 5556
    """Port of the published stream of state and images, for clients that only watch."""
    arm: ArmConfig = field(default_factory=SimConfig)
    """The arm backend and its settings: `type` names it (sim, franka)."""
    cameras: CameraConfig = field(default_factory=SimCamerasConfig)
    """The camera backend and its settings: `type` names it (sim, realsense, none)."""
    views: tuple[ViewConfig, ...] = ()
    """Per camera: the crop box and output size the policy sees (every camera backend)."""
    mode: Literal["lockstep", "realtime"] = "lockstep"
    """Start-up mode; clients switch with `set_mode`. Lockstep is simulation only."""
    limits: Path = DEFAULT_LIMITS_FILE
    """The safety limits file."""
    calibration: Path | None = None
    """Camera calibration file written by `rlif calibrate intrinsics|handeye`: each camera's pose
    (and measured intrinsics), reported by `info` under `camera_calibration`."""
    control_period: float = 0.1
    """Seconds of simulated time one lockstep `step` advances."""
    action_scale: ActionScale = field(default_factory=ActionScale)
    """Scaling of normalised actions (`act`, `step`)."""
    pub_hz: float = 30.0
    """Rate of the published stream (at most; lockstep publishes only when time moved)."""
    pub_images: bool = True
    """Whether the published stream carries camera images."""
    seed: int = 0
    """Seed of the reset randomisation when a reset names none."""
    curve_secret_key: Path | None = None
    """CurveZMQ secret key file of the server (`rlif keys`); required off loopback."""
    curve_clients: Path | None = None
    """Folder of the public key files of the clients allowed in; required with curve."""

    def __post_init__(self) -> None:
        # A YAML file gives the views as mappings.
        views = tuple(view if isinstance(view, ViewConfig) else _view(view) for view in self.views)
        object.__setattr__(self, "views", views)


def _view(entry: object) -> ViewConfig:
    if not isinstance(entry, dict):
        raise ValueError(f"views: each entry is a mapping (camera, crop, height, width), got {entry!r}")
    settings = dict(entry)
    if settings.get("crop") is not None:
        settings["crop"] = tuple(settings["crop"])
    try:
        return ViewConfig(**settings)
    except TypeError as exc:
        raise ValueError(f"views: {exc}") from None
