"""A camera's intrinsics from ChArUco views (`cv2.calibrateCamera` on the board's corners)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from calibration.board import BoardView, camera_matrix
from calibration.handeye import CalibrationError
from robot_server.backends.camera_model import Intrinsics

FLAGS = {
    "none": cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
    "radial": cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
    "full": 0,
}
"""calibrateCamera flags for the distortion coefficients estimated."""
MIN_VIEWS = 5
OUTLIER_FACTOR = 3.0
"""A view whose reprojection error exceeds this many times the median (and 1 px) is left out."""


@dataclass(frozen=True)
class IntrinsicsResult:
    intrinsics: Intrinsics
    rms: float
    """Reprojection RMS over every corner of the views kept, pixels."""
    per_view: list[float]
    """Each kept view's reprojection RMS, pixels."""
    views: int
    outliers: int

    def report(self, reference: Intrinsics | None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "reprojection_rms_px": self.rms,
            "views": self.views,
            "outliers": self.outliers,
            "worst_view_px": max(self.per_view),
        }
        if reference is not None:
            found["against"] = reference.source or "reference"
            found["difference_percent"] = {
                key: 100 * (getattr(self.intrinsics, key) - getattr(reference, key)) / getattr(reference, key)
                for key in ("fx", "fy", "cx", "cy")
            }
        return found


def _calibrate(
    views: Sequence[BoardView], size: tuple[int, int], flags: int, guess: Intrinsics | None
) -> tuple[float, np.ndarray, np.ndarray, list[float]]:
    objects = [v.object_points.astype(np.float32) for v in views]
    images = [v.image_points.reshape(-1, 1, 2).astype(np.float32) for v in views]
    matrix = camera_matrix(guess) if guess is not None else None
    if guess is not None:
        flags |= cv2.CALIB_USE_INTRINSIC_GUESS
    rms, matrix, distortion, rvecs, tvecs = cv2.calibrateCamera(objects, images, size, matrix, None, flags=flags)
    per_view = []
    for obj, img, rvec, tvec in zip(objects, images, rvecs, tvecs, strict=True):
        projected, _ = cv2.projectPoints(obj, rvec, tvec, matrix, distortion)
        per_view.append(float(np.sqrt(np.mean(np.sum((projected - img).reshape(-1, 2) ** 2, axis=1)))))
    return float(rms), matrix, distortion.ravel(), per_view


def calibrate_intrinsics(
    views: Sequence[BoardView], width: int, height: int, distortion: str = "radial", guess: Intrinsics | None = None
) -> IntrinsicsResult:
    """Intrinsics for `width` x `height` images from the views (one board, several poses); views far
    worse than the rest are left out once. Raises CalibrationError."""
    if not views:
        raise CalibrationError("the board was not seen in any image: check it is in view and the board settings")
    if len(views) < MIN_VIEWS:
        raise CalibrationError(f"only {len(views)} views with the board seen; intrinsics need at least {MIN_VIEWS}")
    if distortion not in FLAGS:
        raise ValueError(f"distortion must be one of {sorted(FLAGS)}")
    kept = list(views)
    rms, matrix, coefficients, per_view = _calibrate(kept, (width, height), FLAGS[distortion], guess)
    limit = max(OUTLIER_FACTOR * float(np.median(per_view)), 1.0)
    good = [v for v, error in zip(kept, per_view, strict=True) if error <= limit]
    if MIN_VIEWS <= len(good) < len(kept):
        kept = good
        rms, matrix, coefficients, per_view = _calibrate(kept, (width, height), FLAGS[distortion], guess)
    if not np.isfinite(matrix).all() or matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise CalibrationError("calibrateCamera found no intrinsics (views too alike?)")
    found = Intrinsics(
        width,
        height,
        float(matrix[0, 0]),
        float(matrix[1, 1]),
        float(matrix[0, 2]),
        float(matrix[1, 2]),
        tuple(float(v) for v in coefficients) if distortion != "none" else (),
        "brown_conrady" if distortion != "none" else "pinhole",
        "charuco",
    )
    return IntrinsicsResult(found, rms, per_view, len(kept), len(views) - len(kept))
