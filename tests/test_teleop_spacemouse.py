"""The SpaceMouse path: real devices' HID reports through pyspacemouse's own parsing.

No HID device is needed: `ReplayHid` stands in for easyhid's device object (the one thing
pyspacemouse talks to) and hands out byte reports in the formats of pyspacemouse's device
table, so pyspacemouse's parsing, our axis mapping and buttons run exactly as with a device.
"""

from __future__ import annotations

import queue
import struct

import numpy as np
import pytest

from teleop.mapping import AxisMapping
from teleop.operator_input import ButtonConfig, CommandBuilder, InputSample
from teleop.publishers import CommandStreamer
from teleop.spacemouse import (
    ReplayHid,
    SpaceMouse,
    SpaceMouseNotFound,
    SpaceMouseReader,
    find_spacemouse,
    hid_spec,
    not_found_message,
)
from teleop.stream import CommandSubscriber
from tests.conftest import free_port
from tests.test_teleop_stream import wait_for_command
from wire.operator import MARK_FAILURE, MARK_SUCCESS

FULL = 350  # pyspacemouse's axis_scale: a raw value of 350 reads as 1.0


def axes_report(channel: int, *values: int) -> bytes:
    """Report id, then signed 16-bit little-endian axis values (the devices' own format)."""
    return bytes([channel]) + struct.pack(f"<{len(values)}h", *values)


def buttons_report(mask: int) -> bytes:
    return bytes([3, mask & 0xFF, (mask >> 8) & 0xFF])


def read_sample(mouse: SpaceMouse) -> InputSample:
    sample = mouse.read()
    assert sample is not None, "a queued report must produce a sample"
    return sample


