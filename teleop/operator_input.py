"""From input samples (SpaceMouse reports, key presses) to operator commands.

Buttons (configurable by device button name or index):
- the gripper button (default LEFT, else the device's first button) toggles the gripper on
  each press; the command carries a press counter, and the actor flips the gripper it last
  executed once per new press;
- the mark button (default RIGHT, else the second button) gives the operator's verdict on the
  episode when released: a short press marks success, a press held `failure_press` seconds
  or longer marks failure.

The operator is active while any mapped axis is outside the deadzone or any button is held.
A disconnected device gives inactive commands with `connected` false.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from teleop.mapping import AxisMapping
from wire.operator import MARK_FAILURE, MARK_NONE, MARK_SUCCESS, OperatorCommand


@dataclass(frozen=True)
class InputSample:
    """One reading of an input device, timestamped when it was read."""

    stamp: float
    """Monotonic seconds when the report was read."""
    axes: np.ndarray = field(default_factory=lambda: np.zeros(6))
    """Device axes in pyspacemouse's HID convention: x, y, z, roll, pitch, yaw, each about [-1, 1]."""
    buttons: tuple[bool, ...] = ()
    """Held state of each button, in the device's button order."""
    connected: bool = True
    device_time: float = 0.0
    """The device library's own timestamp of the report (pyspacemouse: perf_counter seconds)."""


@dataclass(frozen=True)
class ButtonConfig:
    """What the device's buttons do; each names a button by its device name or index."""

    gripper: str = "LEFT"
    """Button that toggles the gripper ('' for none). Falls back to button 0 if the device has no such name."""
    mark: str = "RIGHT"
    """Button that marks the episode: short press success, long press failure ('' for none).
    Falls back to button 1 if the device has no such name."""
    failure_press: float = 1.0
    """A mark press held at least this long (seconds) means failure."""


def resolve_button(name: str, button_names: tuple[str, ...], fallback: int) -> int | None:
    """Index of a button given by name or index; the fallback index when the name is unknown."""
    if not name:
        return None
    if name.isdigit():
        return int(name)
    upper = tuple(n.upper() for n in button_names)
    if name.upper() in upper:
        return upper.index(name.upper())
    return fallback if fallback < len(button_names) else None


class CommandBuilder:
    """Turns a stream of input samples into operator commands (one per sample)."""

    def __init__(
        self,
        mapping: AxisMapping | None = None,
        buttons: ButtonConfig | None = None,
        button_names: tuple[str, ...] = ("LEFT", "RIGHT"),
        source: str = "human",
    ) -> None:
        self.mapping = mapping or AxisMapping()
        self.config = buttons or ButtonConfig()
        self.source = source
        self.set_button_names(button_names)
        self._held: tuple[bool, ...] = ()
        self._mark_pressed_at: float | None = None
        self.gripper_toggles = 0
        self.mark = MARK_NONE
        self.mark_seq = 0

    def set_button_names(self, button_names: tuple[str, ...]) -> None:
        """The names of the connected device's buttons (they differ between models)."""
        self.button_names = tuple(button_names)
        self._gripper_index = resolve_button(self.config.gripper, self.button_names, 0)
        self._mark_index = resolve_button(self.config.mark, self.button_names, 1)

    def _pressed(self, index: int | None, held: tuple[bool, ...]) -> bool:
        return index is not None and index < len(held) and held[index]

    def update(self, sample: InputSample) -> OperatorCommand:
        if not sample.connected:
            self._held = ()
            self._mark_pressed_at = None
            return self._command(sample, np.zeros(6), (), active=False)
        held = tuple(bool(b) for b in sample.buttons)
        was = self._held
        if self._pressed(self._gripper_index, held) and not self._pressed(self._gripper_index, was):
            self.gripper_toggles += 1
        mark_now, mark_before = self._pressed(self._mark_index, held), self._pressed(self._mark_index, was)
        if mark_now and not mark_before:
            self._mark_pressed_at = sample.stamp
        elif mark_before and not mark_now and self._mark_pressed_at is not None:
            long_press = sample.stamp - self._mark_pressed_at >= self.config.failure_press
            self.mark = MARK_FAILURE if long_press else MARK_SUCCESS
            self.mark_seq += 1
            self._mark_pressed_at = None
        self._held = held
        twist = self.mapping.twist(sample.axes)
        return self._command(sample, twist, held, active=bool(np.any(twist != 0.0) or any(held)))

    def _command(self, sample: InputSample, twist: np.ndarray, held: tuple[bool, ...], active: bool) -> OperatorCommand:
        return OperatorCommand(
            twist=twist.astype(np.float32),
            active=active,
            gripper=None,
            gripper_toggles=self.gripper_toggles,
            buttons=sum(1 << i for i, pressed in enumerate(held) if pressed),
            mark=self.mark,
            mark_seq=self.mark_seq,
            connected=sample.connected,
            source=self.source,
            stamp=sample.stamp,
        )
