"""Hand-eye calibration with every method compared: outliers left out, views held out to judge each
method, the best closed-form solution refined on pixels (`calibration.refine`), and the best of all
(by held-out reprojection) solved again from every view kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from calibration.config import HandEyeConfig
from calibration.handeye import (
    METHODS,
    CalibrationError,
    Residuals,
    Sample,
    Setup,
    Solution,
    check_motion,
    held_out_split,
    reject_outliers,
    residuals,
    solve,
)
from calibration.refine import refine
from robot_server.backends.camera_model import Intrinsics


@dataclass(frozen=True)
class HandEyeResult:
    setup: Setup
    solution: Solution
    """The chosen method's solution from every view kept."""
    fit: Residuals
    """Its residuals over the views kept."""
    methods: dict[str, dict[str, Any]]
    """Per method: the camera pose from every view kept, and the residuals of a solve without the
    held-out views, on the views used and on the held-out ones."""
    views: int
    outliers: list[int]
    """Indices (in the views given) of the views left out as outliers."""
    held_out: int


def calibrate(
    samples: Sequence[Sample], setup: Setup, intrinsics: Intrinsics, centre: np.ndarray, config: HandEyeConfig
) -> HandEyeResult:
    """Every method compared on held-out views, and the best closed-form one refined on pixels; the
    best of all (held-out reprojection) solved again from every view kept. Raises CalibrationError."""
    check_motion(samples, config)
    kept, outliers = reject_outliers(samples, setup, intrinsics, centre, config)
    check_motion(kept, config)
    train_at, held_at = held_out_split(len(kept), config.held_out)
    train, held = [kept[i] for i in train_at], [kept[i] for i in held_at]
    methods: dict[str, dict[str, Any]] = {}
    solutions: dict[str, tuple[Solution, Solution]] = {}
    for method in METHODS:
        try:
            solutions[method] = (solve(train, setup, method), solve(kept, setup, method))
        except (cv2.error, CalibrationError) as exc:
            methods[method] = {"error": str(exc).strip().splitlines()[-1]}
    if not solutions:
        raise CalibrationError(f"no hand-eye method found a solution: {methods}")

    def held_out_pixels(method: str) -> float:
        return residuals(solutions[method][0], held, setup, intrinsics, centre).pixels

    closed = min(solutions, key=held_out_pixels)
    partial, full = solutions[closed]
    solutions["refined"] = (refine(partial, train, setup, intrinsics), refine(full, kept, setup, intrinsics))
    for method, (partial, full) in solutions.items():
        methods[method] = {
            "camera": full.camera,
            "train": residuals(partial, train, setup, intrinsics, centre).summary(),
            "held_out": residuals(partial, held, setup, intrinsics, centre).summary(),
        }
    methods["refined"]["from"] = closed
    best = min(solutions, key=held_out_pixels)
    final = solutions[best][1]
    fit = residuals(final, kept, setup, intrinsics, centre)
    return HandEyeResult(setup, final, fit, methods, len(samples), outliers, len(held))
