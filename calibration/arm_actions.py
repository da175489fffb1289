"""`rlif calibrate workspace` and `rlif calibrate crops` against a running robot server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calibration.config import DEFAULT_OUTPUTS, CalibrateConfig
from calibration.crops import ask_box, check_box, preview, views_of, write_views
from calibration.geometry import from_rotation
from calibration.handeye import CalibrationError
from calibration.motion import Mover, Still
from calibration.operator import collect_operator
from calibration.workspace import box_from, write_limits
from robot_server.client import RobotClient

Report = Callable[[str], None]


def recorded_corners(config: CalibrateConfig, client: RobotClient, report: Report) -> list[np.ndarray]:
    """The TCP positions the arm was driven to: each scripted corner in turn (with the orientation
    it has), or each one the operator marked."""
    mover = Mover(client, config.motion)
    if config.source == "scripted":
        if not config.workspace.corners:
            raise CalibrationError("--source scripted needs --workspace.corners X Y Z [X Y Z ...]")
        rotation = mover.view(None).tcp[:3, :3]
        found = []
        for corner in config.workspace.corners:
            state, arrived = mover.move_to(from_rotation(rotation, np.asarray(corner, dtype=float)))
            at = np.asarray(state["tcp_pos"], dtype=float)
            found.append(at)
            off = float(np.linalg.norm(at - corner))
            report(
                f"corner {len(found)}: {np.round(at, 4).tolist()}"
                + (
                    ""
                    if arrived
                    else f" ({off * 1000:.0f} mm "
                    "short of the asked position: outside the server's current box or out of reach?)"
                )
            )
        return found
    if config.source == "teleop":

        def where(still: Still) -> str:
            return str(np.round(still.tcp[:3, 3], 4).tolist())

        return [still.tcp[:3, 3] for still in collect_operator(mover, None, config.teleop, where, report)]
    raise CalibrationError("workspace takes its corners from --source teleop (the operator) or scripted")


def run_workspace(config: CalibrateConfig, client: RobotClient, info: dict[str, Any], report: Report) -> int:
    corners = recorded_corners(config, client, report)
    limits = info["limits"]
    low, high = box_from(corners, config.workspace, limits["reference_quat"])
    output = config.output or DEFAULT_OUTPUTS["workspace"]
    note = f"the box of {len(corners)} recorded TCP positions, {config.workspace.margin} m inside them"
    write_limits(output, low, high, limits, note)
    report(f"workspace min {np.round(low, 4).tolist()} max {np.round(high, 4).tolist()}")
    report(f"wrote {output}; use it with `rlif server --limits {output}`")
    return 0


def run_crops(
    config: CalibrateConfig,
    client: RobotClient,
    info: dict[str, Any],
    report: Report,
    ask: Callable[[str], str] = input,
) -> int:
    cameras = config.cameras or tuple(info["cameras"])
    calibration = info.get("camera_calibration") or {}
    frames: dict[str, tuple[int, int]] = {}
    boxes = {}
    for camera in cameras:
        if camera not in info["cameras"]:
            raise CalibrationError(f"the server has no camera {camera!r}; it has {sorted(info['cameras'])}")
        served = tuple(info["cameras"][camera])
        frame = tuple(calibration.get(camera, {}).get("frame_size", served))
        if served != frame:
            raise CalibrationError(
                f"the server serves {camera!r} already cropped or resized ({served[1]}x{served[0]} of a "
                f"{frame[1]}x{frame[0]} frame): run it without views to choose crops on the full frame"
            )
        height, width = int(served[0]), int(served[1])
        frames[camera] = (height, width)
        image = np.asarray(client.observation([camera]).images[camera])
        given = config.crops.boxes.get(camera)
        box = check_box(given, height, width, camera) if given is not None else ask_box(camera, height, width, ask)
        path = Path(config.crops.preview_dir) / f"{camera}.png"
        preview(image, box, (config.crops.height, config.crops.width), path)
        boxes[camera] = box
        report(f"{camera}: crop {list(box)} -> {config.crops.width}x{config.crops.height}; preview {path}")
    output = config.output or DEFAULT_OUTPUTS["crops"]
    write_views(output, views_of(boxes, config.crops.height, config.crops.width), frames)
    report(f"wrote the views to {output}; use it with `rlif server --config {output}`")
    return 0
