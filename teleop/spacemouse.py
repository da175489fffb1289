"""3Dconnexion SpaceMouse input through pyspacemouse (hidapi via easyhid underneath).

The only module that imports the hardware libraries; install them with the `spacemouse` extra
(`pip install -e ".[spacemouse]"`) and the system's hidapi library (Debian/Ubuntu:
`apt-get install libhidapi-hidraw0`).

- Discovery: `list_hid_devices()` (every HID device hidapi sees), `list_spacemice()` (those
  pyspacemouse's device table knows), `find_spacemouse(name, path)` (pick one by its table name,
  e.g. "SpaceNavigator", or by its hidraw path). A missing device raises `SpaceMouseNotFound`
  whose message says what was seen and what to check.
- `SpaceMouseReader` runs in its own thread and blocks on the device (hidapi's read with a
  timeout, no spinning); pyspacemouse's own parsing turns each HID report into axes and
  buttons, in the raw HID convention (`teleop.mapping` takes it from there). Every sample is
  timestamped on the monotonic clock. Unplugging the device mid-run is reported as a
  disconnected sample (no intervention) and the reader keeps trying to reopen it; replugging
  resumes.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import queue
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import easyhid
import numpy as np
import pyspacemouse
from pyspacemouse import AxisConvention, DeviceInfo, SpaceMouseDevice

from teleop.mapping import DEVICE_AXES
from teleop.operator_input import InputSample

log = logging.getLogger(__name__)

UDEV_RULES = (
    'KERNEL=="hidraw*", ATTRS{idVendor}=="256f", MODE="0666"',
    'KERNEL=="hidraw*", ATTRS{idVendor}=="046d", ATTRS{idProduct}=="c6*", MODE="0666"',
)
"""udev rules that let every user read 3Dconnexion devices (256f: current models, 046d: older ones)."""
UDEV_HINT = (
    "put these lines in /etc/udev/rules.d/99-spacemouse.rules:\n"
    + "".join(f"        {rule}\n" for rule in UDEV_RULES)
    + "    then run `sudo udevadm control --reload-rules && sudo udevadm trigger` and replug the device"
)


class SpaceMouseError(RuntimeError):
    """The SpaceMouse cannot be used; the message says why and what to check."""


class SpaceMouseNotFound(SpaceMouseError):
    pass


@dataclass(frozen=True)
class HidEntry:
    """A HID device as hidapi lists it; `model` is its name in pyspacemouse's table, or ''."""

    path: str
    vendor_id: int
    product_id: int
    product: str
    manufacturer: str
    model: str

    def describe(self) -> str:
        name = self.model or "not a known SpaceMouse"
        return f"{self.path} {self.vendor_id:04x}:{self.product_id:04x} {self.manufacturer} {self.product} ({name})"


def device_specs() -> dict[str, DeviceInfo]:
    """pyspacemouse's device table, by model name."""
    return dict(pyspacemouse.get_device_specs())


def hid_spec(model: str) -> DeviceInfo:
    """A model's spec from pyspacemouse's table, in the raw HID axis convention."""
    specs = device_specs()
    if model not in specs:
        raise SpaceMouseError(f"unknown SpaceMouse model {model!r}; pyspacemouse knows {sorted(specs)}")
    return pyspacemouse.apply_axis_convention(specs[model], AxisConvention.HID)


def _model_of(vendor_id: int, product_id: int) -> str:
    for name, spec in device_specs().items():
        if (spec.vendor_id, spec.product_id) == (vendor_id, product_id):
            return name
    return ""


def _enumerate() -> list[Any]:
    try:
        return list(easyhid.Enumeration().find())
    except AttributeError as exc:  # easyhid bound no hidapi library: its functions are missing
        raise SpaceMouseError(
            "the hidapi library is not installed (easyhid found no libhidapi-hidraw): "
            f"`sudo apt-get install libhidapi-hidraw0` on Debian/Ubuntu ({exc})"
        ) from None


def list_hid_devices() -> list[HidEntry]:
    """Every HID device hidapi can see (only those this user may read, on Linux)."""
    return [
        HidEntry(
            path=device.path or "",
            vendor_id=device.vendor_id,
            product_id=device.product_id,
            product=device.product_string or "",
            manufacturer=device.manufacturer_string or "",
            model=_model_of(device.vendor_id, device.product_id),
        )
        for device in _enumerate()
    ]


def list_spacemice() -> list[HidEntry]:
    return [entry for entry in list_hid_devices() if entry.model]


def _hidraw_nodes() -> list[str]:
    nodes = []
    for node in sorted(glob.glob("/dev/hidraw*")):
        access = "readable" if os.access(node, os.R_OK | os.W_OK) else "NOT readable by this user"
        nodes.append(f"{node} ({access})")
    return nodes


