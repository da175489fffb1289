"""Where the backend finds its devices, by serial number: the connected cameras, recordings, or
device objects given by the caller (tests give a `pyrealsense2.software_device`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import pyrealsense2 as rs


def serial_of(device: Any) -> str:
    return str(device.get_info(rs.camera_info.serial_number))


class DeviceSource(Protocol):
    where: str
    """Where the devices are looked for, for messages ("connected", "in the recordings")."""

    def devices(self) -> dict[str, Any]:
        """The devices present now, by serial number (asked again at every reopen)."""


class ConnectedDevices:
    """The RealSense devices connected to this host."""

    where = "connected"

    def __init__(self, context: Any = None) -> None:
        self.context = context if context is not None else rs.context()

    def devices(self) -> dict[str, Any]:
        return {serial_of(device): device for device in self.context.query_devices()}


class GivenDevices:
    """Device objects made by the caller (a software device, say), always present."""

    where = "given"

    def __init__(self, devices: Iterable[Any]) -> None:
        self._devices = {serial_of(device): device for device in devices}

    def devices(self) -> dict[str, Any]:
        return dict(self._devices)


class Recordings:
    """The recordings (`.db3`) in a file or folder, each played back as the device it recorded."""

    where = "in the recordings"

    def __init__(self, path: Path) -> None:
        files = sorted(path.glob("*.db3")) if path.is_dir() else [path]
        if not files or not all(file.is_file() for file in files):
            raise ValueError(f"no RealSense recording (.db3) at {path}")
        context = rs.context()
        self._devices: dict[str, Any] = {}
        for file in files:
            try:
                device = context.load_device(str(file))
            except RuntimeError as exc:
                raise ValueError(f"cannot play {file}: {exc}") from None
            serial = serial_of(device)
            if serial in self._devices:
                raise ValueError(f"two recordings of the device {serial!r} under {path}")
            device.as_playback().set_real_time(True)
            self._devices[serial] = device
        self._context = context

    def devices(self) -> dict[str, Any]:
        return dict(self._devices)
