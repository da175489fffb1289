"""Camera benchmark: a frame's way from librealsense to `latest()` through the RealSense backend,
against the bare cost of reading it from librealsense.

Prints one JSON line. A pyrealsense2 software device stands in for the camera (640x480 RGB at
30 fps); frames are injected on the stream's schedule. Figures:

- `backend_inject_to_latest_ms`: from a frame's injection until `latest()` first returns it (the
  caller polls every `POLL_S`, which bounds the resolution);
- `bare_inject_to_copy_ms`: the same way without the backend: injection, `frame_queue`
  wait_for_frame and a numpy copy, in one thread (the reference);
- `bare_read_copy_ms`: wait_for_frame + numpy copy of a frame already queued;
- `bare_thread_inject_to_copy_ms`: injection until a thread blocked in the queue's
  try_wait_for_frame has copied the frame: the hand-off between threads, without the backend;
- `dropped_at_30fps`: injected frames the backend's reader never took out of librealsense.

The helpers (`bare_reading`, `bare_thread_reading`, `backend_reading`, `percentiles`) are there
for benchmarks that add the server around the backend.

    python benchmarks/cameras.py [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyrealsense2 as rs

sys.path[0] = str(Path(__file__).resolve().parents[1])

from robot_server.backends.base import CameraFault  # noqa: E402
from robot_server.backends.realsense.backend import RealSenseCameras  # noqa: E402
from robot_server.backends.realsense.config import RealSenseConfig  # noqa: E402
from robot_server.backends.realsense.sources import GivenDevices  # noqa: E402
from tests.realsense_fixture import SoftwareCamera  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
POLL_S = 0.0002
"""How often the backend benchmark's caller asks `latest()`, seconds."""


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 of durations in seconds, as milliseconds."""
    values = np.asarray(seconds) * 1000.0
    return {"p50": round(float(np.percentile(values, 50)), 3), "p99": round(float(np.percentile(values, 99)), 3)}


def _pace(due: float) -> float:
    time.sleep(max(0.0, due - time.monotonic()))
    return due + 1.0 / FPS


def bare_reading(samples: int) -> dict[str, dict[str, float]]:
    """Injection, wait_for_frame and copy of each frame in one thread, on the stream's schedule."""
    camera = SoftwareCamera("BENCHBARE", WIDTH, HEIGHT, FPS)
    queue = rs.frame_queue(1)
    camera.colour_sensor.open(camera.colour)
    camera.colour_sensor.start(queue)
    inject, read, total = [], [], []
    due = time.monotonic()
    try:
        for number in range(1, samples + 1):
            due = _pace(due)
            injected = camera.inject(number)
            queued = time.monotonic()
            image = np.array(queue.wait_for_frame(1000).get_data(), dtype=np.uint8, copy=True)
            copied = time.monotonic()
            assert image.shape == (HEIGHT, WIDTH, 3)
            inject.append(queued - injected)
            read.append(copied - queued)
            total.append(copied - injected)
    finally:
        camera.colour_sensor.stop()
        camera.colour_sensor.close()
    return {
        "inject_ms": percentiles(inject),
        "read_copy_ms": percentiles(read),
        "inject_to_copy_ms": percentiles(total),
    }


def bare_thread_reading(samples: int) -> dict[str, float]:
    """Injection until a reader thread, blocked on the frame_queue, has copied the frame."""
    camera = SoftwareCamera("BENCHTHREAD", WIDTH, HEIGHT, FPS)
    queue = rs.frame_queue(1)
    camera.colour_sensor.open(camera.colour)
    camera.colour_sensor.start(queue)
    copied: dict[int, float] = {}
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            ok, frame = queue.try_wait_for_frame(50)
            if ok:
                np.array(frame.get_data(), dtype=np.uint8, copy=True)
                copied[frame.get_frame_number()] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    latencies = []
    due = time.monotonic()
    try:
        for number in range(1, samples + 1):
            due = _pace(due)
            injected = camera.inject(number)
            while number not in copied:
                time.sleep(POLL_S)
            latencies.append(copied[number] - injected)
    finally:
        stop.set()
        reader.join(5)
        camera.colour_sensor.stop()
        camera.colour_sensor.close()
    return percentiles(latencies)


def backend_reading(samples: int) -> tuple[dict[str, float], int]:
    """(latency from injection to `latest()`, frames dropped) through the backend at 30 fps."""
    camera = SoftwareCamera("BENCHBACKEND", WIDTH, HEIGHT, FPS)
    config = RealSenseConfig(cameras=(camera.config("front"),), start_timeout=0.0)
    backend = RealSenseCameras(config, GivenDevices([camera.device]))
    latencies = []
    due = time.monotonic()
    try:
        for number in range(1, samples + 1):
            due = _pace(due)
            injected = camera.inject(number)
            while True:
                try:
                    if backend.latest(("front",))["front"].frame_number == number:
                        break
                except CameraFault:
                    pass
                time.sleep(POLL_S)
            latencies.append(time.monotonic() - injected)
        dropped = samples - backend.readers["front"].received
    finally:
        backend.close()
    return percentiles(latencies), dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300, help="frames per figure (at 30 fps)")
    args = parser.parse_args()
    bare = bare_reading(args.samples)
    bare_thread = bare_thread_reading(args.samples)
    latency, dropped = backend_reading(args.samples)
    figures = {
        "image": f"{WIDTH}x{HEIGHT}@{FPS}",
        "samples": args.samples,
        "backend_inject_to_latest_ms": latency,
        "bare_inject_to_copy_ms": bare["inject_to_copy_ms"],
        "bare_read_copy_ms": bare["read_copy_ms"],
        "bare_thread_inject_to_copy_ms": bare_thread,
        "inject_ms": bare["inject_ms"],
        "dropped_at_30fps": dropped,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
