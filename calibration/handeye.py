"""Hand-eye calibration from (arm pose, board pose in the camera) pairs, with OpenCV's solvers.

One formulation covers both setups. The "mover" M is the pose that changes between views, the
camera X is fixed in M's frame and the board F in the other frame, so that for every view
F = M X C (C: the board in the camera):

- eye_in_hand (camera on the hand, board on the table): M = T_base_tcp, X = T_tcp_cam, F = T_base_board;
- eye_to_hand (camera fixed, board in the hand): M = T_tcp_base, X = T_base_cam, F = T_tcp_board.

`calibrateHandEye` gives X (F is then averaged over the views); `calibrateRobotWorldHandEye`
gives both. Each method is checked by predicting every view's board (C = X^-1 M^-1 F) and comparing
it with what the camera saw: reprojection residual in pixels, and board position and angle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from calibration.board import BoardView, reprojection_rms
from calibration.config import HandEyeConfig
from calibration.geometry import angle_between, from_rotation, invert, mean_transform, rotvec_from_rotation
from robot_server.backends.camera_model import Intrinsics

Setup = Literal["eye_in_hand", "eye_to_hand"]
HAND_EYE = {
    "tsai": cv2.CALIB_HAND_EYE_TSAI,
    "park": cv2.CALIB_HAND_EYE_PARK,
    "horaud": cv2.CALIB_HAND_EYE_HORAUD,
    "andreff": cv2.CALIB_HAND_EYE_ANDREFF,
    "daniilidis": cv2.CALIB_HAND_EYE_DANIILIDIS,
}
ROBOT_WORLD = {"shah": cv2.CALIB_ROBOT_WORLD_HAND_EYE_SHAH, "li": cv2.CALIB_ROBOT_WORLD_HAND_EYE_LI}
METHODS = (*HAND_EYE, *ROBOT_WORLD)
AXIS_SPREAD = 0.2
"""Two turns between views must have axes at least this far apart (rad) for a unique solution."""


class CalibrationError(ValueError):
    """The views cannot give a calibration (too few, board unseen, degenerate motion)."""


@dataclass(frozen=True)
class Sample:
    tcp: np.ndarray
    """T_base_tcp when the image was taken."""
    board: np.ndarray
    """T_cam_board from the image alone (PnP)."""
    view: BoardView


@dataclass(frozen=True)
class Solution:
    method: str
    camera: np.ndarray
    """X: T_tcp_cam (eye_in_hand) or T_base_cam (eye_to_hand)."""
    board: np.ndarray
    """F: T_base_board (eye_in_hand) or T_tcp_board (eye_to_hand)."""


@dataclass(frozen=True)
class Residuals:
    pixels: float
    """RMS reprojection of the board's corners through the predicted board pose, pixels."""
    millimetres: float
    """RMS distance between the predicted and the seen board centre, mm."""
    degrees: float
    """RMS angle between the predicted and the seen board orientation, degrees."""
    per_view: list[float]
    """Each view's reprojection RMS, pixels."""

    def summary(self) -> dict[str, float]:
        return {"pixels": self.pixels, "mm": self.millimetres, "deg": self.degrees}


def mover(sample: Sample, setup: Setup) -> np.ndarray:
    return sample.tcp if setup == "eye_in_hand" else invert(sample.tcp)


def solve(samples: Sequence[Sample], setup: Setup, method: str) -> Solution:
    movers = [mover(s, setup) for s in samples]
    boards = [s.board for s in samples]
    if method in HAND_EYE:
        rotation, translation = cv2.calibrateHandEye(
            [m[:3, :3] for m in movers],
            [m[:3, 3] for m in movers],
            [c[:3, :3] for c in boards],
            [c[:3, 3] for c in boards],
            method=HAND_EYE[method],
        )
        camera = from_rotation(rotation, translation)
        board = mean_transform([m @ camera @ c for m, c in zip(movers, boards, strict=True)])
    elif method in ROBOT_WORLD:
        inverse = [invert(m) for m in movers]
        world_r, world_t, cam_r, cam_t = cv2.calibrateRobotWorldHandEye(
            [c[:3, :3] for c in boards],
            [c[:3, 3] for c in boards],
            [b[:3, :3] for b in inverse],
            [b[:3, 3] for b in inverse],
            method=ROBOT_WORLD[method],
        )
        camera = invert(from_rotation(cam_r, cam_t))
        board = invert(from_rotation(world_r, world_t))
    else:
        raise ValueError(f"unknown hand-eye method {method!r}; known: {list(METHODS)}")
    if not (np.isfinite(camera).all() and np.isfinite(board).all()):
        raise CalibrationError(f"hand-eye method {method} gave no finite solution")
    return Solution(method, camera, board)


