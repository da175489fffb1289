"""The camera backend `realsense`: RealSense cameras (or their recordings), one reader thread each."""

from __future__ import annotations

import time

from robot_server.backends.base import CameraFault, CameraFrame
from robot_server.backends.camera_model import CameraCalibration, Intrinsics
from robot_server.backends.realsense.config import RealSenseCameraConfig, RealSenseConfig
from robot_server.backends.realsense.listing import list_cameras
from robot_server.backends.realsense.reader import POLL, CameraReader
from robot_server.backends.realsense.sources import ConnectedDevices, DeviceSource, Recordings
from robot_server.backends.realsense.stream import CameraStream


class RealSenseCameras:
    """Serves the newest frame of each configured camera; a camera that stops delivering is a
    fault (never an old image) until its reader has reopened it."""

    capabilities: frozenset[str] = frozenset()

    def __init__(self, config: RealSenseConfig, source: DeviceSource) -> None:
        if not config.cameras:
            raise ValueError("RealSense cameras: none configured (cameras: [{name: ..., serial: ...}])")
        self.config = config
        self.names = tuple(camera.name for camera in config.cameras)
        self.sizes = {camera.name: (camera.height, camera.width) for camera in config.cameras}
        found = source.devices()
        for camera in config.cameras:
            if camera.serial not in found:
                raise ValueError(
                    f"RealSense camera {camera.name!r}: no device with serial {camera.serial!r}; "
                    f"{source.where}: {sorted(found) or 'none'}"
                )
        self._calibration = {
            camera.name: CameraCalibration(factory_intrinsics(found[camera.serial], camera))
            for camera in config.cameras
        }
        self.readers: dict[str, CameraReader] = {}
        try:
            for camera in config.cameras:
                stream = CameraStream(found[camera.serial], camera)
                self.readers[camera.name] = CameraReader(camera, config, source, stream)
            self._wait_for_first_frames(config.start_timeout)
        except BaseException:
            self.close()
            raise

    def _wait_for_first_frames(self, timeout: float) -> None:
        if timeout <= 0:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(reader.snapshot()[0] is not None for reader in self.readers.values()):
                return
            time.sleep(POLL / 5)
        missing = {name: reader.snapshot()[1] for name, reader in self.readers.items() if reader.snapshot()[0] is None}
        raise RuntimeError(f"RealSense cameras without a frame after {timeout} s: {missing}")

    def latest(self, names: tuple[str, ...]) -> dict[str, CameraFrame]:
        frames: dict[str, CameraFrame] = {}
        for name in names:
            if name not in self.readers:
                raise ValueError(f"unknown camera {name!r}; cameras: {list(self.names)}")
            frame, fault = self.readers[name].snapshot()
            if fault or frame is None:
                raise CameraFault(name, fault)
            frames[name] = frame
        return frames

    def faults(self) -> dict[str, str]:
        snapshots = {name: reader.snapshot() for name, reader in self.readers.items()}
        return {name: fault for name, (_, fault) in snapshots.items() if fault}

    def calibration(self) -> dict[str, CameraCalibration]:
        """Each camera's factory intrinsics for its colour mode (None where the device has none)."""
        return dict(self._calibration)

    def set_on_demand(self, on_demand: bool) -> None:
        pass

    def sync(self, now: float) -> None:
        pass

    def close(self) -> None:
        for reader in self.readers.values():
            reader.stop()
        for reader in self.readers.values():
            reader.close()


def realsense_cameras(config: RealSenseConfig, rig: object = None) -> RealSenseCameras:
    """The camera backend `realsense`: the connected devices, or the recordings at `config.playback`
    (the rig is not needed)."""
    source: DeviceSource = ConnectedDevices() if config.playback is None else Recordings(config.playback)
    return RealSenseCameras(config, source)


def factory_intrinsics(device: object, camera: RealSenseCameraConfig) -> Intrinsics | None:
    """The device's own calibration of the colour mode `camera` streams (RGB8 at its size and rate);
    None where the device has none to give."""
    try:
        modes = list_cameras([device])[0]["colour_streams"]
    except RuntimeError:  # a device that cannot list its modes: no factory calibration known
        return None
    for mode in modes:
        wanted = (camera.width, camera.height, camera.fps, "rgb8")
        if (mode["width"], mode["height"], mode["fps"], mode["format"]) == wanted and mode["intrinsics"]:
            known = mode["intrinsics"]
            coeffs = tuple(float(v) for v in known["coeffs"])
            return Intrinsics(
                camera.width,
                camera.height,
                float(known["fx"]),
                float(known["fy"]),
                float(known["ppx"]),
                float(known["ppy"]),
                coeffs if any(coeffs) else (),
                str(known["model"]),
                "device",
            )
    return None
