"""The RealSense backend on a pyrealsense2 software device: exact frames, stamps, newest-only,
warm-up, exposure, depth, and a camera that stops delivering and comes back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from robot_server.backends.base import CameraFault, CameraFrame, Cameras
from robot_server.backends.realsense.backend import RealSenseCameras
from robot_server.backends.realsense.config import RealSenseConfig
from robot_server.backends.realsense.sources import GivenDevices, serial_of
from tests.realsense_fixture import Injector, SoftwareCamera, collect, depth_pattern, frame_id, pattern, wait_for


@pytest.fixture
def started() -> Iterator[Any]:
    backends: list[RealSenseCameras] = []

    def start(cameras: dict[str, SoftwareCamera], source: Any = None, **settings: Any) -> RealSenseCameras:
        settings.setdefault("start_timeout", 0.0)
        configs = tuple(camera.config(name, **settings.pop(f"{name}_settings", {})) for name, camera in cameras.items())
        config = RealSenseConfig(cameras=configs, **settings)
        devices = source or GivenDevices(camera.device for camera in cameras.values())
        backend = RealSenseCameras(config, devices)
        backends.append(backend)
        return backend

    yield start
    for backend in backends:
        backend.close()


def served(backend: RealSenseCameras, name: str = "front", number: int | None = None) -> CameraFrame | None:
    """The camera's newest frame (None while it has none, or until it is frame `number`)."""
    try:
        frame = backend.latest((name,))[name]
    except CameraFault:
        return None
    return frame if number is None or frame.frame_number == number else None


def test_serves_the_injected_pixels_stamps_and_frame_numbers(started: Any) -> None:
    camera = SoftwareCamera()
    backend = started({"front": camera})
    protocol: Cameras = backend  # mypy checks that the backend has the Cameras interface
    assert isinstance(protocol, Cameras)
    assert backend.names == ("front",) and backend.sizes == {"front": (48, 64)}
    assert backend.capabilities == frozenset()
    for number, domain in enumerate(["system_time", "global_time", "system_time"], start=1):
        captured_ms = (time.time() - 0.004) * 1000.0  # captured 4 ms before it reaches the host
        before = time.monotonic()
        camera.inject(number, stamp_ms=captured_ms, domain=domain)
        frame = wait_for(lambda n=number: served(backend, number=n))
        after = time.monotonic()
        assert frame is not None, f"frame {number} was never served"
        assert np.array_equal(frame.image, pattern(number, 48, 64)) and frame.image.dtype == np.uint8
        assert frame.frame_number == number and frame.counter == number
        assert frame.device_stamp == pytest.approx(captured_ms, abs=1e-3)
        host_capture = captured_ms / 1000.0 - (time.time() - time.monotonic())
        assert frame.stamp == pytest.approx(host_capture, abs=0.002)
        assert before - 0.006 < frame.stamp < after
        assert frame.depth is None


def test_device_relative_and_implausible_stamps_are_stamped_on_arrival(started: Any) -> None:
    camera = SoftwareCamera()
    backend = started({"front": camera})
    for number, (stamp_ms, domain) in enumerate(
        [(12345.0, "hardware_clock"), ((time.time() - 30.0) * 1000.0, "system_time"), (1e15, "global_time")], start=1
    ):
        before = camera.inject(number, stamp_ms=stamp_ms, domain=domain)
        frame = wait_for(lambda n=number: served(backend, number=n))
        assert frame is not None
        assert before <= frame.stamp <= time.monotonic()
        assert frame.device_stamp == pytest.approx(stamp_ms)


def test_only_the_newest_frame_is_ever_served(started: Any) -> None:
    camera = SoftwareCamera()
    backend = started({"front": camera})
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            frame = served(backend)
            if frame is not None and frame.frame_number is not None:
                seen.append(frame.frame_number)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for number in range(1, 61):
        camera.inject(number)
    final = wait_for(lambda: served(backend, number=60))
    time.sleep(0.2)
    done.set()
    watcher.join()
    assert final is not None and np.array_equal(final.image, pattern(60, 48, 64))
    assert seen == sorted(seen), "an older frame was served after a newer one"
    assert seen[-1] == 60


def test_warm_up_frames_are_discarded_and_start_waits_for_a_first_frame(started: Any) -> None:
    camera = SoftwareCamera()
    injector = Injector(camera)
    try:
        backend = started({"front": camera}, start_timeout=5.0, front_settings={"warm_up_frames": 5})
        first = served(backend)
        assert first is not None and first.frame_number is not None
        assert first.frame_number >= 6 and frame_id(first.image) == first.frame_number
        assert first.counter <= first.frame_number - 5
    finally:
        injector.stop()


def test_a_camera_that_never_delivers_fails_the_start(started: Any) -> None:
    with pytest.raises(RuntimeError, match="front"):
        started({"front": SoftwareCamera()}, start_timeout=0.3)


