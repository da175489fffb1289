"""The workspace box from TCP positions the arm was driven to, checked and written as the server's
limits file (the other sections copied from the limits the server runs with)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calibration.config import WorkspaceConfig
from calibration.files import now, write_checked
from calibration.handeye import CalibrationError
from robot_server.limits import Limits
from wire.geometry import quat_to_matrix


def box_from(
    positions: Sequence[Sequence[float]] | Sequence[np.ndarray],
    config: WorkspaceConfig,
    reference_quat: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of the box the positions span, shrunk by the margin; CalibrationError when it is
    degenerate or a corner is beyond the arm's reach (a conservative radius: see WorkspaceConfig.reach)."""
    points = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(points) < 2:
        raise CalibrationError(f"{len(points)} corner(s) recorded: the box needs at least 2 (opposite corners)")
    if not np.isfinite(points).all():
        raise CalibrationError("a recorded position is not finite")
    low, high = points.min(axis=0) + config.margin, points.max(axis=0) - config.margin
    sides = high - low
    if (sides < config.min_side).any():
        thin = ", ".join(
            f"{axis} {side:.3f} m" for axis, side in zip("xyz", sides, strict=True) if side < config.min_side
        )
        raise CalibrationError(
            f"degenerate box: {thin} (at least {config.min_side} m after the {config.margin} m margin); "
            "drive the arm to corners that span the workspace on every axis"
        )
    tool_axis = quat_to_matrix(reference_quat)[:, 2]
    shoulder = np.asarray(config.shoulder)
    for corner in itertools.product(*zip(low, high, strict=True)):
        flange = np.asarray(corner) - tool_axis * config.flange_offset
        distance = float(np.linalg.norm(flange - shoulder))
        if distance > config.reach:
            raise CalibrationError(
                f"the box corner {np.round(corner, 3).tolist()} is beyond the arm's reach: its flange would be "
                f"{distance:.3f} m from the shoulder, more than the {config.reach} m allowed (conservative radius)"
            )
    return low, high


def limits_text(low: np.ndarray, high: np.ndarray, limits: dict[str, Any], note: str) -> str:
    """The limits file: this box, the other sections from `limits` (the server's `info["limits"]`)."""

    def row(values: Sequence[float] | np.ndarray) -> str:
        return "[" + ", ".join(f"{float(v):.4f}" for v in values) + "]"

    return f"""# Safety limits of the robot server (docs/server.md, "Safety"), written by `rlif calibrate workspace`
# on {now()}: {note}.
# The sections other than the workspace are those the server ran with then.

workspace:
  # Box that the TCP target is clamped into.
  min: {row(low)}
  max: {row(high)}

orientation:
  reference_quat: {row(limits["reference_quat"])}
  max_deviation: {limits["max_orientation_deviation"]}

per_command:
  max_translation: {limits["max_translation"]}
  max_rotation: {limits["max_rotation"]}

gripper:
  min_width: {limits["gripper_min_width"]}
  max_width: {limits["gripper_max_width"]}
  max_force: {limits["gripper_max_force"]}
  default_force: {limits["gripper_default_force"]}

watchdog:
  cmd_timeout: {limits["cmd_timeout"]}
  link_timeout: {limits["link_timeout"]}
"""


def write_limits(path: Path, low: np.ndarray, high: np.ndarray, limits: dict[str, Any], note: str) -> None:
    write_checked(path, limits_text(low, high, limits, note), Limits.load)
