"""Recordings (`.db3`, written by `rs.recorder` from a software device) served back through the
backend's playback path, the same reader as for devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyrealsense2 as rs
import pytest

from robot_server.backends.base import CameraFault, CameraFrame
from robot_server.backends.realsense.backend import RealSenseCameras, realsense_cameras
from robot_server.backends.realsense.config import RealSenseConfig
from tests.realsense_fixture import SoftwareCamera, collect, depth_pattern, pattern, record, wait_for

FRAMES = 15


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SoftwareCamera, list[int]]:
    folder = tmp_path_factory.mktemp("recordings")
    camera = SoftwareCamera("SWREC")
    numbers = record(folder / "front.db3", camera, FRAMES, first=101)
    return folder, camera, numbers


@pytest.fixture
def playing() -> Iterator[Any]:
    backends: list[RealSenseCameras] = []

    def play(path: Path, camera: SoftwareCamera, **settings: Any) -> RealSenseCameras:
        # warm-up frames are not applied to recordings: a warm-up longer than the recording proves it
        config = RealSenseConfig(cameras=(camera.config(warm_up_frames=1000),), playback=path, **settings)
        backend = realsense_cameras(config, rig=None)
        backends.append(backend)
        return backend

    yield play
    for backend in backends:
        backend.close()


def newest(backend: RealSenseCameras) -> CameraFrame | None:
    try:
        return backend.latest(("front",))["front"]
    except CameraFault:
        return None


def test_recording_plays_back_its_frames_in_order_then_ends(recording: Any, playing: Any) -> None:
    folder, camera, numbers = recording
    backend = playing(folder, camera, playback_loop=False)
    frames = collect(lambda: newest(backend), lambda frame: frame.frame_number == numbers[-1])
    served = [frame.frame_number for frame in frames]
    assert served[-1] == numbers[-1]
    assert served == sorted(served) and set(served) <= set(numbers)
    assert len(served) >= FRAMES // 2, f"real-time playback should show most frames, got {served}"
    for frame in frames:
        assert np.array_equal(frame.image, pattern(frame.frame_number, camera.height, camera.width))
    stamps = [frame.stamp for frame in frames]
    assert stamps == sorted(stamps)
    assert wait_for(lambda: "ended" in backend.faults().get("front", ""))
    assert backend.faults() == {"front": "the recording has ended"}
    with pytest.raises(CameraFault, match="ended"):
        backend.latest(("front",))


def test_looping_playback_starts_again_at_the_end(recording: Any, playing: Any) -> None:
    folder, camera, numbers = recording
    backend = playing(folder / "front.db3", camera, playback_loop=True, start_timeout=5.0)
    frames = collect(
        lambda: newest(backend),
        lambda frame: frame.counter > 4 and frame.frame_number <= numbers[3],
        timeout=10.0,
    )
    served = [frame.frame_number for frame in frames]
    wrap = next(index for index in range(1, len(served)) if served[index] < served[index - 1])
    assert served[wrap] in numbers[:4], f"after the end the recording starts again: {served}"
    assert [frame.counter for frame in frames] == sorted(frame.counter for frame in frames)


def test_depth_recording_plays_back_aligned_depth(tmp_path: Path, playing: Any) -> None:
    camera = SoftwareCamera("SWDEPTH", depth=True)
    record(tmp_path / "front.db3", camera, 8)
    backend = playing(tmp_path, camera, playback_loop=False)
    frames = collect(lambda: newest(backend), lambda frame: frame.frame_number == 8)
    assert frames and frames[-1].frame_number == 8
    for frame in frames:
        assert frame.depth is not None and np.median(frame.depth) == depth_pattern(frame.frame_number, 48, 64)[0, 0]


def test_a_camera_without_a_recording_fails_with_the_serials_recorded(recording: Any) -> None:
    folder, _, _ = recording
    config = RealSenseConfig(cameras=(SoftwareCamera("SWOTHER").config(),), playback=folder)
    with pytest.raises(ValueError, match=r"'SWOTHER'.*recordings.*\['SWREC'\]"):
        realsense_cameras(config, rig=None)


def test_a_playback_path_without_recordings_fails(tmp_path: Path) -> None:
    config = RealSenseConfig(cameras=(SoftwareCamera().config(),), playback=tmp_path)
    with pytest.raises(ValueError, match="no RealSense recording"):
        realsense_cameras(config, rig=None)


def test_librealsense_records_db3_only(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"\.db3"):
        rs.recorder(str(tmp_path / "front.bag"), SoftwareCamera().device)
