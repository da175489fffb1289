"""What RealSense cameras are connected, and the colour modes and intrinsics each offers (for
`rlif cameras --list`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyrealsense2 as rs

INFO = {
    "serial": rs.camera_info.serial_number,
    "name": rs.camera_info.name,
    "product_line": rs.camera_info.product_line,
    "firmware": rs.camera_info.firmware_version,
    "usb_type": rs.camera_info.usb_type_descriptor,
}
"""The device facts listed, by the key they are listed under (None where a device lacks one)."""


def list_cameras(devices: Iterable[Any] | None = None) -> list[dict[str, Any]]:
    """Each device (default: those connected) with its colour stream modes and their intrinsics."""
    if devices is None:
        devices = rs.context().query_devices()
    return [_describe(device) for device in devices]


def _describe(device: Any) -> dict[str, Any]:
    listed: dict[str, Any] = {
        key: str(device.get_info(info)) if device.supports(info) else None for key, info in INFO.items()
    }
    listed["colour_streams"] = [
        _mode(profile.as_video_stream_profile())
        for sensor in device.query_sensors()
        for profile in sensor.get_stream_profiles()
        if profile.stream_type() == rs.stream.color and profile.is_video_stream_profile()
    ]
    return listed


def _mode(profile: Any) -> dict[str, Any]:
    mode: dict[str, Any] = {
        "width": profile.width(),
        "height": profile.height(),
        "fps": profile.fps(),
        "format": profile.format().name,
    }
    try:
        intrinsics = profile.get_intrinsics()
    except RuntimeError:  # a mode without calibration data
        return mode | {"intrinsics": None}
    mode["intrinsics"] = {
        "fx": intrinsics.fx,
        "fy": intrinsics.fy,
        "ppx": intrinsics.ppx,
        "ppy": intrinsics.ppy,
        "model": intrinsics.model.name,
        "coeffs": list(intrinsics.coeffs),
    }
    return mode
