"""Each camera's calibration as the server reports it (`info["camera_calibration"]`).

Intrinsics are for the images as served: the server's crop shifts the principal point and its
resize scales the focal lengths and the principal point (pixel centres at integer coordinates).
They come from the calibration file (`ServerConfig.calibration`, written by `rlif calibrate`)
when it has them for the camera's full frames or for the images as served, else from the camera
backend (a RealSense device's factory calibration, the simulated camera's model). Extrinsics come
from the calibration file (a hand-eye calibration), else from the backend where it knows them
(simulation).

The file is YAML: `cameras: {NAME: {intrinsics: {width, height, fx, fy, cx, cy, distortion,
model}, extrinsics: {frame: base|tcp, position: [x, y, z], quat: [w, x, y, z]}, ...}}`; other keys
(the calibration's report) are kept for people and ignored here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from robot_server.backends.base import Cameras
from robot_server.backends.camera_model import CameraCalibration, Extrinsics, Intrinsics
from robot_server.images import ViewConfig

log = logging.getLogger(__name__)


class CalibrationFileError(ValueError):
    """The calibration file is missing, unreadable, or holds a value that is not a calibration."""


def _intrinsics(entry: Mapping[str, Any]) -> Intrinsics:
    return Intrinsics(
        width=int(entry["width"]),
        height=int(entry["height"]),
        fx=float(entry["fx"]),
        fy=float(entry["fy"]),
        cx=float(entry["cx"]),
        cy=float(entry["cy"]),
        distortion=tuple(float(v) for v in entry.get("distortion") or ()),
        model=str(entry.get("model", "pinhole")),
        source="file",
    )


def _extrinsics(entry: Mapping[str, Any]) -> Extrinsics:
    position = tuple(float(v) for v in entry["position"])
    quat = tuple(float(v) for v in entry["quat"])
    return Extrinsics(str(entry["frame"]), position, quat, "file")  # type: ignore[arg-type]


def load_calibration_file(path: Path) -> dict[str, CameraCalibration]:
    """The calibrations the file holds, by camera; raises CalibrationFileError."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
        cameras = raw["cameras"]
        if not isinstance(cameras, dict):
            raise TypeError("'cameras' must map camera names to their calibration")
        found = {}
        for name, entry in cameras.items():
            intrinsics = entry.get("intrinsics")
            extrinsics = entry.get("extrinsics")
            found[str(name)] = CameraCalibration(
                _intrinsics(intrinsics) if intrinsics else None, _extrinsics(extrinsics) if extrinsics else None
            )
        return found
    except (OSError, KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError) as exc:
        raise CalibrationFileError(f"calibration file {path}: {exc}") from None


def as_served(intrinsics: Intrinsics, crop: tuple[int, int, int, int], size: tuple[int, int]) -> Intrinsics:
    """The intrinsics of the image cut to `crop` (x0, y0, x1, y1) and resized to `size` (height,
    width). Distortion coefficients are unchanged by a crop and by a resize that keeps the aspect
    ratio; they are reported as they are."""
    x0, y0, x1, y1 = crop
    height, width = size
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    return dataclasses.replace(
        intrinsics,
        width=width,
        height=height,
        fx=intrinsics.fx * sx,
        fy=intrinsics.fy * sy,
        cx=(intrinsics.cx + 0.5 - x0) * sx - 0.5,
        cy=(intrinsics.cy + 0.5 - y0) * sy - 0.5,
    )


def served_calibration(
    cameras: Cameras, views: tuple[ViewConfig, ...], served_sizes: Mapping[str, tuple[int, int]], path: Path | None
) -> dict[str, dict[str, Any]]:
    """What `info` reports under `camera_calibration`, by camera (computed once, at start)."""
    from_file = load_calibration_file(path) if path is not None else {}
    unknown = sorted(set(from_file) - set(cameras.names))
    if unknown:
        log.warning("calibration file %s: no camera %s on this server; ignored", path, unknown)
    from_backend = cameras.calibration()
    crops = {view.camera: view.crop for view in views}
    report: dict[str, dict[str, Any]] = {}
    for name in cameras.names:
        frame_height, frame_width = cameras.sizes[name]
        crop = crops.get(name) or (0, 0, frame_width, frame_height)
        served = served_sizes[name]
        backend, given = from_backend.get(name, CameraCalibration()), from_file.get(name, CameraCalibration())
        intrinsics = None
        if given.intrinsics is not None:
            size = (given.intrinsics.height, given.intrinsics.width)
            if size == tuple(served):  # measured on the images as served
                intrinsics = given.intrinsics
            elif size == (frame_height, frame_width):  # measured on full frames
                intrinsics = as_served(given.intrinsics, crop, served)
            else:
                log.warning(
                    "calibration file %s: the intrinsics of %r are for %dx%d images, the camera's frames are "
                    "%dx%d and served %dx%d; using the camera's own",
                    path,
                    name,
                    size[1],
                    size[0],
                    frame_width,
                    frame_height,
                    served[1],
                    served[0],
                )
        if intrinsics is None and backend.intrinsics is not None:
            intrinsics = as_served(backend.intrinsics, crop, served)
        extrinsics = given.extrinsics or backend.extrinsics
        report[name] = {
            "width": served[1],
            "height": served[0],
            "frame_size": [frame_height, frame_width],
            "crop": list(crop),
            "intrinsics": intrinsics.as_dict() if intrinsics is not None else None,
            "extrinsics": extrinsics.as_dict() if extrinsics is not None else None,
        }
    return report
