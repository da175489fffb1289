"""Refining a hand-eye solution: the camera X and the board F adjusted together so that the board's
corners, predicted in every view through the arm's pose (C = X^-1 M^-1 F), land where the camera
saw them (least squares in pixels, Levenberg-Marquardt). The closed-form methods split rotation
from translation and weigh the views' poses, not their pixels; this uses every corner."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calibration.board import project
from calibration.geometry import from_rotation, invert, rotation_from_rotvec
from calibration.handeye import Sample, Setup, Solution, mover
from robot_server.backends.camera_model import Intrinsics

STEP = 1e-6
"""Finite-difference step of the Jacobian (radians and metres)."""


def _nudged(transform: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return transform @ from_rotation(rotation_from_rotvec(delta[:3]), delta[3:])


def _errors(
    camera: np.ndarray,
    board: np.ndarray,
    inverse_movers: Sequence[np.ndarray],
    samples: Sequence[Sample],
    intrinsics: Intrinsics,
) -> np.ndarray:
    inverse_camera = invert(camera)
    parts = [
        (project(s.view.object_points, inverse_camera @ m @ board, intrinsics) - s.view.image_points).ravel()
        for m, s in zip(inverse_movers, samples, strict=True)
    ]
    return np.concatenate(parts)


def refine(
    start: Solution, samples: Sequence[Sample], setup: Setup, intrinsics: Intrinsics, iterations: int = 30
) -> Solution:
    """The solution nearest `start` that minimises the reprojection error of every corner."""
    inverse_movers = [invert(mover(s, setup)) for s in samples]
    camera, board = start.camera, start.board
    errors = _errors(camera, board, inverse_movers, samples, intrinsics)
    cost, damping = float(errors @ errors), 1e-3
    for _ in range(iterations):
        jacobian = np.empty((errors.size, 12))
        for k in range(12):
            delta = np.zeros(12)
            delta[k] = STEP
            moved = _errors(_nudged(camera, delta[:6]), _nudged(board, delta[6:]), inverse_movers, samples, intrinsics)
            jacobian[:, k] = (moved - errors) / STEP
        normal, gradient = jacobian.T @ jacobian, jacobian.T @ errors
        improved = False
        while damping < 1e6:
            step = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), -gradient)
            new_camera, new_board = _nudged(camera, step[:6]), _nudged(board, step[6:])
            new_errors = _errors(new_camera, new_board, inverse_movers, samples, intrinsics)
            new_cost = float(new_errors @ new_errors)
            if new_cost < cost:
                camera, board, errors = new_camera, new_board, new_errors
                improved, converged = True, cost - new_cost < 1e-10 * cost
                cost, damping = new_cost, max(damping / 10, 1e-9)
                break
            damping *= 10
        if not improved or converged:
            break
    return Solution("refined", camera, board)
