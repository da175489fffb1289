"""One camera's device streaming through librealsense's sensor API into a one-frame queue.

Colour alone goes into a `frame_queue` of capacity 1, colour with depth into a `syncer` of
capacity 1: either drops the older frame when a newer one arrives unread, so a reader never gets
a stale one. Works alike for connected devices, recordings and software devices (which
`rs.pipeline` cannot drive).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyrealsense2 as rs

from robot_server.backends.realsense.config import RealSenseCameraConfig


@dataclass(frozen=True)
class Capture:
    """One frame as librealsense gave it, copied out of its buffers."""

    image: np.ndarray
    depth: np.ndarray | None
    device_stamp: float
    """Milliseconds, in `domain`."""
    domain: str
    """The timestamp domain's name: system_time, global_time or hardware_clock."""
    frame_number: int


def _modes(sensors: list[Any], stream: Any, fmt: Any) -> list[tuple[int, Any]]:
    """(sensor index, video profile) of every mode of `stream` in `fmt` the sensors offer."""
    found = []
    for index, sensor in enumerate(sensors):
        for profile in sensor.get_stream_profiles():
            if profile.stream_type() == stream and profile.format() == fmt and profile.is_video_stream_profile():
                found.append((index, profile.as_video_stream_profile()))
    return found


def _pick(sensors: list[Any], stream: Any, fmt: Any, size: tuple[int, int], fps: int, what: str) -> tuple[int, Any]:
    modes = _modes(sensors, stream, fmt)
    for index, profile in modes:
        if (profile.width(), profile.height(), profile.fps()) == (*size, fps):
            return index, profile
    offered = sorted({f"{p.width()}x{p.height()}@{p.fps()}" for _, p in modes})
    raise ValueError(f"{what}: no {size[0]}x{size[1]}@{fps} mode; offered: {offered or 'none'}")


def _set_exposure(sensor: Any, exposure: float | None, what: str) -> None:
    if exposure is None:
        if sensor.supports(rs.option.enable_auto_exposure):
            sensor.set_option(rs.option.enable_auto_exposure, 1)
        return
    if not sensor.supports(rs.option.exposure):
        raise ValueError(f"{what}: the colour sensor has no exposure setting")
    allowed = sensor.get_option_range(rs.option.exposure)
    if not allowed.min <= exposure <= allowed.max:
        raise ValueError(f"{what}: exposure {exposure} outside the sensor's range [{allowed.min}, {allowed.max}]")
    if sensor.supports(rs.option.enable_auto_exposure):
        sensor.set_option(rs.option.enable_auto_exposure, 0)
    sensor.set_option(rs.option.exposure, exposure)


class CameraStream:
    """Opens and starts `device` as `camera` wants; `close` stops and closes what was started."""

    def __init__(self, device: Any, camera: RealSenseCameraConfig) -> None:
        what = f"RealSense camera {camera.name!r} ({camera.serial})"
        self.recording = bool(device.is_playback())
        self._playback = device.as_playback() if self.recording else None
        sensors = list(device.query_sensors())
        colour_at, colour = _pick(
            sensors, rs.stream.color, rs.format.rgb8, (camera.width, camera.height), camera.fps, what
        )
        chosen: dict[int, list[Any]] = {colour_at: [colour]}
        if camera.depth:
            size = (camera.depth_width, camera.depth_height)
            depth_at, depth = _pick(sensors, rs.stream.depth, rs.format.z16, size, camera.fps, f"{what} depth")
            chosen.setdefault(depth_at, []).append(depth)
        if not self.recording:
            _set_exposure(sensors[colour_at], camera.exposure, what)
        self._queue: Any = rs.syncer(1) if camera.depth else rs.frame_queue(1)
        self._align = rs.align(rs.stream.color) if camera.depth else None
        self._opened: list[Any] = []
        self._started: list[Any] = []
        try:
            for index, profiles in chosen.items():
                sensors[index].open(profiles)
                self._opened.append(sensors[index])
            for sensor in self._opened:
                sensor.start(self._queue)
                self._started.append(sensor)
        except BaseException:
            self.close()
            raise

    def wait(self, timeout: float) -> Capture | None:
        """The newest frame, waiting at most `timeout` seconds; None if none came."""
        milliseconds = max(1, round(timeout * 1000))
        if self._align is None:
            ok, frame = self._queue.try_wait_for_frame(milliseconds)
            return _capture(frame, None) if ok else None
        ok, frames = self._queue.try_wait_for_frames(milliseconds)
        if not ok or not frames.get_color_frame() or not frames.get_depth_frame():
            return None
        aligned = self._align.process(frames)
        return _capture(aligned.get_color_frame(), aligned.get_depth_frame())

    def ended(self) -> bool:
        """A recording that has played to its end."""
        return self._playback is not None and self._playback.current_status() == rs.playback_status.stopped

    def close(self) -> None:
        # The device may be gone already: closing what remains must not stop at the first error.
        for sensor in self._started:
            with contextlib.suppress(RuntimeError):
                sensor.stop()
        for sensor in self._opened:
            with contextlib.suppress(RuntimeError):
                sensor.close()
        self._started.clear()
        self._opened.clear()


def _capture(colour: Any, depth: Any) -> Capture:
    return Capture(
        image=np.array(colour.get_data(), dtype=np.uint8, copy=True),
        depth=None if depth is None else np.array(depth.get_data(), dtype=np.uint16, copy=True),
        device_stamp=float(colour.get_timestamp()),
        domain=colour.get_frame_timestamp_domain().name,
        frame_number=int(colour.get_frame_number()),
    )
