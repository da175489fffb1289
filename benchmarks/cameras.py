"""Camera benchmark: a frame's way from librealsense to `latest()` through the RealSense backend,
and on through the server to an observation, against the bare cost of reading it from librealsense.

Prints one JSON line. A pyrealsense2 software device stands in for the camera (640x480 RGB at
30 fps); frames are injected on the stream's schedule. Figures:

- `backend_inject_to_latest_ms`: from a frame's injection until `latest()` first returns it (the
  caller polls every `POLL_S`, which bounds the resolution);
- `bare_inject_to_copy_ms`: the same way without the backend: injection, `frame_queue`
  wait_for_frame and a numpy copy, in one thread (the reference);
- `bare_read_copy_ms`: wait_for_frame + numpy copy of a frame already queued;
- `bare_thread_inject_to_copy_ms`: injection until a thread blocked in the queue's
  try_wait_for_frame has copied the frame: the hand-off between threads, without the backend;
- `dropped_at_30fps`: injected frames the backend's reader never took out of librealsense;
- `server_realsense`: through the whole server (crop and area resize to 128x128, the reply over
  ZeroMQ to a client that polls), from injection and from the frame's capture stamp until an
  observation carrying it is received;
- `server_sim_cameras_capture_to_observation_ms`: the simulated cameras beside it (128x128
  rendered at 30 fps in real time), from capture stamp to observation received;
- `crop_resize_640x480_to_128_ms`: the server's image pipeline on one frame;
- `backend_and_pipeline_add_p99_ms`: the backend's p99 plus the pipeline's, less the bare read's
  (the target: at most 2 ms).

The helpers (`bare_reading`, `bare_thread_reading`, `backend_reading`, `percentiles`) are there
for benchmarks that add the server around the backend.

    python benchmarks/cameras.py [--samples 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyrealsense2 as rs

sys.path[0] = str(Path(__file__).resolve().parents[1])

from robot_server.backends.base import CameraFault, Station  # noqa: E402
from robot_server.backends.mujoco_sim.backend import SimBackend, SimRig  # noqa: E402
from robot_server.backends.mujoco_sim.config import SimCamerasConfig  # noqa: E402
from robot_server.backends.realsense.backend import RealSenseCameras  # noqa: E402
from robot_server.backends.realsense.config import RealSenseConfig  # noqa: E402
from robot_server.backends.realsense.sources import GivenDevices  # noqa: E402
from robot_server.client import RobotClient, RobotError  # noqa: E402
from robot_server.images import ImagePipeline, ViewConfig  # noqa: E402
from robot_server.server import RobotServer  # noqa: E402
from tests.conftest import server_config  # noqa: E402
from tests.realsense_fixture import SoftwareCamera  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
VIEW = ViewConfig("front", crop=(80, 0, 560, 480), height=128, width=128)
"""The policy's view of the 640x480 frames: the middle 480x480, at 128x128."""
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


def pipeline_cost(samples: int) -> dict[str, float]:
    """The server's crop and area resize of one 640x480 frame to the policy's 128x128."""
    pipeline = ImagePipeline((VIEW,), {"front": (HEIGHT, WIDTH)})
    image = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        pipeline.apply("front", image)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def _serve(station: Station, **settings: object) -> tuple[RobotServer, threading.Thread, RobotClient]:
    config = dataclasses.replace(server_config(mode="realtime"), **settings)  # type: ignore[arg-type]
    server = RobotServer(config, backend=station)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    if not server.ready.wait(60):
        raise RuntimeError("the benchmark's server did not start")
    return server, thread, RobotClient(f"tcp://127.0.0.1:{config.port}", timeout=5.0)


def server_reading(samples: int) -> dict[str, dict[str, float]]:
    """Through the whole server (RealSense backend, crop and resize to 128x128, the reply over
    ZeroMQ): from a frame's injection until an observation carrying it is received, and from its
    capture stamp until then."""
    camera = SoftwareCamera("BENCHSERVER", WIDTH, HEIGHT, FPS)
    config = RealSenseConfig(cameras=(camera.config("front"),), start_timeout=0.0)
    station = Station(SimRig(), RealSenseCameras(config, GivenDevices([camera.device])))
    server, thread, client = _serve(station, views=(VIEW,))
    injected_to_received, captured_to_received = [], []
    due = time.monotonic()
    try:
        for number in range(1, samples + 1):
            due = _pace(due)
            injected = camera.inject(number)
            while True:
                try:
                    reply = client.observation()
                except RobotError:
                    continue
                if reply.data.get("image_frame_numbers", {}).get("front") == number:
                    break
            received = time.monotonic()
            injected_to_received.append(received - injected)
            captured_to_received.append(received - reply.data["image_stamps"]["front"])
    finally:
        client.close()
        server.shutdown()
        thread.join(30)
    return {
        "inject_to_observation_ms": percentiles(injected_to_received),
        "capture_to_observation_ms": percentiles(captured_to_received),
    }


def sim_server_reading(samples: int) -> dict[str, float]:
    """The simulated cameras (128x128, rendered at 30 fps in real time) through the server: from a
    frame's capture stamp until an observation carrying it is received."""
    station = SimBackend(cameras=SimCamerasConfig(image_height=128, image_width=128, cameras=("front",)))
    server, thread, client = _serve(station)
    latencies: list[float] = []
    seen = -1
    try:
        while len(latencies) < samples:
            reply = client.observation()
            counter = reply.data["image_counters"]["front"]
            if counter != seen:
                seen = counter
                latencies.append(time.monotonic() - reply.data["image_stamps"]["front"])
            time.sleep(POLL_S)
    finally:
        client.close()
        server.shutdown()
        thread.join(30)
    return percentiles(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300, help="frames per figure (at 30 fps)")
    args = parser.parse_args()
    bare = bare_reading(args.samples)
    bare_thread = bare_thread_reading(args.samples)
    latency, dropped = backend_reading(args.samples)
    through_server = server_reading(args.samples)
    sim_cameras = sim_server_reading(args.samples)
    resize = pipeline_cost(args.samples)
    added_p99 = latency["p99"] + resize["p99"] - bare["inject_to_copy_ms"]["p99"]
    figures = {
        "image": f"{WIDTH}x{HEIGHT}@{FPS}",
        "samples": args.samples,
        "backend_inject_to_latest_ms": latency,
        "bare_inject_to_copy_ms": bare["inject_to_copy_ms"],
        "bare_read_copy_ms": bare["read_copy_ms"],
        "bare_thread_inject_to_copy_ms": bare_thread,
        "inject_ms": bare["inject_ms"],
        "dropped_at_30fps": dropped,
        "server_realsense": through_server,
        "server_sim_cameras_capture_to_observation_ms": sim_cameras,
        "crop_resize_640x480_to_128_ms": resize,
        "backend_and_pipeline_add_p99_ms": round(added_p99, 3),
        "targets_met": {"backend_and_pipeline_add_le_2ms_p99": added_p99 <= 2.0},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
