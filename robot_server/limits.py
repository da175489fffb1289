"""Safety limits: loaded from the one limits file, applied to every target the arm gets."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from wire.geometry import (
    as_tuple,
    quat_from_rotvec_t,
    quat_mul_t,
    quat_normalize_t,
    rotation_between_t,
)

DEFAULT_LIMITS_FILE = Path(__file__).with_name("limits.yaml")

CLAMP_KINDS = (
    "workspace",
    "orientation",
    "step_translation",
    "step_rotation",
    "gripper_width",
    "gripper_force",
    "action_range",
)
"""What a clamp counter counts: which limit changed a requested value."""


PLAUSIBLE_POSITION = 2.0
"""Absolute targets beyond this many metres from the base on any axis are rejected, not clamped."""
PLAUSIBLE_TRANSLATION = 1.0
"""Relative moves longer than this (metres, any axis) are rejected, not clamped."""
PLAUSIBLE_ROTATION = math.pi
"""Relative rotations beyond this angle (rad) are rejected."""
PLAUSIBLE_WIDTH = 1.0
"""Gripper widths outside [0, this] metres are rejected; within it they are clamped."""
PLAUSIBLE_FORCE = 1000.0
"""Gripper forces outside [0, this] newtons are rejected; within it they are clamped."""
ACTION_TOLERANCE = 1e-6
"""Normalised actions may exceed [-1, 1] by this much (then clipped); more is rejected."""


class LimitsError(ValueError):
    """The limits file is missing a field or holds an inconsistent value."""


@dataclass(frozen=True)
class Limits:
    workspace_min: np.ndarray
    workspace_max: np.ndarray
    reference_quat: np.ndarray
    max_orientation_deviation: float
    max_translation: float
    max_rotation: float
    gripper_min_width: float
    gripper_max_width: float
    gripper_max_force: float
    gripper_default_force: float
    cmd_timeout: float
    link_timeout: float

    def __post_init__(self) -> None:
        numbers = [
            self.max_orientation_deviation,
            self.max_translation,
            self.max_rotation,
            self.gripper_min_width,
            self.gripper_max_width,
            self.gripper_max_force,
            self.gripper_default_force,
            self.cmd_timeout,
            self.link_timeout,
        ]
        arrays = [self.workspace_min, self.workspace_max, self.reference_quat]
        if not all(np.isfinite(n) for n in numbers) or not all(np.isfinite(a).all() for a in arrays):
            raise LimitsError("every limit must be a finite number")
        if self.workspace_min.shape != (3,) or self.workspace_max.shape != (3,):
            raise LimitsError("workspace min and max need 3 values each")
        if not (self.workspace_min < self.workspace_max).all():
            raise LimitsError("workspace min must be below max on every axis")
        if self.reference_quat.shape != (4,) or abs(np.linalg.norm(self.reference_quat) - 1) > 1e-3:
            raise LimitsError("orientation.reference_quat must be a unit quaternion [w, x, y, z]")
        if not 0 < self.max_orientation_deviation <= np.pi / 2:
            raise LimitsError("orientation.max_deviation must be in (0, pi/2]")
        if self.max_translation <= 0 or self.max_rotation <= 0:
            raise LimitsError("per_command limits must be positive")
        if not 0 <= self.gripper_min_width < self.gripper_max_width:
            raise LimitsError("gripper widths must satisfy 0 <= min_width < max_width")
        if not 0 < self.gripper_default_force <= self.gripper_max_force:
            raise LimitsError("gripper default_force must be in (0, max_force]")
        if not 0 < self.cmd_timeout < self.link_timeout:
            raise LimitsError("watchdog timeouts must satisfy 0 < cmd_timeout < link_timeout")

    @classmethod
    def load(cls, path: Path | str = DEFAULT_LIMITS_FILE) -> Limits:
        try:
            raw = yaml.safe_load(Path(path).read_text())
            return cls(
                workspace_min=np.array(raw["workspace"]["min"], dtype=np.float64),
                workspace_max=np.array(raw["workspace"]["max"], dtype=np.float64),
                reference_quat=np.array(raw["orientation"]["reference_quat"], dtype=np.float64),
                max_orientation_deviation=float(raw["orientation"]["max_deviation"]),
                max_translation=float(raw["per_command"]["max_translation"]),
                max_rotation=float(raw["per_command"]["max_rotation"]),
                gripper_min_width=float(raw["gripper"]["min_width"]),
                gripper_max_width=float(raw["gripper"]["max_width"]),
                gripper_max_force=float(raw["gripper"]["max_force"]),
                gripper_default_force=float(raw["gripper"]["default_force"]),
                cmd_timeout=float(raw["watchdog"]["cmd_timeout"]),
                link_timeout=float(raw["watchdog"]["link_timeout"]),
            )
        except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            if isinstance(exc, LimitsError):
                raise
            raise LimitsError(f"limits file {path}: {exc!r}") from None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


@dataclass
class ClampedTarget:
    pos: np.ndarray
    quat: np.ndarray
    clamped: list[str] = field(default_factory=list)


def _shrink(rotvec: tuple[float, float, float], max_angle: float) -> float:
    """The factor that brings a rotation vector's angle down to max_angle (1.0 if within)."""
    angle = math.sqrt(rotvec[0] ** 2 + rotvec[1] ** 2 + rotvec[2] ** 2)
    return 1.0 if angle <= max_angle else max_angle / angle


