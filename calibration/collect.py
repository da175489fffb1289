"""Collecting views of the board: the arm moved by the pose sampler, each still view searched for
the board and its pose in the camera found."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.board import Charuco
from calibration.config import HandEyeConfig, SamplerConfig
from calibration.handeye import CalibrationError, Sample, Setup, check_motion, solve
from calibration.motion import Mover, Still
from calibration.sampler import PoseSampler, ViewModel
from robot_server.backends.camera_model import Intrinsics

log = logging.getLogger(__name__)


@dataclass
class Views:
    """What a collection gathered."""

    samples: list[Sample] = field(default_factory=list)
    images: int = 0
    """Images looked at, the board seen or not."""
    unseen: int = 0
    """Images in which the board was not found."""

    def add(self, still: Still, charuco: Charuco, intrinsics: Intrinsics) -> Sample | None:
        self.images += 1
        assert still.image is not None
        view = charuco.detect(still.image)
        try:
            board = charuco.pose(view, intrinsics)[0] if view is not None else None
        except (ValueError, cv2.error):  # corners no pose fits
            board = None
        if view is None or board is None:
            self.unseen += 1
            return None
        sample = Sample(still.tcp, board, view)
        self.samples.append(sample)
        return sample


def _model(views: Views, setup: Setup, intrinsics: Intrinsics, charuco: Charuco) -> ViewModel | None:
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a first try may well fail
    try:
        check_motion(views.samples, HandEyeConfig(min_poses=3))
        solution = solve(views.samples, setup, "tsai")
    except (CalibrationError, ValueError, np.linalg.LinAlgError, cv2.error) as exc:
        log.info("no hand-eye estimate yet (%s); sampling near the start pose", exc)
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)
    return ViewModel(solution, setup, intrinsics, charuco.corners)


def collect_auto(
    mover: Mover,
    camera: str,
    charuco: Charuco,
    intrinsics: Intrinsics,
    setup: Setup,
    config: SamplerConfig,
    limits: dict,
    report: Callable[[str], None] = print,
) -> Views:
    """Views from poses the sampler chooses, starting where the arm is; the arm returns there."""
    mover.settle()
    first = mover.view(camera)
    views = Views()
    if views.add(first, charuco, intrinsics) is None:
        raise CalibrationError(
            f"the board is not in view of camera {camera!r} at the start pose: place the arm (or the board) "
            "so that the camera sees the whole board, and check the board settings (squares, sizes, dictionary, "
            "legacy)"
        )
    start = first.tcp
    distance = float(np.linalg.norm(views.samples[0].board[:3, :3] @ charuco.centre + views.samples[0].board[:3, 3]))
    sampler = PoseSampler(config, limits, start, intrinsics)
    model: ViewModel | None = None
    moves = 0
    wanted = config.poses or 24
    while len(views.samples) < wanted and moves < wanted * config.attempts:
        if model is None and len(views.samples) >= config.bootstrap:
            model = _model(views, setup, intrinsics, charuco)
        if model is None:
            target = sampler.near_start()
        else:
            target = sampler.steered(model, distance, [s.tcp for s in views.samples])
        if target is None:
            report("no reachable pose shows the whole board any more; stopping")
            break
        moves += 1
        _, arrived = mover.move_to(target)
        sample = views.add(mover.view(camera), charuco, intrinsics)
        seen = f"{len(sample.view.ids)} corners" if sample is not None else "board not seen"
        report(f"view {views.images}: {seen}{'' if arrived else ' (arm short of the pose; back to the start)'}")
        if not arrived:
            mover.move_to(start)
        if sample is not None and model is not None and len(views.samples) % 4 == 0:
            model = _model(views, setup, intrinsics, charuco) or model
    mover.move_to(start)
    return views
