"""The reader thread outlives librealsense's errors, and the timestamp rule on its own."""

from __future__ import annotations

from typing import Any

import pytest

from robot_server.backends.realsense.config import RealSenseConfig
from robot_server.backends.realsense.reader import CameraReader
from robot_server.backends.realsense.sources import GivenDevices
from robot_server.backends.realsense.stream import CameraStream
from robot_server.backends.realsense.timestamps import host_capture_time
from tests.realsense_fixture import Injector, SoftwareCamera, wait_for


def test_an_error_while_reopening_is_a_fault_and_is_retried() -> None:
    camera = SoftwareCamera()
    settings = RealSenseConfig(cameras=(camera.config(),), stale_after=0.2, reopen_interval=0.05)
    failures = [RuntimeError("xioctl(VIDIOC_S_FMT) failed"), RuntimeError("Device disconnected")]

    def flaky_open(device: Any, config: Any) -> CameraStream:
        if failures:
            raise failures.pop(0)
        return CameraStream(device, config)

    source = GivenDevices([camera.device])
    reader = CameraReader(camera.config(), settings, source, CameraStream(camera.device, camera.config()), flaky_open)
    injector = Injector(camera)
    try:
        assert wait_for(lambda: reader.snapshot()[0] is not None and not reader.snapshot()[1])
        injector.running.clear()
        assert wait_for(lambda: "RuntimeError" in reader.snapshot()[1])
        injector.running.set()
        assert wait_for(lambda: not failures and not reader.snapshot()[1])
    finally:
        injector.stop()
        reader.close()


@pytest.mark.parametrize(
    ("domain", "stamp_ms", "recorded", "expected"),
    [
        ("system_time", 99_990.0, False, 99.99),  # offset 0: wall clock == monotonic
        ("global_time", 99_500.0, False, 99.5),
        ("system_time", 98_000.0, False, 100.0),  # two seconds old: not this host's capture time
        ("system_time", 100_010.0, False, 100.0),  # in the future
        ("hardware_clock", 99_990.0, False, 100.0),
        ("system_time", 99_990.0, True, 100.0),  # a recording's stamps are from when it was made
    ],
)
def test_host_capture_time(domain: str, stamp_ms: float, recorded: bool, expected: float) -> None:
    assert host_capture_time(domain, stamp_ms, arrival=100.0, offset=0.0, recorded=recorded) == pytest.approx(expected)