def residuals(
    solution: Solution, samples: Sequence[Sample], setup: Setup, intrinsics: Intrinsics, centre: np.ndarray
) -> Residuals:
    pixels, distances, angles = [], [], []
    inverse_camera = invert(solution.camera)
    for sample in samples:
        predicted = inverse_camera @ invert(mover(sample, setup)) @ solution.board
        pixels.append(reprojection_rms(sample.view, predicted, intrinsics))
        seen_centre = sample.board[:3, :3] @ centre + sample.board[:3, 3]
        distances.append(float(np.linalg.norm(predicted[:3, :3] @ centre + predicted[:3, 3] - seen_centre)))
        angles.append(angle_between(predicted, sample.board))
    return Residuals(
        pixels=_rms(pixels),
        millimetres=1000 * _rms(distances),
        degrees=math.degrees(_rms(angles)),
        per_view=pixels,
    )


def _rms(values: Sequence[float]) -> float:
    return float(np.sqrt(np.mean(np.square(values)))) if len(values) else float("nan")


def check_motion(samples: Sequence[Sample], config: HandEyeConfig) -> None:
    """Raise CalibrationError for too few views, or turns that leave the solution undetermined."""
    if not samples:
        raise CalibrationError("the board was not seen in any view: check it is in view and the board settings")
    if len(samples) < max(3, config.min_poses):
        raise CalibrationError(
            f"only {len(samples)} views with the board seen; hand-eye needs at least {max(3, config.min_poses)}"
        )
    axes = []
    for i, a in enumerate(samples):
        for b in samples[i + 1 :]:
            turn = rotvec_from_rotation(a.tcp[:3, :3].T @ b.tcp[:3, :3])
            angle = float(np.linalg.norm(turn))
            if angle >= config.min_rotation:
                axes.append(turn / angle)
    if not axes:
        raise CalibrationError(
            f"degenerate poses: the arm turned less than {config.min_rotation} rad between every two views"
        )
    spread = max(math.asin(min(1.0, float(np.linalg.norm(np.cross(axes[0], axis))))) for axis in axes)
    if len(axes) < 2 or spread < AXIS_SPREAD:
        raise CalibrationError(
            "degenerate poses: every turn between views is about one axis; hand-eye needs turns about "
            "at least two different axes"
        )


def held_out_split(count: int, fraction: float) -> tuple[list[int], list[int]]:
    """(train, held-out) indices, the held-out ones spread evenly; at least 2 held out, 3 kept."""
    held = max(2, round(count * fraction))
    if count - held < 3:
        raise CalibrationError(f"{count} views are too few to hold {held} out and solve with the rest")
    chosen = sorted({int(i) for i in np.linspace(0, count - 1, held + 2)[1:-1].round()})
    return [i for i in range(count) if i not in chosen], chosen


def reject_outliers(
    samples: Sequence[Sample], setup: Setup, intrinsics: Intrinsics, centre: np.ndarray, config: HandEyeConfig
) -> tuple[list[Sample], list[int]]:
    """The views kept, and the indices of those whose residual under a first solve was far out."""
    kept = list(range(len(samples)))
    for _ in range(2):
        chosen = [samples[i] for i in kept]
        try:
            first = solve(chosen, setup, "park")
        except (cv2.error, CalibrationError):  # no first solve: no outliers can be told
            break
        errors = residuals(first, chosen, setup, intrinsics, centre).per_view
        limit = max(config.outlier_factor * float(np.median(errors)), config.outlier_floor)
        staying = [i for i, error in zip(kept, errors, strict=True) if error <= limit]
        if len(staying) == len(kept) or len(staying) < max(3, config.min_poses):
            break
        kept = staying
    return [samples[i] for i in kept], [i for i in range(len(samples)) if i not in kept]
