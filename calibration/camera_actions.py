"""`rlif calibrate intrinsics` and `rlif calibrate handeye`: views of the board collected through
the robot server, solved, reported, and written to the calibration file the server reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calibration.board import Charuco
from calibration.collect import Views, collect_auto
from calibration.compare import HandEyeResult, calibrate
from calibration.config import DEFAULT_OUTPUTS, DEFAULT_POSES, CalibrateConfig
from calibration.files import plain, update_camera
from calibration.geometry import pose_matrix, position_quat
from calibration.handeye import CalibrationError, Setup
from calibration.intrinsics import calibrate_intrinsics
from calibration.motion import Mover, Still
from calibration.operator import collect_operator
from robot_server.backends.camera_model import Intrinsics
from robot_server.camera_calibration import load_calibration_file
from robot_server.client import RobotClient

Report = Callable[[str], None]


def served_intrinsics(info: dict[str, Any], camera: str) -> Intrinsics | None:
    """The intrinsics the server reports for the camera's images as served."""
    known = (info.get("camera_calibration") or {}).get(camera, {}).get("intrinsics")
    if not known:
        return None
    settings: dict[str, Any] = {k: tuple(v) if k == "distortion" else v for k, v in known.items()}
    return Intrinsics(**settings)


def _camera(info: dict[str, Any], camera: str) -> tuple[int, int]:
    if camera not in info["cameras"]:
        raise CalibrationError(f"the server has no camera {camera!r}; it has {sorted(info['cameras'])}")
    height, width = info["cameras"][camera]
    return int(height), int(width)


def _setup(config: CalibrateConfig, info: dict[str, Any]) -> Setup:
    if config.handeye.setup is not None:
        return config.handeye.setup
    pose = (info.get("camera_calibration") or {}).get(config.camera, {}).get("extrinsics")
    if pose is None:
        raise CalibrationError(
            f"say whether camera {config.camera!r} is on the hand or fixed: --handeye.setup eye_in_hand|eye_to_hand"
        )
    return "eye_in_hand" if pose["frame"] == "tcp" else "eye_to_hand"


def _collect(
    config: CalibrateConfig,
    client: RobotClient,
    info: dict[str, Any],
    intrinsics: Intrinsics,
    setup: Setup,
    report: Report,
) -> tuple[Views, Charuco]:
    charuco = Charuco(config.board)
    mover = Mover(client, config.motion)
    if config.start is not None:
        _, arrived = mover.move_to(pose_matrix(config.start, info["limits"]["reference_quat"]))
        if not arrived:
            raise CalibrationError(f"the arm did not get to the start position {list(config.start)}")
    if config.source == "auto":
        sampler = config.sampler
        if sampler.poses is None:
            sampler = dataclasses.replace(sampler, poses=DEFAULT_POSES[str(config.action)])
        views = collect_auto(mover, config.camera, charuco, intrinsics, setup, sampler, info["limits"], report)
    elif config.source == "teleop":
        views = Views()

        def seen(still: Still) -> str:
            sample = views.add(still, charuco, intrinsics)
            return f"{len(sample.view.ids)} corners" if sample is not None else "board not seen (not counted)"

        collect_operator(mover, config.camera, config.teleop, seen, report)
    else:
        raise CalibrationError("intrinsics and handeye take their poses from --source auto or teleop")
    report(f"{len(views.samples)} views with the board, of {views.images} images")
    if not views.samples:
        raise CalibrationError(
            f"the board was not seen in any of the {views.images} images of camera {config.camera!r}: check that "
            "it is in view and the board settings (squares, lengths, dictionary, legacy)"
        )
    return views, charuco


def _guess(height: int, width: int) -> Intrinsics:
    """A rough camera (about 60 degrees across) for steering the arm when nothing better is known."""
    return Intrinsics(
        width,
        height,
        0.87 * max(width, height),
        0.87 * max(width, height),
        (width - 1) / 2,
        (height - 1) / 2,
        source="guess",
    )


