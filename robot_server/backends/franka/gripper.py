"""The Franka Hand on a thread of its own: a command returns at once and the newest one wins.

A gripper command takes seconds; the control loop must not wait for it. `command` only records
the wish; the thread sends it (franky's asynchronous `move_async`/`grasp_async`) once the
command before it has finished, skipping every wish that a newer one replaced. A command is
never sent while another runs: the gripper answers only the newest, and franky's Gripper waits
forever for an answer that never comes. Opening is a `move`; closing is a `grasp` that presses
with the given force on contact, wherever the fingers stop.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from robot_server.backends.franka.calls import FrankaError
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.franka.gripper_seam import GripperSeam

log = logging.getLogger(__name__)

HAND_MAX_WIDTH = 0.08
"""Opening of the Franka Hand, m."""
POLL_PERIOD = 0.05
"""How often the thread reads the width and looks for a new wish, s."""


@dataclass(frozen=True)
class GripperCommand:
    width: float
    force: float


@dataclass
class _Running:
    future: Any
    what: str
    began: float


class FrankaGripper:
    """Latest-command-wins gripper driver; `width` and `fault` are what it last saw."""

    def __init__(self, seam: GripperSeam, config: FrankaArmConfig) -> None:
        self._seam = seam
        self._config = config
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._pending: GripperCommand | None = None
        self._sent: GripperCommand | None = None
        self._running: _Running | None = None
        self._thread = threading.Thread(target=self._run, name=f"franka-gripper-{config.host}", daemon=True)
        self.width = 0.0
        """Opening between the fingers at the last read, m."""
        self.max_width = HAND_MAX_WIDTH
        """Largest opening, measured by homing, m."""
        self.fault = ""
        """Empty while the gripper answers; else what went wrong with the last command or read."""
        self.sent = 0
        """Commands sent to the gripper since start."""

    @property
    def busy(self) -> bool:
        """A command is running."""
        return self._running is not None

    def start(self) -> None:
        """Connect (bounded by connect_timeout; raises with what to check), then run the thread."""
        self._seam.connect()
        self.width, self.max_width = self._seam.width()
        if self._config.home_gripper:
            self._start(self._seam.homing, "homing")
        self._thread.start()

    def command(self, width: float, force: float) -> None:
        """Record the newest wish; never blocks."""
        with self._lock:
            self._pending = GripperCommand(float(width), float(force))
        self._wake.set()

    def clear_fault(self) -> None:
        """A person's `recover`: the next wish is sent even if it equals the last one."""
        if self._running is None:
            self.fault = ""
        self._sent = None

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=self._config.call_timeout + 2 * POLL_PERIOD)
        running = self._running
        self._seam.close(unfinished=running.future if running is not None else None)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        while not self._closed.is_set():
            running = self._running
            if running is not None:
                self._follow(running)
                continue
            self._wake.wait(POLL_PERIOD)
            self._wake.clear()
            with self._lock:
                wish, self._pending = self._pending, None
            if wish is not None and self._differs(wish) and not self._closed.is_set():
                self._send(wish)
            else:
                self._refresh()

    def _differs(self, wish: GripperCommand) -> bool:
        sent = self._sent
        if sent is None:
            return True
        tolerance = self._config.gripper_width_tolerance
        return abs(wish.width - sent.width) > tolerance or abs(wish.force - sent.force) > 1.0

    def _send(self, wish: GripperCommand) -> None:
        config = self._config
        speed = config.gripper_speed
        width = min(max(wish.width, 0.0), self.max_width)
        force = wish.force if math.isfinite(wish.force) and wish.force > 0 else config.gripper_force
        self._sent = wish
        if width >= self.width - config.gripper_width_tolerance:
            self._start(lambda: self._seam.move(width, speed), f"move to {width:.3f} m")
        else:
            # Wide tolerances: a grasp that ends anywhere (on an object or at `width`) succeeded.
            self._start(
                lambda: self._seam.grasp(width, speed, force, HAND_MAX_WIDTH, HAND_MAX_WIDTH),
                f"grasp at {width:.3f} m with {force:.0f} N",
            )

    def _start(self, send: Callable[[], Any], what: str) -> None:
        try:
            self._running = _Running(send(), what, time.monotonic())
            self.sent += 1
        except FrankaError as exc:
            self._failed(f"gripper: {what}: {exc}")

    def _follow(self, running: _Running) -> None:
        """Wait a little for the running command; on its end, take note and read the width."""
        try:
            result = self._seam.wait(running.future, POLL_PERIOD)
        except FrankaError as exc:
            self._running = None
            self._failed(f"gripper: {running.what}: {exc}")
            return
        if result is None:
            self._refresh()
            late = time.monotonic() - running.began > self._config.gripper_timeout
            if late and not self.fault:
                self._failed(f"gripper: {running.what} not finished within {self._config.gripper_timeout:g} s")
            return
        self._running = None
        if not result:
            log.info("gripper: %s reported no success", running.what)
        self.fault = ""
        self._refresh()

    def _failed(self, fault: str) -> None:
        self.fault = fault
        self._sent = None
        log.warning("%s", fault)

    def _refresh(self) -> None:
        try:
            self.width, self.max_width = self._seam.width()
        except FrankaError as exc:
            self.fault = self.fault or f"gripper: {exc}"
