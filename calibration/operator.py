"""Poses chosen by the operator: the arm follows the teleop stream (`rlif teleop`: SpaceMouse or
keyboard) and a sample is taken at each gripper-toggle press (space, or the SpaceMouse's left
button); the episode mark (Enter, or the right button) ends the collection. The arm's gripper
stays as it is; the server's limits apply to every motion, as always."""

from __future__ import annotations

import time
from collections.abc import Callable

from calibration.handeye import CalibrationError
from calibration.motion import Mover, Still
from teleop.stream import CommandSubscriber

FIRST_COMMAND = 30.0
"""Seconds to wait for the teleop stream before giving up."""


def collect_operator(
    mover: Mover,
    camera: str | None,
    address: str,
    on_sample: Callable[[Still], str],
    report: Callable[[str], None] = print,
    most: int = 1000,
) -> list[Still]:
    """Still views (with the camera's image, if one is named) at each press, until the mark."""
    client = mover.client
    if mover.lockstep:  # the operator moves on the wall clock
        client.set_mode("realtime")
        mover.lockstep = False
    limits = client.info()["limits"]
    taken: list[Still] = []
    with CommandSubscriber(address) as stream:
        first = stream.wait_newer(None, FIRST_COMMAND)
        if first is None:
            raise CalibrationError(
                f"no operator commands on {address} within {FIRST_COMMAND:.0f} s: start `rlif teleop`"
            )
        toggles, marks = first.command.gripper_toggles, first.command.mark_seq
        report("drive the arm; space / left button: take a sample; Enter / right button: done")
        state = client.state()
        gripper = 2.0 * state["gripper_target"] / limits["gripper_max_width"] - 1.0
        while len(taken) < most:
            received = stream.latest()
            if received is None:  # the stream went quiet: the server's watchdog holds the arm
                client.state()  # (and a request keeps the link alive)
                time.sleep(mover.config.period)
                continue
            command = received.command
            if command.mark_seq != marks:
                break
            if command.gripper_toggles != toggles:
                toggles = command.gripper_toggles
                mover.settle()
                still = mover.view(camera)
                taken.append(still)
                report(f"sample {len(taken)}: {on_sample(still)}")
                continue
            if command.active:
                client.act(command.action(gripper))
            else:
                client.state()
            time.sleep(mover.config.period)
    return taken
