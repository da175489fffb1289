"""A RealSense camera without hardware: a `pyrealsense2.software_device` whose colour (and depth)
sensor is fed known frames through librealsense's own sensor API, and `.db3` recordings of it.

Each injected image encodes its frame number in pixel (0, 0) (`frame_id`) over a pattern that
changes with it, so a test can tell exactly which frame it was served. Benchmarks import these
helpers too.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyrealsense2 as rs

from robot_server.backends.realsense.config import RealSenseCameraConfig


def pattern(frame_number: int, height: int, width: int) -> np.ndarray:
    """The uint8 HxWx3 RGB image of frame `frame_number`: its number in pixel (0, 0), little endian."""
    ramp = (np.arange(height * width * 3, dtype=np.int64) + 7 * frame_number) % 251
    image = ramp.astype(np.uint8).reshape(height, width, 3)
    image[0, 0] = [(frame_number >> shift) & 0xFF for shift in (0, 8, 16)]
    return image


def frame_id(image: np.ndarray) -> int:
    """The frame number `pattern` wrote into `image`."""
    low, mid, high = (int(value) for value in image[0, 0])
    return low | mid << 8 | high << 16


def depth_pattern(frame_number: int, height: int, width: int) -> np.ndarray:
    """The uint16 HxW depth of frame `frame_number`: every pixel 1000 + frame_number (mm)."""
    return np.full((height, width), 1000 + frame_number, dtype=np.uint16)


def _intrinsics(width: int, height: int) -> Any:
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = width, height
    intrinsics.fx = intrinsics.fy = 0.9 * width
    intrinsics.ppx, intrinsics.ppy = width / 2, height / 2
    intrinsics.model = rs.distortion.brown_conrady
    intrinsics.coeffs = [0.0] * 5
    return intrinsics


class SoftwareCamera:
    """A software device that serves as the RealSense camera `serial`."""

    def __init__(
        self,
        serial: str = "SW000001",
        width: int = 64,
        height: int = 48,
        fps: int = 30,
        depth: bool = False,
        exposure_option: bool = False,
    ) -> None:
        self.serial, self.width, self.height, self.fps = serial, width, height, fps
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, serial)
        self.device.register_info(rs.camera_info.name, "Software RealSense")
        self.device.register_info(rs.camera_info.product_line, "SW")
        self.colour_sensor = self.device.add_sensor("RGB Camera")
        self.colour = self._add_stream(self.colour_sensor, rs.stream.color, rs.format.rgb8, 3, uid=0)
        if exposure_option:
            # option_range(min, max, step, default) as the binding names them; 2.59 stores the
            # third as the default and the fourth as the step, so both are 1 here.
            self.colour_sensor.add_option(rs.option.exposure, rs.option_range(1, 10000, 1, 1), True)
            self.colour_sensor.add_option(rs.option.enable_auto_exposure, rs.option_range(0, 1, 1, 1), True)
        self.depth_sensor: Any = None
        if depth:
            self.depth_sensor = self.device.add_sensor("Stereo Module")
            self.depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
            self.depth = self._add_stream(self.depth_sensor, rs.stream.depth, rs.format.z16, 2, uid=1)
            identity = rs.extrinsics()
            identity.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            identity.translation = [0.0, 0.0, 0.0]
            self.depth.register_extrinsics_to(self.colour, identity)

    def _add_stream(self, sensor: Any, kind: Any, fmt: Any, bpp: int, uid: int) -> Any:
        stream = rs.video_stream()
        stream.type, stream.index, stream.uid = kind, 0, uid
        stream.width, stream.height, stream.fps = self.width, self.height, self.fps
        stream.bpp, stream.fmt = bpp, fmt
        stream.intrinsics = _intrinsics(self.width, self.height)
        return sensor.add_video_stream(stream).as_video_stream_profile()

    def config(self, name: str = "front", **overrides: Any) -> RealSenseCameraConfig:
        """The camera settings that stream this device."""
        settings: dict[str, Any] = {"width": self.width, "height": self.height, "fps": self.fps, "warm_up_frames": 0}
        if self.depth_sensor is not None:
            settings |= {"depth": True, "depth_width": self.width, "depth_height": self.height}
        return RealSenseCameraConfig(name=name, serial=self.serial, **settings | overrides)

    def inject(self, frame_number: int, stamp_ms: float | None = None, domain: str = "system_time") -> float:
        """Feeds frame `frame_number` (`pattern`) stamped `stamp_ms` in `domain` (default: now on the
        wall clock); returns the monotonic time just before it entered librealsense."""
        frames = [(self.colour_sensor, self.colour, pattern(frame_number, self.height, self.width), 3)]
        if self.depth_sensor is not None:
            frames.insert(0, (self.depth_sensor, self.depth, depth_pattern(frame_number, self.height, self.width), 2))
        injected = time.monotonic()
        stamp = time.time() * 1000.0 if stamp_ms is None else stamp_ms
        for sensor, profile, pixels, bpp in frames:
            frame = rs.software_video_frame()
            frame.pixels = pixels
            frame.stride, frame.bpp = self.width * bpp, bpp
            frame.timestamp = stamp
            frame.domain = getattr(rs.timestamp_domain, domain)
            frame.frame_number = frame_number
            frame.profile = profile
            if bpp == 2:
                frame.depth_units = 0.001
            sensor.on_video_frame(frame)
        return injected


class Injector:
    """Injects frames at the camera's frame rate on a thread, numbered from `first`, while running."""

    def __init__(self, camera: SoftwareCamera, first: int = 1) -> None:
        self.camera = camera
        self.next = first
        self.running = threading.Event()
        self.running.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / self.camera.fps
        due = time.monotonic()
        while not self._stop.is_set():
            if self.running.is_set():
                self.camera.inject(self.next)
                self.next += 1
            due = max(due + period, time.monotonic() - period)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def record(path: Path, camera: SoftwareCamera, frames: int, first: int = 1) -> list[int]:
    """Records `frames` frames of `camera` to the `.db3` file `path` through `rs.recorder`, one per
    frame period (a faster burst would play back as its last frame); returns their numbers."""
    recorder = rs.recorder(str(path), camera.device)
    sensors = recorder.query_sensors()
    queue = rs.frame_queue(frames + 1)
    for sensor in sensors:
        sensor.open(sensor.get_stream_profiles()[0])
        sensor.start(queue)
    numbers = list(range(first, first + frames))
    start = time.time() * 1000.0
    for index, number in enumerate(numbers):
        camera.inject(number, stamp_ms=start + index * 1000.0 / camera.fps)
        time.sleep(1.0 / camera.fps)
    for sensor in sensors:
        sensor.stop()
        sensor.close()
    del sensors, recorder, queue
    gc.collect()  # the file is complete once the recorder is destroyed
    return numbers


def collect(newest: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0) -> list[Any]:
    """Each distinct frame `newest()` returns (None: none now), polled until `done(frame)` or the
    timeout."""
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = newest()
        if frame is not None and (not frames or frame.counter != frames[-1].counter):
            frames.append(frame)
            if done(frame):
                break
        time.sleep(0.001)
    return frames


def wait_for(condition: Any, timeout: float = 5.0, interval: float = 0.002) -> Any:
    """Polls `condition()` until it returns something truthy; that value, or None at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None