def test_a_camera_that_stops_is_a_fault_until_it_delivers_again(started: Any) -> None:
    front, wrist = SoftwareCamera("SWFRONT"), SoftwareCamera("SWWRIST")
    injectors = [Injector(front), Injector(wrist)]
    try:
        backend = started({"front": front, "wrist": wrist}, stale_after=0.3, reopen_interval=0.1)
        assert wait_for(lambda: not backend.faults() and served(backend) and served(backend, "wrist"))
        injectors[0].running.clear()
        assert wait_for(lambda: "front" in backend.faults())
        with pytest.raises(CameraFault) as fault:
            backend.latest(("front", "wrist"))
        assert fault.value.camera == "front" and "no frame" in fault.value.reason
        before_wrist = served(backend, "wrist")
        assert before_wrist is not None
        time.sleep(0.5)  # the front reader reopens its device meanwhile; the wrist camera keeps going
        later_wrist = served(backend, "wrist")
        assert later_wrist is not None and later_wrist.counter > before_wrist.counter
        assert set(backend.faults()) == {"front"}
        stopped_at = injectors[0].next
        injectors[0].running.set()
        back = wait_for(lambda: served(backend), timeout=5.0)
        assert back is not None and back.frame_number is not None and back.frame_number >= stopped_at
        assert np.array_equal(back.image, pattern(back.frame_number, 48, 64))
        assert backend.faults() == {}
    finally:
        for injector in injectors:
            injector.stop()


class Unpluggable(GivenDevices):
    """Devices that can be taken away and given back, as a USB cable would."""

    def __init__(self, devices: list[Any]) -> None:
        super().__init__(devices)
        self.connected = True

    def devices(self) -> dict[str, Any]:
        return super().devices() if self.connected else {}


def test_an_unplugged_camera_is_reported_and_reopened_when_it_is_back(started: Any) -> None:
    camera = SoftwareCamera()
    source = Unpluggable([camera.device])
    injector = Injector(camera)
    try:
        backend = started({"front": camera}, source=source, stale_after=0.2, reopen_interval=0.05)
        assert wait_for(lambda: served(backend))
        source.connected = False
        injector.running.clear()
        assert wait_for(lambda: "not connected" in backend.faults().get("front", ""))
        source.connected = True
        injector.running.set()
        assert wait_for(lambda: served(backend) and not backend.faults())
    finally:
        injector.stop()


def test_a_missing_serial_fails_with_the_serials_found(started: Any) -> None:
    camera = SoftwareCamera("SWPRESENT")
    config = RealSenseConfig(cameras=(SoftwareCamera("SWABSENT").config(),), start_timeout=0)
    with pytest.raises(ValueError, match=r"'SWABSENT'.*\['SWPRESENT'\]"):
        RealSenseCameras(config, GivenDevices([camera.device]))


def test_a_mode_the_device_lacks_fails_with_the_modes_offered(started: Any) -> None:
    with pytest.raises(ValueError, match=r"1280x720@30.*64x48@30"):
        started({"front": SoftwareCamera()}, front_settings={"width": 1280, "height": 720})


def test_exposure_is_set_fixed_or_auto_and_checked_against_the_range(started: Any) -> None:
    import pyrealsense2 as rs

    fixed = SoftwareCamera("SWFIXED", exposure_option=True)
    started({"front": fixed}, front_settings={"exposure": 200.0})
    assert fixed.colour_sensor.get_option(rs.option.exposure) == 200.0
    assert fixed.colour_sensor.get_option(rs.option.enable_auto_exposure) == 0.0
    auto = SoftwareCamera("SWAUTO", exposure_option=True)
    started({"front": auto})
    assert auto.colour_sensor.get_option(rs.option.enable_auto_exposure) == 1.0
    with pytest.raises(ValueError, match="outside the sensor's range"):
        started({"front": SoftwareCamera("SWRANGE", exposure_option=True)}, front_settings={"exposure": 1e6})
    with pytest.raises(ValueError, match="no exposure setting"):
        started({"front": SoftwareCamera("SWNONE")}, front_settings={"exposure": 100.0})


def test_depth_is_served_aligned_to_colour(started: Any) -> None:
    # librealsense's syncer pairs depth with colour only for frames that come at the stream's rate
    # (stamps a frame period apart): the injector paces them as a device would.
    camera = SoftwareCamera(depth=True)
    backend = started({"front": camera})
    injector = Injector(camera)
    try:
        frames = collect(lambda: served(backend), lambda frame: frame.frame_number >= 8)
    finally:
        injector.stop()
    assert frames and frames[-1].frame_number >= 8
    for frame in frames:
        assert frame.depth is not None and frame.frame_number is not None
        assert frame.depth.dtype == np.uint16 and frame.depth.shape == (48, 64)
        assert np.median(frame.depth) == depth_pattern(frame.frame_number, 48, 64)[0, 0]
        assert np.array_equal(frame.image, pattern(frame.frame_number, 48, 64))


def test_close_ends_the_reader_threads(started: Any) -> None:
    camera = SoftwareCamera()
    backend = started({"front": camera})
    camera.inject(1)
    assert wait_for(lambda: served(backend))
    backend.close()
    assert not [thread for thread in threading.enumerate() if thread.name == "realsense-front"]
    camera.inject(2)  # a stopped software sensor drops the frame
    assert serial_of(camera.device) == "SW000001"
