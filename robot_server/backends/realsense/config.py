"""Settings of the RealSense camera backend (`cameras: {type: realsense, ...}`); importable without
pyrealsense2, so that configuration never loads librealsense."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class RealSenseCameraConfig:
    """One RealSense camera: which device, and how it streams."""

    name: str
    """The camera's name in observations (`front`, `wrist`, ...)."""
    serial: str
    """The device's serial number (`rlif cameras --list` shows those connected)."""
    width: int = 640
    """Colour image width, pixels (a mode the device offers in RGB8)."""
    height: int = 480
    """Colour image height, pixels."""
    fps: int = 30
    """Colour frame rate, frames per second (the depth stream, when on, runs at the same rate)."""
    depth: bool = False
    """Also stream depth, aligned to the colour image (uint16, in the device's depth units)."""
    depth_width: int = 640
    """Depth image width, pixels, before alignment to colour."""
    depth_height: int = 480
    """Depth image height, pixels, before alignment to colour."""
    exposure: float | None = None
    """None: auto exposure. Else a fixed exposure, as librealsense's `option.exposure` of the colour
    sensor (its unit depends on the model); checked against the sensor's range at start."""
    warm_up_frames: int = 30
    """Frames discarded each time the device starts streaming, while auto exposure settles (not
    applied to recordings)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a RealSense camera needs a name")
        if not self.serial:
            raise ValueError(f"RealSense camera {self.name!r} needs the device's serial number")
        for field in ("width", "height", "fps", "depth_width", "depth_height"):
            if getattr(self, field) <= 0:
                raise ValueError(f"RealSense camera {self.name!r}: {field} must be positive")
        if self.exposure is not None and self.exposure <= 0:
            raise ValueError(f"RealSense camera {self.name!r}: exposure must be positive (or None for auto)")
        if self.warm_up_frames < 0:
            raise ValueError(f"RealSense camera {self.name!r}: warm_up_frames must be >= 0")


@dataclass(frozen=True)
class RealSenseConfig:
    """Intel RealSense cameras through pyrealsense2, one reader thread per camera."""

    type: Literal["realsense"] = "realsense"
    """Backend name."""
    cameras: tuple[RealSenseCameraConfig, ...] = ()
    """The cameras to serve; entries given as mappings (from YAML) become RealSenseCameraConfig."""
    stale_after: float = 0.5
    """Seconds without a new frame after which a camera is a fault, and its device is reopened."""
    open_timeout: float = 5.0
    """Seconds a device may take, once (re)opened, to deliver its first frame; longer and it is
    closed and opened again."""
    reopen_interval: float = 1.0
    """Seconds between attempts to reopen a camera that is faulted or not connected."""
    start_timeout: float = 10.0
    """Seconds the backend waits at start for every camera's first frame (after warm-up); a camera
    that has none by then fails the start. 0: start without waiting."""
    playback: Path | None = None
    """Serve recordings instead of devices: a `.db3` file (as librealsense records) or a folder of
    them; each camera plays the recording of the device with its serial number."""
    playback_loop: bool = True
    """Playback: start the recording again at its end; False: the camera is a fault at the end."""

    def __post_init__(self) -> None:
        cameras = tuple(_camera(entry) for entry in self.cameras)
        object.__setattr__(self, "cameras", cameras)
        for key in ("name", "serial"):
            values = [getattr(camera, key) for camera in cameras]
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise ValueError(f"RealSense cameras: each {key} once; repeated: {repeated}")
        for field in ("stale_after", "open_timeout", "reopen_interval"):
            if getattr(self, field) <= 0:
                raise ValueError(f"RealSense cameras: {field} must be positive")
        for camera in cameras:
            if self.stale_after <= 2.0 / camera.fps:
                raise ValueError(f"RealSense cameras: stale_after must exceed two frame periods of {camera.name!r}")
        if self.start_timeout < 0:
            raise ValueError("RealSense cameras: start_timeout must be >= 0")
        if self.playback is not None and not isinstance(self.playback, Path):
            object.__setattr__(self, "playback", Path(self.playback))


def _camera(entry: RealSenseCameraConfig | Mapping[str, Any]) -> RealSenseCameraConfig:
    if isinstance(entry, RealSenseCameraConfig):
        return entry
    if not isinstance(entry, Mapping):
        raise ValueError(f"a RealSense camera is a mapping of settings, not {entry!r}")
    settings = {str(key).replace("-", "_"): value for key, value in entry.items()}
    known = {field.name for field in dataclasses.fields(RealSenseCameraConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown RealSense camera setting(s) {unknown}; known: {sorted(known)}")
    return RealSenseCameraConfig(**settings)
