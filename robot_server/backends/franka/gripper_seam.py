"""The Franka Hand's door to franky: its own connection and worker, each call bounded in time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import franky

from robot_server.backends.franka.calls import CallWorker, FrankaError
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.franka.faults import unreachable
from robot_server.backends.franka.seam import translate

T = TypeVar("T")


class GripperSeam:
    """The Franka Hand on its own connection and worker, each call bounded in time."""

    def __init__(self, config: FrankaArmConfig) -> None:
        self.config = config
        self._worker = CallWorker(f"franky-gripper-{config.host}")
        self._gripper: Any = None

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
        try:
            return self._worker.call(fn, self.config.call_timeout if timeout is None else timeout, what)
        except Exception as exc:
            translated = translate(f"gripper: {what}", exc)
            if translated is exc:
                raise
            try:
                raise translated from exc
            finally:
                del translated  # see CallWorker.call: no reference cycle through this frame

    def connect(self) -> None:
        host = self.config.host
        try:
            self._gripper = self._call(lambda: franky.Gripper(host), f"connect to {host}", self.config.connect_timeout)
        except FrankaError as exc:
            raise unreachable(host, f"gripper: {exc.__cause__ or exc}") from exc

    def homing(self) -> Any:
        gripper = self._gripper
        return self._call(gripper.homing_async, "homing")

    def move(self, width: float, speed: float) -> Any:
        gripper = self._gripper
        return self._call(lambda: gripper.move_async(width, speed), "move")

    def grasp(self, width: float, speed: float, force: float, epsilon_inner: float, epsilon_outer: float) -> Any:
        gripper = self._gripper
        return self._call(lambda: gripper.grasp_async(width, speed, force, epsilon_inner, epsilon_outer), "grasp")

    def wait(self, future: Any, timeout: float) -> bool | None:
        """The command's result, or None while it runs after `timeout` seconds of waiting."""
        if not self._call(lambda: future.wait(timeout), "wait", timeout + self.config.call_timeout):
            return None
        return bool(self._call(future.get, "result"))

    def width(self) -> tuple[float, float]:
        """Current and maximum opening width, m."""
        gripper = self._gripper

        def read() -> tuple[float, float]:
            state = gripper.state
            return float(state.width), float(state.max_width)

        return self._call(read, "read the width")

    def close(self, unfinished: Any = None) -> None:
        """Hang up. franky's Gripper waits in its destructor, holding the GIL, for every command
        still running (one whose answer never comes blocks it for good), so while `unfinished`
        (a command's future) runs, a daemon thread keeps the Gripper and lets go only after it."""
        gripper, self._gripper = self._gripper, None
        self._worker.close()
        if unfinished is not None:
            threading.Thread(target=_release_after, args=(gripper, unfinished), daemon=True).start()


def _release_after(gripper: Any, future: Any) -> None:
    while not future.wait(1.0):
        pass
    del gripper
