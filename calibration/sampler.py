"""The automatic pose sampler: arm poses inside the server's workspace box and orientation cone
that keep the whole board in the camera's view.

Before a first hand-eye estimate exists, poses are small random moves around the start pose (where
the operator left the arm, with the board in view). After it, each candidate pose is built to put
the board's centre at a random place in the image at about the start view's distance, with the
tool turned up to `tilt` from the start orientation; a candidate counts if the estimate predicts
every board corner inside the image and the board facing the camera, and of those the one turned
furthest from every view taken so far is chosen (varied turns make hand-eye well determined).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.board import project
from calibration.config import SamplerConfig
from calibration.geometry import angle_between, from_rotation, invert, random_rotvec, rotation_from_rotvec
from calibration.handeye import Setup, Solution
from robot_server.backends.camera_model import Intrinsics
from wire.geometry import quat_to_matrix

CANDIDATES = 40
"""Feasible candidates compared for each pose."""
TRIES = 600
"""Random candidates drawn for each pose, at most."""


class ViewModel:
    """Where the board appears for an arm pose, by a hand-eye estimate."""

    def __init__(self, solution: Solution, setup: Setup, intrinsics: Intrinsics, corners: np.ndarray) -> None:
        self.solution, self.setup, self.intrinsics = solution, setup, intrinsics
        self.corners = corners
        self.centre = corners.mean(axis=0)

    def board_in_camera(self, tcp: np.ndarray) -> np.ndarray:
        moving = tcp if self.setup == "eye_in_hand" else invert(tcp)
        return invert(self.solution.camera) @ invert(moving) @ self.solution.board

    def tcp_for(self, rotation: np.ndarray, point: np.ndarray) -> np.ndarray:
        """T_base_tcp with the tool's `rotation` that puts the board's centre at `point` (camera frame)."""
        camera, board = self.solution.camera, self.solution.board
        centre = board[:3, :3] @ self.centre + board[:3, 3]
        if self.setup == "eye_in_hand":
            position = centre - rotation @ (camera[:3, :3] @ point + camera[:3, 3])
        else:
            position = camera[:3, :3] @ point + camera[:3, 3] - rotation @ centre
        return from_rotation(rotation, position)

    def visible(self, tcp: np.ndarray, config: SamplerConfig) -> bool:
        seen = self.board_in_camera(tcp)
        depths = (seen[:3, :3] @ self.corners.T).T[:, 2] + seen[2, 3]
        if depths.min() <= 0.05:
            return False
        centre = seen[:3, :3] @ self.centre + seen[:3, 3]
        # The board's z points into it: along the line of sight when its printed side faces the camera.
        facing = float(seen[:3, 2] @ centre / np.linalg.norm(centre))
        if facing < math.cos(config.view_angle):
            return False
        pixels = project(self.corners, seen, self.intrinsics)
        margin_x, margin_y = config.image_margin * self.intrinsics.width, config.image_margin * self.intrinsics.height
        inside_x = (pixels[:, 0] >= margin_x) & (pixels[:, 0] <= self.intrinsics.width - 1 - margin_x)
        inside_y = (pixels[:, 1] >= margin_y) & (pixels[:, 1] <= self.intrinsics.height - 1 - margin_y)
        return bool((inside_x & inside_y).all())


class PoseSampler:
    def __init__(
        self, config: SamplerConfig, limits: dict[str, Any], start: np.ndarray, intrinsics: Intrinsics
    ) -> None:
        self.config = config
        self.start = start
        self.intrinsics = intrinsics
        self.rng = np.random.default_rng(config.seed)
        self.low = np.asarray(limits["workspace_min"], dtype=float) + config.box_margin
        self.high = np.asarray(limits["workspace_max"], dtype=float) - config.box_margin
        self.reference = quat_to_matrix(limits["reference_quat"])
        self.cone = float(limits["max_orientation_deviation"]) - config.cone_margin

    def allowed(self, tcp: np.ndarray) -> bool:
        """Inside the box and the cone by the margins (the server would otherwise clamp the pose)."""
        c = self.config
        position = tcp[:3, 3]
        if not ((self.low <= position) & (position <= self.high)).all():
            return False
        flange = position - tcp[:3, 2] * c.flange_offset
        return bool(
            np.linalg.norm(flange - np.asarray(c.shoulder)) <= c.reach
            and np.linalg.norm(position - self.start[:3, 3]) <= c.radius
            and angle_between(self.reference, tcp[:3, :3]) <= self.cone
        )

    def near_start(self) -> np.ndarray | None:
        """A small random move from the start pose (no estimate yet)."""
        c = self.config
        for _ in range(TRIES):
            step = self.rng.uniform(-c.bootstrap_step, c.bootstrap_step, size=3)
            rotation = self.start[:3, :3] @ rotation_from_rotvec(random_rotvec(self.rng, c.bootstrap_tilt))
            candidate = from_rotation(rotation, self.start[:3, 3] + step)
            if self.allowed(candidate):
                return candidate
        return None

    def steered(self, model: ViewModel, distance: float, taken: Sequence[np.ndarray]) -> np.ndarray | None:
        """A pose that shows the whole board, turned as far as it can be from the poses taken."""
        c, k = self.config, self.intrinsics
        feasible = []
        for _ in range(TRIES):
            rotation = self.start[:3, :3] @ rotation_from_rotvec(random_rotvec(self.rng, c.tilt))
            u = self.rng.uniform(0.2, 0.8) * k.width
            v = self.rng.uniform(0.2, 0.8) * k.height
            ray = np.array([(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0])
            depth = distance * self.rng.uniform(1 - c.distance_range, 1 + c.distance_range)
            candidate = model.tcp_for(rotation, ray / np.linalg.norm(ray) * depth)
            if self.allowed(candidate) and model.visible(candidate, c):
                feasible.append(candidate)
                if len(feasible) >= CANDIDATES:
                    break
        if not feasible:
            return None
        return max(feasible, key=lambda pose: min(angle_between(pose, other) for other in taken))
