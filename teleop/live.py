"""`rlif teleop`: a person's SpaceMouse or keyboard, published on the teleop stream."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from teleop.keyboard import KeyboardConfig, KeyboardState, RawTerminal
from teleop.mapping import AxisMapping
from teleop.operator_input import ButtonConfig, CommandBuilder, InputSample
from teleop.publishers import CommandStreamer
from teleop.stream import DEFAULT_COMMANDS
from wire.operator import OperatorCommand
from wire.security import SocketSetup


@dataclass(frozen=True)
class TeleopConfig:
    """Options of `rlif teleop`."""

    input: Literal["spacemouse", "keyboard"] = "spacemouse"
    """Input device: a 3Dconnexion SpaceMouse, or the keyboard of this terminal."""
    device: str | None = None
    """SpaceMouse model to use, by its pyspacemouse name (e.g. SpaceNavigator); default: the first found."""
    device_path: str | None = None
    """SpaceMouse by its hidraw path (e.g. /dev/hidraw3) instead of by model."""
    list_devices: bool = False
    """List the HID devices and SpaceMice seen, then exit."""
    wait_for_device: bool = False
    """Start without a SpaceMouse and wait for one to be plugged in (default: exit with a message)."""
    bind: str = DEFAULT_COMMANDS
    """Address the teleop stream is published on (loopback unless CurveZMQ keys are given)."""
    rate: float = 125.0
    """Publishing rate, Hz (commands also go out at once on every device report)."""
    mapping: AxisMapping = field(default_factory=AxisMapping)
    """Device axes to robot base frame: operator side, explicit axes, deadzone, per-axis scale."""
    buttons: ButtonConfig = field(default_factory=ButtonConfig)
    """SpaceMouse buttons: gripper toggle and episode mark."""
    keyboard: KeyboardConfig = field(default_factory=KeyboardConfig)
    """Keyboard speed and key hold times."""
    status: bool = True
    """Show a status line on the terminal."""
    curve_secret_key: Path | None = None
    """CurveZMQ secret key of the teleop stream (`rlif keys`); required to bind off loopback."""
    curve_clients: Path | None = None
    """Folder of the public keys of the actors allowed to subscribe."""


def _status(command: OperatorCommand, streamer: CommandStreamer) -> str:
    twist = " ".join(f"{v:+.2f}" for v in command.twist)
    state = "ACTIVE" if command.active else "idle  " if command.connected else "NO DEVICE"
    counts = f"toggles {command.gripper_toggles} marks {command.mark_seq} sent {streamer.published}"
    return f"\r{state} twist [{twist}] {counts}"


def list_devices() -> int:
    from teleop.spacemouse import SpaceMouseError, device_specs, list_hid_devices

    try:
        entries = list_hid_devices()
    except SpaceMouseError as exc:
        print(exc)
        return 2
    for entry in entries:
        print(entry.describe())
    if not any(entry.model for entry in entries):
        print(f"no SpaceMouse among {len(entries)} HID devices; known models: {', '.join(sorted(device_specs()))}")
    return 0


def run_spacemouse(config: TeleopConfig, streamer: CommandStreamer, stop: threading.Event) -> int:
    from teleop.spacemouse import SpaceMouse, SpaceMouseError, SpaceMouseReader, open_spacemouse

    def opener() -> SpaceMouse:
        return open_spacemouse(config.device, config.device_path)

    first: list[SpaceMouse] = []
    if not config.wait_for_device:
        try:
            first.append(opener())
        except SpaceMouseError as exc:
            print(exc, file=sys.stderr)
            return 2

    builder = CommandBuilder(config.mapping, config.buttons, source="human")
    reader: SpaceMouseReader

    def sink(sample: InputSample) -> None:
        if sample.connected and reader.button_names != builder.button_names:
            builder.set_button_names(reader.button_names)
        streamer.update(builder.update(sample))

    reader = SpaceMouseReader(lambda: first.pop() if first else opener(), sink)
    reader.start()
    try:
        while not stop.wait(0.2):
            if config.status:
                print(_status(streamer.current, streamer), end="", file=sys.stderr, flush=True)
    finally:
        reader.stop()
    return 0


def run_keyboard(config: TeleopConfig, streamer: CommandStreamer, stop: threading.Event) -> int:
    state = KeyboardState(replace(config.mapping, deadzone=0.0), config.keyboard)  # keys have no deadzone
    period = 1.0 / config.rate
    shown = 0.0
    with RawTerminal() as terminal:
        print("keyboard teleop: w/s a/d r/f move, i/k j/l u/o rotate, space gripper, x hold, ", end="")
        print("Enter success, Backspace failure, q quit\r", flush=True)
        while not (stop.is_set() or state.quit):
            keys = terminal.read_keys(period)
            now = time.monotonic()
            for key in keys:
                state.press(key, now)
            command = state.command(now)
            streamer.update(command)
            if config.status and now - shown > 0.2:
                shown = now
                print(_status(command, streamer), end="", file=sys.stderr, flush=True)
    print("\r", file=sys.stderr)
    return 0


def run_teleop(config: TeleopConfig, *, secure: SocketSetup | None = None, stop: threading.Event | None = None) -> int:
    if config.list_devices:
        return list_devices()
    stop = stop or threading.Event()
    streamer = CommandStreamer(config.bind, rate=config.rate, secure=secure)
    streamer.update(OperatorCommand(connected=False, source="keyboard" if config.input == "keyboard" else "human"))
    with streamer:
        print(f"teleop stream on {config.bind} at {config.rate:.0f} Hz ({config.input})", file=sys.stderr)
        try:
            if config.input == "keyboard":
                return run_keyboard(config, streamer, stop)
            return run_spacemouse(config, streamer, stop)
        except KeyboardInterrupt:
            return 0
        finally:
            streamer.update(OperatorCommand(connected=False))
            time.sleep(2 * streamer.period)  # let the last, inactive command go out