def _angle(q_from: tuple[float, ...], q_to: tuple[float, ...]) -> float:
    return math.sqrt(sum(v * v for v in rotation_between_t(q_from, q_to)))


def _slerp(q_from: tuple[float, ...], q_to: tuple[float, ...], fraction: float) -> tuple[float, ...]:
    turn = rotation_between_t(q_from, q_to)
    return quat_mul_t(quat_from_rotvec_t([v * fraction for v in turn]), q_from)


def _furthest_within(reach: Callable[[float], float], limit: float, iterations: int = 40) -> float:
    """The largest t in [0, 1] with reach(t) <= limit, for a path that starts within it
    (reach(0) <= limit) and grows along the part that matters; found by bisection."""
    low, high = 0.0, 1.0
    for _ in range(iterations):
        middle = (low + high) / 2
        if reach(middle) <= limit:
            low = middle
        else:
            high = middle
    return low


def _clamp_position(limits: Limits, current: np.ndarray, target: np.ndarray, clamped: list[str]) -> np.ndarray:
    step = target - current
    distance = math.sqrt(float(step @ step))
    if distance > limits.max_translation:
        target = current + step * (limits.max_translation / distance)
        clamped.append("step_translation")
    boxed = np.clip(target, limits.workspace_min, limits.workspace_max)
    if (boxed == target).all():
        return target
    clamped.append("workspace")
    if float(np.linalg.norm(boxed - current)) <= limits.max_translation:
        return boxed
    # The measured pose is outside the box (pushed there, or overshooting its edge): clipping
    # can take the target further than one step from it. Go towards the box by one step at most.
    nearest = np.clip(current, limits.workspace_min, limits.workspace_max)
    to_box = nearest - current
    gap = float(np.linalg.norm(to_box))
    if "step_translation" not in clamped:
        clamped.append("step_translation")
    if gap >= limits.max_translation:
        return current + to_box * (limits.max_translation / gap)
    along = _furthest_within(
        lambda t: float(np.linalg.norm(nearest + t * (boxed - nearest) - current)), limits.max_translation
    )
    return nearest + along * (boxed - nearest)


def _clamp_orientation(
    limits: Limits, current: tuple[float, ...], target: tuple[float, ...], clamped: list[str]
) -> tuple[float, ...]:
    turn = rotation_between_t(current, target)
    scale = _shrink(turn, limits.max_rotation)
    if scale < 1.0:
        target = quat_mul_t(quat_from_rotvec_t([v * scale for v in turn]), current)
        clamped.append("step_rotation")
    reference = as_tuple(limits.reference_quat)
    deviation = limits.max_orientation_deviation
    from_reference = rotation_between_t(reference, target)
    scale = _shrink(from_reference, deviation)
    if scale == 1.0:
        return target
    coned = quat_mul_t(quat_from_rotvec_t([v * scale for v in from_reference]), reference)
    clamped.append("orientation")
    if _angle(current, coned) <= limits.max_rotation:
        return coned
    # As for the box: from an orientation outside the cone, turn back by one step at most.
    if "step_rotation" not in clamped:
        clamped.append("step_rotation")
    from_reference = rotation_between_t(reference, current)
    nearest = quat_mul_t(
        quat_from_rotvec_t([v * _shrink(from_reference, deviation) for v in from_reference]), reference
    )
    if _angle(current, nearest) >= limits.max_rotation:
        return _slerp(current, nearest, limits.max_rotation / _angle(current, nearest))
    along = _furthest_within(lambda t: _angle(current, _slerp(nearest, coned, t)), limits.max_rotation)
    return _slerp(nearest, coned, along)


def clamp_target(
    limits: Limits,
    current_pos: np.ndarray,
    current_quat: np.ndarray,
    target_pos: np.ndarray,
    target_quat: np.ndarray,
) -> ClampedTarget:
    """The target the arm may track: within one command's translation and rotation of
    the measured pose, and inside the workspace box and the orientation cone.

    The result is never more than one step from the measured pose. For a measured pose
    inside the box and cone (or within a step of them) those hold too: clipping to a box
    never moves a point away from a point inside the box, and the cone's projection
    (towards its axis) shortens the rotation from a measured orientation inside it. From
    a measured pose further out (an arm pushed there by hand), the target goes back
    towards the box and cone by one step.
    """
    clamped: list[str] = []
    pos = _clamp_position(
        limits, np.asarray(current_pos, dtype=np.float64), np.asarray(target_pos, dtype=np.float64), clamped
    )
    quat = _clamp_orientation(limits, as_tuple(current_quat), quat_normalize_t(as_tuple(target_quat)), clamped)
    return ClampedTarget(pos=pos, quat=np.array(quat_normalize_t(quat)), clamped=clamped)


def clamp_gripper(limits: Limits, width: float, force: float) -> tuple[float, float, list[str]]:
    clamped = []
    safe_width = min(max(width, limits.gripper_min_width), limits.gripper_max_width)
    if safe_width != width:
        clamped.append("gripper_width")
    safe_force = min(max(force, 0.0), limits.gripper_max_force)
    if safe_force != force:
        clamped.append("gripper_force")
    return safe_width, safe_force, clamped