def not_found_message(name: str | None, path: str | None) -> str:
    """What was looked for, what was seen, and what to check."""
    wanted = f"path {path}" if path else f"model {name}" if name else "any supported model"
    lines = [f"no SpaceMouse found ({wanted})."]
    try:
        seen = list_hid_devices()
        lines.append("HID devices seen by hidapi: " + ("; ".join(e.describe() for e in seen) if seen else "none"))
    except SpaceMouseError as exc:
        lines.append(str(exc))
    nodes = _hidraw_nodes()
    lines.append("hidraw device nodes: " + (", ".join(nodes) if nodes else "none (no HID device, or no hidraw driver)"))
    lines.append("Check that:")
    lines.append("  - the SpaceMouse is plugged in (`lsusb` lists 256f:* or 046d:c6*), a wireless one paired;")
    lines.append("  - this user may read and write its /dev/hidraw* node; if not, " + UDEV_HINT + ";")
    lines.append("  - the 3Dconnexion driver (3dxsrv/spacenavd) is not holding the device;")
    lines.append(f"  - the model is in pyspacemouse's table: {', '.join(sorted(device_specs()))}.")
    return "\n".join(lines)


def find_spacemouse(name: str | None = None, path: str | None = None) -> HidEntry:
    """The SpaceMouse at `path`, or the first one of model `name`, or the first one of any model."""
    try:
        entries = list_hid_devices()
    except SpaceMouseError:
        entries = []  # the message below says why
    for entry in entries:
        if path and os.path.realpath(entry.path) != os.path.realpath(path):
            continue
        if name and entry.model != name:
            continue
        if entry.model or path:
            return entry
    raise SpaceMouseNotFound(not_found_message(name, path))


class TimedHid:
    """Gives pyspacemouse a HID device whose reads block at most `timeout` seconds.

    pyspacemouse's `read()` calls the device's `read(size)`, which blocks forever (or returns at
    once when non-blocking); this forwards to easyhid's `read(size, timeout)` instead, so the
    reader thread sleeps in the kernel until a report or the timeout, and can notice a stop."""

    def __init__(self, device: Any, timeout: float = 0.1) -> None:
        self.device = device
        self.timeout_ms = max(1, int(timeout * 1000))
        self.got_report = False
        self.read_stamp = 0.0

    def read(self, size: int) -> bytearray:
        data = self.device.read(size, timeout=self.timeout_ms)
        self.read_stamp = time.monotonic()
        self.got_report = bool(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.device, name)


def wrap_device(hid_device: Any, model: str, read_timeout: float = 0.1) -> tuple[SpaceMouseDevice, TimedHid]:
    """A pyspacemouse device over an (unopened) HID device object of the given model, reading in
    the raw HID axis convention with bounded blocking reads."""
    timed = TimedHid(hid_device, read_timeout)
    return SpaceMouseDevice(info=hid_spec(model), device=timed), timed


def open_spacemouse(name: str | None = None, path: str | None = None, read_timeout: float = 0.1) -> SpaceMouse:
    entry = find_spacemouse(name, path)
    hid_device = next((d for d in _enumerate() if d.path == entry.path), None)
    if hid_device is None:
        raise SpaceMouseNotFound(not_found_message(name, path))
    model = entry.model or name
    if not model:
        raise SpaceMouseError(f"{entry.describe()} is not in pyspacemouse's table; name its model explicitly")
    return SpaceMouse.open(hid_device, model, read_timeout)


class SpaceMouse:
    """An open SpaceMouse: `read()` blocks up to the read timeout and returns a sample, or None
    when no report came; raises `SpaceMouseError` when the device is gone."""

    def __init__(self, device: SpaceMouseDevice, timed: TimedHid, model: str) -> None:
        self.device = device
        self._timed = timed
        self.model = model
        self.button_names: tuple[str, ...] = tuple(device.info.button_names)

    @classmethod
    def open(cls, hid_device: Any, model: str, read_timeout: float = 0.1) -> SpaceMouse:
        device, timed = wrap_device(hid_device, model, read_timeout)
        try:
            device.open()
        except (RuntimeError, OSError, easyhid.HIDException) as exc:
            message = f"cannot open the {model}: {exc}; if it is a permission problem, {UDEV_HINT}"
            raise SpaceMouseError(message) from None
        return cls(device, timed, model)

    def read(self) -> InputSample | None:
        try:
            state = self.device.read()
        except (easyhid.HIDException, OSError) as exc:
            raise SpaceMouseError(f"the {self.model} stopped answering: {exc}") from None
        if not self._timed.got_report:
            return None
        return InputSample(
            stamp=self._timed.read_stamp,
            axes=np.array([getattr(state, axis) for axis in DEVICE_AXES], dtype=np.float64),
            buttons=tuple(bool(b) for b in state.buttons),
            connected=True,
            device_time=float(state.t),
        )

    def close(self) -> None:
        with contextlib.suppress(easyhid.HIDException, OSError):
            self.device.close()


