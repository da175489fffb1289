"""The server's image pipeline (crop and area resize per camera, for every camera backend) and
camera faults: a camera without fresh frames is reported, its images refused, the arm served."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from robot_server.backends.base import CameraFault, CameraFrame, Station
from robot_server.backends.mujoco_sim.backend import SimRig
from robot_server.config import ServerConfig
from robot_server.images import ImagePipeline, ViewConfig
from robot_server.limits import DEFAULT_LIMITS_FILE, Limits
from robot_server.service import RobotService
from wire import decode, encode


def blocks(height: int, width: int, block: int) -> np.ndarray:
    """An image of flat square blocks, each its own colour: area resizing by the block size is exact."""
    rows, cols = np.indices((height // block, width // block))
    colours = np.stack([rows * 7 % 256, cols * 13 % 256, (rows + cols) * 3 % 256], axis=-1).astype(np.uint8)
    return np.repeat(np.repeat(colours, block, axis=0), block, axis=1)


def test_crop_then_area_resize_to_the_output_size() -> None:
    image = blocks(480, 640, 4)
    pipeline = ImagePipeline(
        (ViewConfig("front", crop=(80, 0, 560, 480), height=120, width=120),), {"front": (480, 640)}
    )
    out = pipeline.apply("front", image)
    assert out.shape == (120, 120, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, image[0:480:4, 80:560:4])  # each 4x4 block became one pixel
    assert pipeline.sizes == {"front": (120, 120)}


def test_a_crop_alone_keeps_its_size_and_unviewed_cameras_pass_through() -> None:
    sizes = {"front": (480, 640), "wrist": (240, 320)}
    pipeline = ImagePipeline((ViewConfig("front", crop=(10, 20, 110, 70)),), sizes)
    image, wrist = blocks(480, 640, 2), blocks(240, 320, 2)
    np.testing.assert_array_equal(pipeline.apply("front", image), image[20:70, 10:110])
    assert pipeline.apply("wrist", wrist) is wrist
    assert pipeline.sizes == {"front": (50, 100), "wrist": (240, 320)}


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (ViewConfig("side"), "no camera 'side'"),
        (ViewConfig("front", crop=(0, 0, 700, 100)), "not inside"),
        (ViewConfig("front", crop=(50, 50, 40, 100)), "not inside"),
        (ViewConfig("front", height=-4, width=10), "must be positive"),
    ],
)
def test_bad_views_are_refused_at_start(view: ViewConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImagePipeline((view,), {"front": (480, 640)})


class FlakyCameras:
    """A camera backend whose one camera can stop delivering, as an unplugged camera does."""

    names: tuple[str, ...] = ("front",)
    capabilities: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.sizes = {"front": (96, 128)}
        self.delivering = True
        self.counter = 0

    def latest(self, names: tuple[str, ...]) -> dict[str, CameraFrame]:
        if not self.delivering:
            raise CameraFault("front", "no frame for 2.0 s")
        self.counter += 1
        image = blocks(96, 128, 2)
        return {"front": CameraFrame(image, time.monotonic(), self.counter, device_stamp=12.5, frame_number=7)}

    def faults(self) -> dict[str, str]:
        return {} if self.delivering else {"front": "no frame for 2.0 s"}

    def calibration(self) -> dict:
        return {}

    def set_on_demand(self, on_demand: bool) -> None:
        pass

    def sync(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[RobotService, FlakyCameras]]:
    cameras = FlakyCameras()
    station = Station(SimRig(), cameras)
    config = ServerConfig(views=(ViewConfig("front", crop=(0, 0, 96, 96), height=48, width=48),))
    yield RobotService(config, station, Limits.load(DEFAULT_LIMITS_FILE)), cameras
    station.close()


def request(service: RobotService, cmd: str, data: dict | None = None, **header: object) -> tuple[dict, dict]:
    message = decode(service.handle(encode({"type": "req", "cmd": cmd, "data": data or {}, **header})))
    return message.header, message.arrays


def test_the_server_serves_each_camera_at_its_view_size(flaky) -> None:
    service, _ = flaky
    info, _ = request(service, "info")
    assert info["data"]["cameras"] == {"front": [48, 48]}
    header, arrays = request(service, "observation")
    assert arrays["front"].shape == (48, 48, 3)
    np.testing.assert_array_equal(arrays["front"], blocks(96, 128, 2)[0:96:2, 0:96:2])
    data = header["data"]
    assert data["image_frame_numbers"] == {"front": 7} and data["image_device_stamps"] == {"front": 12.5}
    assert 0 <= data["image_ages"]["front"] < 1.0


def test_a_camera_that_stops_is_reported_its_images_refused_and_the_arm_still_served(flaky) -> None:
    service, cameras = flaky
    cameras.delivering = False
    header, _ = request(service, "state")
    assert header["type"] == "ok" and header["data"]["camera_faults"] == {"front": "no frame for 2.0 s"}
    header, arrays = request(service, "observation")
    assert header["type"] == "error" and header["code"] == "camera_fault" and not arrays
    header, _ = request(service, "observation", {"images": False})
    assert header["type"] == "ok"
    move = {"client": "c", "seq": 1, "deadline": time.monotonic() + 5}
    header, _ = request(service, "move", {"pos": [0.0, 0.0, -0.01], "relative": True}, **move)
    assert header["type"] == "ok"
    cameras.delivering = True  # plugged back in
    header, arrays = request(service, "observation")
    assert header["type"] == "ok" and header["data"]["camera_faults"] == {} and arrays["front"].shape == (48, 48, 3)


def test_a_fault_the_backend_raises_without_reporting_it_is_refused_too(flaky) -> None:
    service, cameras = flaky
    cameras.faults = lambda: {}  # a backend that only notices when asked
    cameras.delivering = False
    header, _ = request(service, "observation")
    assert header["code"] == "camera_fault" and "front" in header["msg"]
