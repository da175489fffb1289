"""From 6-DoF input device axes to a normalised twist in the robot base frame.

Device axes come in the raw HID convention of pyspacemouse (`AxisConvention.HID`):
x to the operator's right, y towards the operator, z down, and roll, pitch, yaw the
right-handed rotations about those axes. The robot base frame is the Franka's: x forward
from the robot's base, y to its left, z up.

Where the operator stands decides the mapping. The default, `front`, is an operator
standing in front of the robot, on its +x side, facing it (looking towards -x): pushing the
cap away moves the TCP away from the operator (-x), pushing it right moves it to the
operator's right (+y), lifting it moves up (+z); twisting the cap turns the TCP the same way
about the same axes. `axes` overrides the side with an explicit signed axis per base axis.

Order of operations: clip each device axis to [-1, 1], zero it inside the deadzone and
rescale the rest to stay continuous, map to the base frame, multiply by the per-axis scale
(a negative scale flips a sign), clip to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

DEVICE_AXES = ("x", "y", "z", "roll", "pitch", "yaw")
"""pyspacemouse's axis names, in the order of a device axes vector."""
BASE_AXES = ("x", "y", "z", "rx", "ry", "rz")
"""The twist's components in the robot base frame."""

OperatorSide = Literal["front", "behind", "left", "right"]
SIDES: dict[str, tuple[str, str, str, str, str, str]] = {
    # For base x, y, z, rx, ry, rz: the signed device axis that drives it.
    "front": ("+y", "+x", "-z", "+pitch", "+roll", "-yaw"),  # operator on the robot's +x side
    "behind": ("-y", "-x", "-z", "-pitch", "-roll", "-yaw"),  # operator on the -x side, facing +x
    "left": ("-x", "+y", "-z", "-roll", "+pitch", "-yaw"),  # operator on the +y side, facing -y
    "right": ("+x", "-y", "-z", "+roll", "-pitch", "-yaw"),  # operator on the -y side, facing +y
}
"""Each is a proper rotation from the device frame to the base frame, applied to translations
and rotations alike."""


def _parse_axes(axes: tuple[str, ...]) -> np.ndarray:
    if len(axes) != 6:
        raise ValueError(f"axes needs one signed device axis per base axis {BASE_AXES}, got {axes!r}")
    matrix = np.zeros((6, 6))
    for row, spec in enumerate(axes):
        sign, name = spec[:1], spec[1:]
        if sign not in "+-" or not sign or name not in DEVICE_AXES:
            raise ValueError(f"axis {spec!r} must be '+' or '-' followed by one of {DEVICE_AXES}")
        matrix[row, DEVICE_AXES.index(name)] = 1.0 if sign == "+" else -1.0
    if sorted(np.flatnonzero(matrix.any(axis=0))) != list(range(6)):
        raise ValueError(f"axes {axes!r} must use every device axis exactly once")
    return matrix


def apply_deadzone(values: np.ndarray, deadzone: float) -> np.ndarray:
    """Zero inside the deadzone; outside, rescale so the output grows continuously from 0 to 1."""
    clipped = np.clip(values, -1.0, 1.0)
    magnitude = np.maximum(np.abs(clipped) - deadzone, 0.0) / (1.0 - deadzone)
    return np.sign(clipped) * magnitude


@dataclass(frozen=True)
class AxisMapping:
    """How device axes become a base-frame twist."""

    operator_side: OperatorSide = "front"
    """Where the operator stands relative to the robot: front (+x side, facing -x, the default),
    behind, left (+y side) or right (-y side)."""
    axes: tuple[str, ...] = ()
    """Explicit mapping instead of `operator_side`: for base x, y, z, rx, ry, rz the signed device
    axis, e.g. ('+y', '+x', '-z', '+pitch', '+roll', '-yaw')."""
    deadzone: float = 0.1
    """Fraction of each device axis' full range that counts as no input."""
    scale: tuple[float, float, float, float, float, float] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    """Per base axis gain (negative flips the sign); the result is clipped to [-1, 1]."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.deadzone < 1.0:
            raise ValueError(f"deadzone must be in [0, 1), got {self.deadzone}")
        if len(self.scale) != 6 or not np.isfinite(self.scale).all():
            raise ValueError(f"scale needs 6 finite gains, got {self.scale!r}")
        if self.operator_side not in SIDES:
            raise ValueError(f"operator_side must be one of {sorted(SIDES)}, got {self.operator_side!r}")
        _ = self.matrix  # validates `axes`

    @cached_property
    def matrix(self) -> np.ndarray:
        """6x6 matrix from device axes to base axes, scale included."""
        axes = self.axes or SIDES[self.operator_side]
        return np.asarray(self.scale, dtype=np.float64)[:, None] * _parse_axes(tuple(axes))

    def twist(self, device_axes: np.ndarray) -> np.ndarray:
        """Base-frame twist in [-1, 1] from 6 device axes (pyspacemouse's x, y, z, roll, pitch, yaw)."""
        values = np.asarray(device_axes, dtype=np.float64)
        if values.shape != (6,) or not np.isfinite(values).all():
            return np.zeros(6)
        return np.clip(self.matrix @ apply_deadzone(values, self.deadzone), -1.0, 1.0)
