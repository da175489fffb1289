"""One camera's reader thread: keeps the newest frame, reopens the device when it stops delivering."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from robot_server.backends.base import CameraFrame
from robot_server.backends.realsense.config import RealSenseCameraConfig, RealSenseConfig
from robot_server.backends.realsense.sources import DeviceSource
from robot_server.backends.realsense.stream import CameraStream
from robot_server.backends.realsense.timestamps import host_capture_time, wall_minus_monotonic

POLL = 0.05
"""Longest wait for a frame, seconds: bounds how late a stop or a stale camera is noticed."""
JOIN_TIMEOUT = 5.0
"""Seconds `close` waits for the thread to close its device."""


class CameraReader:
    """Streams one camera on its own thread; `snapshot` gives its newest frame and its fault."""

    def __init__(
        self,
        camera: RealSenseCameraConfig,
        settings: RealSenseConfig,
        source: DeviceSource,
        stream: CameraStream,
        open_stream: Callable[[Any, RealSenseCameraConfig], CameraStream] = CameraStream,
    ) -> None:
        self.camera = camera
        self.settings = settings
        self.source = source
        self.received = 0
        """Frames taken from librealsense (warm-up ones included): what was not dropped."""
        self._open_stream = open_stream
        self._lock = threading.Lock()
        self._frame: CameraFrame | None = None
        self._arrival = 0.0
        self._fault = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(stream,), name=f"realsense-{camera.name}", daemon=True)
        self._thread.start()

    def snapshot(self) -> tuple[CameraFrame | None, str]:
        """The newest frame (None before the first) and why the camera is not delivering ("" if it is)."""
        with self._lock:
            frame, arrival, fault = self._frame, self._arrival, self._fault
        if fault:
            return frame, fault
        if frame is None:
            return None, "no frame yet"
        silent = time.monotonic() - arrival
        if silent > self.settings.stale_after:
            return frame, f"no frame for {silent:.2f} s"
        return frame, ""

    def stop(self) -> None:
        """Asks the thread to close its device and end; `close` waits for it."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT)

    def _set_fault(self, fault: str) -> None:
        with self._lock:
            self._fault = fault

    def _run(self, stream: CameraStream | None) -> None:
        while not self._stop.is_set():
            ended = False
            try:
                if stream is None:
                    stream = self._reopen()
                if stream is not None:
                    ended = self._pump(stream)
            except Exception as exc:  # librealsense raises RuntimeError; a reader must outlive any error
                self._set_fault(f"{type(exc).__name__}: {exc}")
            finally:
                if stream is not None:
                    stream.close()
                stream = None
            if ended and not self.settings.playback_loop:
                self._set_fault("the recording has ended")
                return
            if not ended:
                self._stop.wait(self.settings.reopen_interval)

    def _reopen(self) -> CameraStream | None:
        device = self.source.devices().get(self.camera.serial)
        if device is None:
            self._set_fault(f"device {self.camera.serial} is not connected")
            return None
        return self._open_stream(device, self.camera)

    def _pump(self, stream: CameraStream) -> bool:
        """Publishes frames until the stream is silent for `stale_after` (`open_timeout` before its
        first frame) or stopped; True: a recording ended."""
        warm_up = 0 if stream.recording else self.camera.warm_up_frames
        last, silence = time.monotonic(), self.settings.open_timeout
        while not self._stop.is_set():
            capture = stream.wait(POLL)
            arrival = time.monotonic()
            if capture is None:
                if stream.ended():
                    return True
                if arrival - last > silence:
                    self._set_fault(f"no frame for more than {silence} s; reopening")
                    return False
                continue
            last, silence = arrival, self.settings.stale_after
            self.received += 1
            if warm_up > 0:
                warm_up -= 1
                continue
            stamp = host_capture_time(
                capture.domain, capture.device_stamp, arrival, wall_minus_monotonic(), stream.recording
            )
            with self._lock:
                counter = self._frame.counter + 1 if self._frame is not None else 1
                self._frame = CameraFrame(
                    image=capture.image,
                    stamp=stamp,
                    counter=counter,
                    device_stamp=capture.device_stamp,
                    frame_number=capture.frame_number,
                    depth=capture.depth,
                )
                self._arrival = arrival
                self._fault = ""
        return False