def run_intrinsics(config: CalibrateConfig, client: RobotClient, info: dict[str, Any], report: Report) -> int:
    height, width = _camera(info, config.camera)
    reference = served_intrinsics(info, config.camera)
    views, _ = _collect(config, client, info, reference or _guess(height, width), _setup(config, info), report)
    result = calibrate_intrinsics([s.view for s in views.samples], width, height, config.distortion, reference)
    summary = result.report(reference)
    k = result.intrinsics
    report(
        f"{config.camera}: fx {k.fx:.2f} fy {k.fy:.2f} cx {k.cx:.2f} cy {k.cy:.2f} distortion "
        f"{np.round(k.distortion, 5).tolist()}; reprojection RMS {result.rms:.3f} px over {result.views} views"
    )
    if reference is not None:
        differences = ", ".join(f"{key} {value:+.2f} %" for key, value in summary["difference_percent"].items())
        report(f"against the server's ({reference.source}): {differences}")
    entry = k.as_dict() | {"report": summary, "board": plain(vars(config.board))}
    entry.pop("source")
    output = _output(config)
    update_camera(output, config.camera, {"intrinsics": entry}, "intrinsics")
    report(f"wrote {output}")
    return 0


def _intrinsics_for_handeye(config: CalibrateConfig, info: dict[str, Any]) -> Intrinsics:
    height, width = _camera(info, config.camera)
    if config.intrinsics_file is not None:
        known = load_calibration_file(config.intrinsics_file).get(config.camera)
        if known is None or known.intrinsics is None:
            raise CalibrationError(f"{config.intrinsics_file} has no intrinsics of camera {config.camera!r}")
        if (known.intrinsics.height, known.intrinsics.width) != (height, width):
            raise CalibrationError(
                f"{config.intrinsics_file}: intrinsics for {known.intrinsics.width}x"
                f"{known.intrinsics.height} images; the server serves {width}x{height}"
            )
        return known.intrinsics
    served = served_intrinsics(info, config.camera)
    if served is None:
        raise CalibrationError(
            f"the server knows no intrinsics of {config.camera!r}: run `rlif calibrate intrinsics` "
            "and pass its file with --intrinsics-file"
        )
    return served


def handeye_entries(result: HandEyeResult, intrinsics: Intrinsics, config: CalibrateConfig) -> dict[str, Any]:
    """The calibration file's `extrinsics` (what the server reads) and `handeye` (the report)."""
    position, quat = position_quat(result.solution.camera)
    methods = {}
    for name, found in result.methods.items():
        if "camera" in found:
            at, turned = position_quat(found["camera"])
            methods[name] = {"position": at, "quat": turned} | {k: v for k, v in found.items() if k != "camera"}
        else:
            methods[name] = found
    return {
        "extrinsics": {"frame": "tcp" if result.setup == "eye_in_hand" else "base", "position": position, "quat": quat},
        "handeye": {
            "setup": result.setup,
            "method": result.solution.method,
            "residuals": result.fit.summary(),
            "views": result.views,
            "outliers": result.outliers,
            "held_out_views": result.held_out,
            "methods": methods,
            "board_pose": dict(zip(("position", "quat"), position_quat(result.solution.board), strict=True)),
            "intrinsics": intrinsics.as_dict(),
            "board": vars(config.board),
        },
    }


def run_handeye(config: CalibrateConfig, client: RobotClient, info: dict[str, Any], report: Report) -> int:
    intrinsics = _intrinsics_for_handeye(config, info)
    setup = _setup(config, info)
    views, charuco = _collect(config, client, info, intrinsics, setup, report)
    result = calibrate(views.samples, setup, intrinsics, charuco.centre, config.handeye)
    report(f"{'method':11s} {'held-out px':>11s} {'mm':>6s} {'deg':>6s}   camera position")
    for name, found in result.methods.items():
        if "camera" not in found:
            report(f"{name:11s} failed: {found['error']}")
            continue
        held = found["held_out"]
        report(
            f"{name:11s} {held['pixels']:11.3f} {held['mm']:6.2f} {held['deg']:6.3f}   "
            f"{np.round(found['camera'][:3, 3], 4).tolist()}"
        )
    fit = result.fit
    report(
        f"chosen: {result.solution.method}; residuals over {result.views - len(result.outliers)} views: "
        f"{fit.pixels:.3f} px, {fit.millimetres:.2f} mm, {fit.degrees:.3f} deg; outliers {result.outliers}"
    )
    output = _output(config)
    update_camera(output, config.camera, handeye_entries(result, intrinsics, config), "hand-eye")
    report(f"wrote {output}")
    return 0


def _output(config: CalibrateConfig) -> Path:
    return config.output or DEFAULT_OUTPUTS[str(config.action)]