Opener = Callable[[], SpaceMouse]
SampleSink = Callable[[InputSample], None]


class SpaceMouseReader:
    """Reads a SpaceMouse in a thread; every report, disconnection and reconnection goes to `sink`.

    `opener` opens the device (e.g. `lambda: open_spacemouse(name)`); after an unplug it is
    called again every `reconnect_interval` seconds until it succeeds. No exception escapes the
    thread: failures become disconnected samples and a log line."""

    def __init__(self, opener: Opener, sink: SampleSink, *, reconnect_interval: float = 0.5) -> None:
        self._opener = opener
        self._sink = sink
        self.reconnect_interval = reconnect_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.disconnects = 0
        self.reports = 0
        self.last_error = ""
        self.button_names: tuple[str, ...] = ()

    def start(self) -> SpaceMouseReader:
        self._thread = threading.Thread(target=self._run, name="spacemouse-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _disconnected(self, error: str) -> None:
        if self.connected.is_set():
            self.disconnects += 1
            log.warning("SpaceMouse disconnected: %s", error)
        self.connected.clear()
        self.last_error = error
        self._sink(InputSample(stamp=time.monotonic(), connected=False))

    def _run(self) -> None:
        mouse: SpaceMouse | None = None
        try:
            while not self._stop.is_set():
                if mouse is None:
                    try:
                        mouse = self._opener()
                    except Exception as exc:  # any failure to open is "not connected yet"
                        if self.connected.is_set() or not self.last_error:
                            self._disconnected(str(exc))
                        self._stop.wait(self.reconnect_interval)
                        continue
                    self.button_names = mouse.button_names
                    self.connected.set()
                    self._sink(InputSample(stamp=time.monotonic(), buttons=(False,) * len(self.button_names)))
                    log.info("SpaceMouse connected: %s", mouse.model)
                try:
                    sample = mouse.read()
                except Exception as exc:  # an unplugged device fails in several ways
                    mouse.close()
                    mouse = None
                    self._disconnected(str(exc))
                    continue
                if sample is not None:
                    self.reports += 1
                    self._sink(sample)
        finally:
            if mouse is not None:
                mouse.close()


def axes_report(channel: int, *values: int) -> bytes:
    """A HID report of 16-bit little-endian axis values after its report id, as SpaceMice send them
    (channel 1: translation, or all six axes on combined-report models; channel 2: rotation)."""
    return bytes([channel]) + struct.pack(f"<{len(values)}h", *values)


def buttons_report(mask: int) -> bytes:
    """A button report (channel 3): bit i of the bytes after the id is button i."""
    return bytes([3, mask & 0xFF, (mask >> 8) & 0xFF])


class ReplayHid:
    """A stand-in for easyhid's device object that hands out queued HID reports: lets
    pyspacemouse parse recorded or synthetic reports of a real model without the device (tests,
    benchmarks, replaying a session). `unplug()` makes reads fail as hidapi's do on removal."""

    def __init__(self, model: str, path: str = "/dev/hidraw-replay") -> None:
        spec = hid_spec(model)
        self.model = model
        self.path = path
        self.vendor_id, self.product_id = spec.vendor_id, spec.product_id
        self.product_string = f"{model} (replay)"
        self.manufacturer_string = "3Dconnexion"
        self.serial_number = "replay"
        self.release_number = 0
        self.reports: queue.Queue[bytes] = queue.Queue()
        self.read_timeouts: list[int | None] = []
        self.opened = self.closed = False
        self.unplugged = threading.Event()

    def push(self, report: bytes) -> None:
        self.reports.put(report)

    def unplug(self) -> None:
        self.unplugged.set()

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    def set_nonblocking(self, enable: bool) -> None:
        pass

    def read(self, size: int = 64, timeout: int | None = None) -> bytearray:
        self.read_timeouts.append(timeout)
        if self.unplugged.is_set():
            raise easyhid.HIDException("Failed to read from HID device: -1")
        try:
            report = self.reports.get(timeout=None if timeout is None else timeout / 1000)
        except queue.Empty:
            return bytearray()
        return bytearray(report[:size].ljust(size, b"\x00"))  # hidapi fills the whole buffer