def test_space_navigator_separate_translation_and_rotation_reports() -> None:
    hid = ReplayHid("SpaceNavigator")
    mouse = SpaceMouse.open(hid, "SpaceNavigator")
    assert hid.opened and mouse.button_names == ("LEFT", "RIGHT")
    # Translation report (channel 1): x, y, z; rotation report (channel 2): rx, ry, rz.
    hid.reports.put(axes_report(1, FULL // 2, -FULL, -FULL))
    hid.reports.put(axes_report(2, 0, FULL // 2, FULL))
    first = read_sample(mouse)
    assert first.axes[:3] == pytest.approx([0.5, -1.0, -1.0])  # HID convention: raw values
    assert first.axes[3:] == pytest.approx([0.0, 0.0, 0.0])  # the rotation report is not read yet
    sample = read_sample(mouse)
    assert sample.axes == pytest.approx([0.5, -1.0, -1.0, 0.0, 0.5, 1.0])
    assert sample.stamp >= first.stamp > 0 and sample.device_time > 0

    builder = CommandBuilder(AxisMapping(deadzone=0.1), button_names=mouse.button_names)
    command = builder.update(sample)
    beyond = (0.5 - 0.1) / 0.9
    # Operator in front of the robot (+x side, facing it): cap pushed away (HID -y) moves the TCP
    # to -x, pushed right (HID +x) to +y, lifted (HID -z) up; twisting it about the vertical
    # clockwise (HID +yaw) turns the TCP clockwise seen from above (-rz), tilting it about the
    # operator's forward axis (HID +pitch) rotates about base +x.
    assert command.twist == pytest.approx([-1.0, beyond, 1.0, beyond, 0.0, -1.0], abs=1e-6)
    assert command.active and command.source == "human" and command.stamp == sample.stamp

    hid.reports.put(buttons_report(0b01))  # LEFT held
    pressed = builder.update(read_sample(mouse))
    assert pressed.gripper_toggles == 1 and pressed.buttons == 0b01
    hid.reports.put(axes_report(1, 0, 0, 0))
    hid.reports.put(axes_report(2, 0, 0, 0))
    hid.reports.put(buttons_report(0))
    for _ in range(3):
        idle = builder.update(read_sample(mouse))
    assert not idle.active and np.all(idle.twist == 0) and idle.gripper_toggles == 1
    hid.reports.put(buttons_report(0b10))  # RIGHT, a short press: success
    hid.reports.put(buttons_report(0))
    assert builder.update(read_sample(mouse)).active  # a held button is a takeover
    marked = builder.update(read_sample(mouse))
    assert (marked.mark, marked.mark_seq) == (MARK_SUCCESS, 1)
    mouse.close()
    assert hid.closed


def test_space_mouse_wireless_combined_report() -> None:
    hid = ReplayHid("SpaceMouseWireless")
    mouse = SpaceMouse.open(hid, "SpaceMouseWireless")
    # One report (channel 1) carries all six axes.
    hid.reports.put(axes_report(1, 0, FULL, 0, -FULL, 0, -FULL // 2))
    sample = read_sample(mouse)
    assert sample.axes == pytest.approx([0.0, 1.0, 0.0, -1.0, 0.0, -0.5])
    command = CommandBuilder(AxisMapping(deadzone=0.0), button_names=mouse.button_names).update(sample)
    # Pulled towards the operator: +x; tilted about the operator's right axis (HID -roll): -ry;
    # twisted counter-clockwise seen from above (HID -yaw): +rz.
    assert command.twist == pytest.approx([1.0, 0.0, 0.0, 0.0, -1.0, 0.5], abs=1e-6)

    hid.reports.put(buttons_report(0b11))
    both = read_sample(mouse)
    assert both.buttons == (True, True)


def test_operator_side_and_deadzone_apply_to_device_reports() -> None:
    hid = ReplayHid("SpaceMouseWireless")
    mouse = SpaceMouse.open(hid, "SpaceMouseWireless")
    hid.reports.put(axes_report(1, FULL // 20, -FULL, 0, 0, 0, 0))  # x inside a 0.1 deadzone
    sample = read_sample(mouse)
    behind = CommandBuilder(AxisMapping(operator_side="behind", deadzone=0.1)).update(sample)
    assert behind.twist == pytest.approx([1.0, 0, 0, 0, 0, 0])  # away from an operator behind: +x
    flipped = CommandBuilder(AxisMapping(deadzone=0.1, scale=(-0.5, 1, 1, 1, 1, 1))).update(sample)
    assert flipped.twist == pytest.approx([0.5, 0, 0, 0, 0, 0])


def test_long_mark_press_is_failure_and_buttons_are_configurable() -> None:
    builder = CommandBuilder(buttons=ButtonConfig(gripper="RIGHT", mark="LEFT", failure_press=1.0))
    builder.update(InputSample(stamp=10.0, buttons=(True, False)))
    released = builder.update(InputSample(stamp=11.5, buttons=(False, False)))
    assert (released.mark, released.mark_seq, released.gripper_toggles) == (MARK_FAILURE, 1, 0)
    toggled = builder.update(InputSample(stamp=12.0, buttons=(False, True)))
    assert toggled.gripper_toggles == 1
    # A device whose buttons have other names falls back to buttons 0 (gripper) and 1 (mark).
    pro = CommandBuilder(button_names=hid_spec("SpaceMousePro").button_names)
    assert pro.update(InputSample(stamp=1.0, buttons=(True,) + (False,) * 14)).gripper_toggles == 1


def test_reader_blocks_on_the_device_and_survives_unplug_and_replug() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    plugged: queue.Queue[ReplayHid] = queue.Queue()
    opened: list[ReplayHid] = []

    def opener() -> SpaceMouse:
        try:
            hid = plugged.get_nowait()
        except queue.Empty:
            raise OSError("no SpaceMouse plugged in") from None
        opened.append(hid)
        return SpaceMouse.open(hid, "SpaceNavigator", read_timeout=0.05)

    builder = CommandBuilder()
    plugged.put(ReplayHid("SpaceNavigator"))
    with CommandStreamer(address, rate=200.0) as streamer, CommandSubscriber(address, timeout=1.0) as subscriber:
        reader = SpaceMouseReader(opener, lambda s: streamer.update(builder.update(s)), reconnect_interval=0.05)
        reader.start()
        try:
            assert reader.connected.wait(5.0)
            opened[0].reports.put(axes_report(1, 0, -FULL, 0))
            moving = wait_for_command(subscriber, lambda c: c.active)
            assert moving.connected and moving.twist[0] == pytest.approx(-1.0)
            assert all(t is not None and t > 0 for t in opened[0].read_timeouts), "reads must block with a timeout"

            opened[0].unplug()
            gone = wait_for_command(subscriber, lambda c: not c.connected)
            assert not gone.active and np.all(gone.twist == 0)
            assert reader.disconnects == 1 and reader.last_error
            assert opened[0].closed

            plugged.put(ReplayHid("SpaceNavigator"))  # replugged
            assert reader.connected.wait(5.0)
            opened[1].reports.put(axes_report(1, 0, 0, -FULL))
            back = wait_for_command(subscriber, lambda c: c.connected and c.active)
            assert back.twist[2] == pytest.approx(1.0)
        finally:
            reader.stop()
    assert len(opened) == 2 and opened[1].closed


def test_missing_device_says_what_was_seen_and_what_to_check() -> None:
    with pytest.raises(SpaceMouseNotFound) as error:
        find_spacemouse(name="SpaceNavigator")
    message = str(error.value)
    assert "no SpaceMouse found (model SpaceNavigator)" in message
    assert "HID devices seen" in message or "hidapi library is not installed" in message
    assert "udev" in message and "/dev/hidraw" in message and "SpaceMouseWireless" in message
    assert not_found_message(None, "/dev/hidraw9").startswith("no SpaceMouse found (path /dev/hidraw9)")
