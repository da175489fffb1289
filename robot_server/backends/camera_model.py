"""What a camera backend knows of its cameras' optics and placement (`Cameras.calibration()`).

Intrinsics follow OpenCV's pinhole model: pixel centres at integer coordinates, x right, y down,
distortion coefficients in OpenCV's order (k1, k2, p1, p2, k3, ...). Extrinsics are the camera's
pose, OpenCV's camera axes (z along the view), in the robot base frame for a fixed camera or in
the TCP frame for one on the hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Intrinsics:
    width: int
    """Image width the numbers are for, pixels."""
    height: int
    """Image height, pixels."""
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = ()
    """OpenCV's coefficients (k1, k2, p1, p2, k3, ...); empty: none."""
    model: str = "pinhole"
    """The distortion model the coefficients belong to (`pinhole`: none; librealsense's names
    such as `brown_conrady` or `inverse_brown_conrady` for RealSense factory calibrations)."""
    source: str = ""
    """Where the numbers come from: sim (the model's fovy), device (factory), file (calibrated)."""

    def __post_init__(self) -> None:
        numbers = (self.fx, self.fy, self.cx, self.cy, *self.distortion)
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError("intrinsics must be finite numbers")
        if self.width <= 0 or self.height <= 0 or self.fx <= 0 or self.fy <= 0:
            raise ValueError("intrinsics need a positive image size and focal lengths")

    def as_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "distortion": list(self.distortion),
            "model": self.model,
            "source": self.source,
        }


def pinhole_from_fovy(width: int, height: int, fovy_degrees: float, source: str = "sim") -> Intrinsics:
    """A distortion-free camera with a vertical field of view `fovy` and square pixels, its
    principal point at the image centre (as MuJoCo's cameras are)."""
    focal = height / 2 / math.tan(math.radians(fovy_degrees) / 2)
    return Intrinsics(width, height, focal, focal, (width - 1) / 2, (height - 1) / 2, (), "pinhole", source)


@dataclass(frozen=True)
class Extrinsics:
    frame: Literal["base", "tcp"]
    """The frame the pose is in: base (a fixed camera), tcp (a camera on the hand)."""
    position: tuple[float, float, float]
    """The camera's optical centre, metres."""
    quat: tuple[float, float, float, float]
    """The camera's orientation (OpenCV axes), unit quaternion [w, x, y, z]."""
    source: str = ""
    """sim (the model's ground truth) or file (a hand-eye calibration)."""

    def __post_init__(self) -> None:
        if self.frame not in ("base", "tcp"):
            raise ValueError(f"extrinsics: frame is base or tcp, not {self.frame!r}")
        values = (*self.position, *self.quat)
        if len(self.position) != 3 or len(self.quat) != 4 or not all(math.isfinite(v) for v in values):
            raise ValueError("extrinsics: position needs 3 finite numbers and quat 4")
        if abs(math.sqrt(sum(v * v for v in self.quat)) - 1.0) > 1e-3:
            raise ValueError("extrinsics: quat must be a unit quaternion [w, x, y, z]")

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "position": list(self.position), "quat": list(self.quat), "source": self.source}


@dataclass(frozen=True)
class CameraCalibration:
    """One camera's intrinsics for its frames as the backend delivers them, and its pose when known."""

    intrinsics: Intrinsics | None = None
    extrinsics: Extrinsics | None = None
