"""`CameraStream`: librealsense's one-frame queue, seen directly (no reader thread)."""

from __future__ import annotations

import numpy as np

from robot_server.backends.realsense.stream import CameraStream
from tests.realsense_fixture import SoftwareCamera, pattern


def test_a_burst_leaves_only_its_newest_frame_in_the_queue() -> None:
    camera = SoftwareCamera()
    stream = CameraStream(camera.device, camera.config())
    try:
        for number in range(1, 11):
            camera.inject(number, stamp_ms=1000.0 + number, domain="hardware_clock")
        capture = stream.wait(1.0)
        assert capture is not None and capture.frame_number == 10
        assert np.array_equal(capture.image, pattern(10, 48, 64))
        assert (capture.device_stamp, capture.domain) == (1010.0, "hardware_clock")
        assert stream.wait(0.05) is None
        assert not stream.recording and not stream.ended()
    finally:
        stream.close()
    stream.close()  # closing twice is harmless


def test_a_closed_stream_can_be_opened_again_on_the_same_device() -> None:
    camera = SoftwareCamera()
    CameraStream(camera.device, camera.config()).close()
    stream = CameraStream(camera.device, camera.config())
    try:
        camera.inject(7)
        capture = stream.wait(1.0)
        assert capture is not None and capture.frame_number == 7
    finally:
        stream.close()
