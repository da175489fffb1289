"""The camera backend `none`: an arm served alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from robot_server.backends.base import CameraFrame
from robot_server.backends.camera_model import CameraCalibration


@dataclass(frozen=True)
class NoCamerasConfig:
    """No cameras (`cameras: {type: none}`): observations carry the state only."""

    type: Literal["none"] = "none"
    """Backend name."""


class NoCameras:
    names: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()

    def __init__(self, config: NoCamerasConfig, rig: object = None) -> None:
        self.sizes: dict[str, tuple[int, int]] = {}

    def faults(self) -> dict[str, str]:
        return {}

    def latest(self, names: tuple[str, ...]) -> dict[str, CameraFrame]:
        return {}

    def calibration(self) -> dict[str, CameraCalibration]:
        return {}

    def set_on_demand(self, on_demand: bool) -> None:
        pass

    def sync(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass
