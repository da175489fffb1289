"""The first-run checklist of a robot (`rlif check --hardware`), against any robot server: read the
state, move 1 cm out and back slowly, open and close the gripper, STOP, the watchdog's hold.

Each step prints its result; the checklist stops at the first failure and leaves the arm held.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robot_server.client import RobotClient, RobotError

STEP = 0.002
"""Metres per command of the slow move (at 10 commands/s: 2 cm/s)."""
REACHED = 0.005
"""How close the TCP must come to where it was sent, metres."""


class CheckFailed(Exception):
    pass


@dataclass
class Checklist:
    client: RobotClient
    distance: float = 0.01
    """How far the arm goes out (and back), metres."""
    timeout: float = 10.0
    """Longest wait for the arm to arrive somewhere, seconds."""
    report: Callable[[str], None] = print

    def run(self) -> bool:
        info = self.client.info()
        self.lockstep = info["mode"] == "lockstep"
        self.limits = info["limits"]
        steps: list[tuple[str, Callable[[], str]]] = [
            ("read the state", self.read_state),
            (f"move {self.distance * 100:.0f} cm out and back", self.move_out_and_back),
            ("open and close the gripper", self.gripper),
            ("STOP, then recover", self.stop),
            ("the watchdog holds the arm", self.watchdog),
        ]
        for name, step in steps:
            try:
                detail = step()
            except (CheckFailed, RobotError) as failure:
                self.report(f"FAIL  {name}: {failure}")
                return False
            self.report(f"ok    {name}: {detail}")
        return True

    def _wait(self, seconds: float) -> None:
        if self.lockstep:
            self.client.advance(seconds)
        else:
            time.sleep(seconds)

    def _state(self) -> dict:
        return self.client.state()

    def read_state(self) -> str:
        state = self._state()
        numbers = [*state["tcp_pos"], *state["tcp_quat"], *state["joint_pos"], state["gripper_width"]]
        if not all(isinstance(v, float | int) and math.isfinite(v) for v in numbers):
            raise CheckFailed(f"the state holds non-finite values: {state}")
        if state["fault"]:
            raise CheckFailed(f"the arm reports a fault: {state['fault']} (clear it, then `recover`)")
        if state["stopped"]:
            self.client.recover()
        return f"TCP at {np.round(state['tcp_pos'], 3).tolist()}, gripper {state['gripper_width'] * 1000:.0f} mm"

    def _go(self, target: np.ndarray) -> float:
        """Slowly, in steps of STEP; the distance left at the end to where the server sent the arm
        (the target as its limits let it be: an arm outside the box is brought back in), metres."""
        position = np.array(self._state()["tcp_pos"])
        accepted = position
        while np.linalg.norm(target - position) > 1e-9:
            step = target - position
            position = position + step * min(1.0, STEP / float(np.linalg.norm(step)))
            accepted = np.array(self.client.move(position).data["target_pos"])
            self._wait(0.1)
        deadline = time.monotonic() + self.timeout
        while True:
            self.client.move(accepted)  # the watchdog holds the arm once commands stop
            left = float(np.linalg.norm(accepted - np.array(self._state()["tcp_pos"])))
            if left <= REACHED or time.monotonic() > deadline:
                return left
            self._wait(0.1)

    def move_out_and_back(self) -> str:
        low, high = np.array(self.limits["workspace_min"]), np.array(self.limits["workspace_max"])
        start = np.clip(np.array(self._state()["tcp_pos"]), low, high)  # back into the box first
        centre = (low + high) / 2
        towards = centre - start
        direction = towards / np.linalg.norm(towards) if np.linalg.norm(towards) > 1e-6 else np.array([0, 0, -1.0])
        out = start + direction * self.distance
        for name, target in (("out", out), ("back", start)):
            left = self._go(target)
            if left > REACHED:
                raise CheckFailed(f"going {name}, the TCP stayed {left * 1000:.1f} mm from its target")
        return f"out along {np.round(direction, 2).tolist()} and back, within {REACHED * 1000:.0f} mm"

    def gripper(self) -> str:
        widths = []
        for width in (0.0, self.client.info()["max_gripper_width"]):
            self.client.gripper(width)
            self._wait(1.5)
            widths.append(self._state()["gripper_width"])
        closed, opened = widths
        if not opened > closed + 0.01:
            raise CheckFailed(f"the fingers did not move: {closed * 1000:.1f} mm closed, {opened * 1000:.1f} mm open")
        return f"closed to {closed * 1000:.1f} mm, opened to {opened * 1000:.1f} mm"

    def stop(self) -> str:
        self.client.stop()
        if not self._state()["stopped"]:
            raise CheckFailed("the server did not report the arm stopped")
        try:
            self.client.move(self._state()["tcp_pos"])
        except RobotError as refused:
            if refused.code != "stopped":
                raise
        else:
            raise CheckFailed("a move was accepted while stopped")
        self.client.recover()
        if self._state()["stopped"]:
            raise CheckFailed("`recover` did not re-arm the arm")
        return "motion refused while stopped; recovered"

    def watchdog(self) -> str:
        if self.lockstep:
            return "skipped: in lockstep mode time moves only when asked, so there is nothing to watch"
        holds = self._state()["watchdog_holds"]
        self.client.act(np.zeros(7))
        time.sleep(self.limits["cmd_timeout"] + 0.3)
        state = self._state()
        if not state["holding"] or state["watchdog_holds"] <= holds:
            raise CheckFailed(f"no hold {self.limits['cmd_timeout']} s after the last command")
        return f"held the pose {self.limits['cmd_timeout']} s after the last command"
