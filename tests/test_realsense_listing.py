"""`list_cameras`: the devices, their facts, and each colour mode's intrinsics."""

from __future__ import annotations

import re

import pytest

from robot_server.backends.realsense.backend import realsense_cameras
from robot_server.backends.realsense.config import RealSenseConfig
from robot_server.backends.realsense.listing import list_cameras
from tests.realsense_fixture import SoftwareCamera


def test_lists_a_device_with_its_colour_modes_and_intrinsics() -> None:
    camera = SoftwareCamera("SWLIST", width=64, height=48, depth=True)
    [listed] = list_cameras([camera.device])
    assert listed["serial"] == "SWLIST" and listed["name"] == "Software RealSense"
    assert listed["product_line"] == "SW"
    assert listed["firmware"] is None and listed["usb_type"] is None  # a software device has none
    [mode] = listed["colour_streams"]  # the depth stream is not listed
    assert (mode["width"], mode["height"], mode["fps"], mode["format"]) == (64, 48, 30, "rgb8")
    assert mode["intrinsics"] == {
        "fx": pytest.approx(57.6),
        "fy": pytest.approx(57.6),
        "ppx": 32.0,
        "ppy": 24.0,
        "model": "brown_conrady",
        "coeffs": [0.0] * 5,
    }


def test_lists_the_connected_devices() -> None:
    listed = list_cameras()
    assert isinstance(listed, list) and all("serial" in device for device in listed)


def test_the_factory_looks_for_connected_devices_and_names_those_found() -> None:
    serials = sorted(device["serial"] for device in list_cameras())
    config = RealSenseConfig(cameras=(SoftwareCamera("SWNOTTHERE").config(),))
    found = re.escape(str(serials or "none"))
    with pytest.raises(ValueError, match=rf"'SWNOTTHERE'.*connected: {found}"):
        realsense_cameras(config, rig=None)
