"""Keyboard teleoperation in a plain terminal (no X server): termios raw mode on stdin or a tty.

Keys act in the operator's frame, mapped to the base frame like a SpaceMouse's axes (the same
`AxisMapping`, so the same `operator_side`):

| key        | action                                  |
|------------|-----------------------------------------|
| w / s      | away from / towards the operator        |
| a / d      | to the operator's left / right          |
| r / f      | up / down                               |
| i / k      | tilt about the operator's left-right axis |
| j / l      | tilt about the operator's forward axis  |
| u / o      | turn left / right (about vertical)      |
| space      | toggle the gripper                      |
| x          | take over and hold still                |
| Enter      | mark the episode a success              |
| Backspace  | mark the episode a failure              |
| q, Ctrl-C  | quit                                    |

Terminals report key presses, not releases: a key counts as held for `first_hold` seconds
after its first press (bridging the terminal's auto-repeat delay) and then for `repeat_hold`
seconds after each auto-repeat, so holding a key moves steadily and letting go stops within
`repeat_hold`.
"""

from __future__ import annotations

import os
import select
import termios
import tty
from dataclasses import dataclass

import numpy as np

from teleop.mapping import AxisMapping
from wire.operator import MARK_FAILURE, MARK_NONE, MARK_SUCCESS, OperatorCommand

MOTION_KEYS: dict[str, tuple[int, float]] = {
    # key: (device axis in pyspacemouse's HID convention, sign); HID axes: x to the operator's
    # right, y towards the operator, z down; roll, pitch, yaw about them.
    "w": (1, -1.0),
    "s": (1, 1.0),
    "a": (0, -1.0),
    "d": (0, 1.0),
    "r": (2, -1.0),
    "f": (2, 1.0),
    "i": (3, 1.0),
    "k": (3, -1.0),
    "j": (4, 1.0),
    "l": (4, -1.0),
    "u": (5, -1.0),
    "o": (5, 1.0),
}
GRIPPER_KEY, HOLD_KEY = " ", "x"
SUCCESS_KEYS, FAILURE_KEYS = frozenset("\r\n"), frozenset("\x7f\x08")
QUIT_KEYS = frozenset("q\x03")


@dataclass(frozen=True)
class KeyboardConfig:
    speed: float = 0.5
    """Normalised action of a held motion key (1 = the full step of the action space)."""
    first_hold: float = 0.55
    """Seconds a key counts as held after its first press."""
    repeat_hold: float = 0.12
    """Seconds a key counts as held after each auto-repeat."""


class KeyboardState:
    """Key presses in, operator commands out."""

    def __init__(self, mapping: AxisMapping | None = None, config: KeyboardConfig = KeyboardConfig()) -> None:
        self.mapping = mapping or AxisMapping(deadzone=0.0)
        self.config = config
        self._held_until: dict[str, float] = {}
        self._last_press: dict[str, float] = {}
        self.gripper_toggles = 0
        self.mark = MARK_NONE
        self.mark_seq = 0
        self.quit = False
        self.last_input = 0.0

    def press(self, key: str, now: float) -> None:
        self.last_input = now
        if key in QUIT_KEYS:
            self.quit = True
        elif key == GRIPPER_KEY:
            self.gripper_toggles += 1
        elif key in SUCCESS_KEYS or key in FAILURE_KEYS:
            self.mark = MARK_SUCCESS if key in SUCCESS_KEYS else MARK_FAILURE
            self.mark_seq += 1
        elif key in MOTION_KEYS or key == HOLD_KEY:
            repeat = now - self._last_press.get(key, -np.inf) < self.config.first_hold
            self._held_until[key] = now + (self.config.repeat_hold if repeat else self.config.first_hold)
            self._last_press[key] = now

    def held(self, now: float) -> list[str]:
        return [key for key, until in self._held_until.items() if now < until]

    def command(self, now: float) -> OperatorCommand:
        axes = np.zeros(6)
        held = self.held(now)
        for key in held:
            if key in MOTION_KEYS:
                index, sign = MOTION_KEYS[key]
                axes[index] += sign * self.config.speed
        twist = self.mapping.twist(np.clip(axes, -1.0, 1.0))
        return OperatorCommand(
            twist=twist.astype(np.float32),
            active=bool(held),
            gripper_toggles=self.gripper_toggles,
            mark=self.mark,
            mark_seq=self.mark_seq,
            connected=True,
            source="keyboard",
            stamp=self.last_input,
        )


def decode_keys(data: bytes) -> list[str]:
    """Characters of a raw terminal read; escape sequences (arrows, function keys) are dropped."""
    text = data.decode("utf-8", errors="ignore")
    keys, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\x1b":
            index += 1
            if index < len(text) and text[index] in "[O":
                index += 1
                while index < len(text) and not text[index].isalpha() and text[index] != "~":
                    index += 1
            index += 1
            continue
        keys.append(char.lower() if char.isalpha() else char)
        index += 1
    return keys


class RawTerminal:
    """A terminal in raw mode (no echo, no line buffering, Ctrl-C as a key) while open; the
    previous mode is restored on close. `read_keys` blocks up to a timeout."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = os.open("/dev/tty", os.O_RDONLY) if fd is None else fd
        self._own_fd = fd is None
        if not os.isatty(self.fd):
            raise RuntimeError("keyboard teleop needs a terminal (stdin is not a tty)")
        self._saved = termios.tcgetattr(self.fd)
        tty.setraw(self.fd)

    def read_keys(self, timeout: float) -> list[str]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        return decode_keys(os.read(self.fd, 64))

    def close(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        if self._own_fd:
            os.close(self.fd)

    def __enter__(self) -> RawTerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
