"""franky-sim inside the test process: simulated FR3 arms (with Franka Hands) that serve the
libfranka network protocol on loopback addresses, stepped by MuJoCo at 1 kHz in a thread.

Start-up order (franky_sim.run_server): the simulator is initialised before robots are added,
the SimulationServer's `init` binds each robot's ports (1337, gripper 1338) to the first free
candidate address and starts the simulation, and only then may its loop run. franky-sim never
raises control errors; a second client of an arm in use waits forever (FCI takes one client).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from robot_server.backends.franka.config import FrankaArmConfig

try:
    import franky
    from franky_sim import SimulationServer
    from franky_sim.mujoco_simulator import MujocoSimulator

    from robot_server.backends.franka.seam import FrankyReading, FrankySeam
except ImportError as exc:  # CI installs both; elsewhere the franka tests are skipped
    SKIP_REASON: str | None = f"franky-control or franky-sim cannot be imported ({exc})"
    FrankySeam = object  # type: ignore[assignment,misc]
else:
    SKIP_REASON = None

T = TypeVar("T")
REFLEX_MESSAGE = 'libfranka: Move command aborted: motion aborted by reflex! ["cartesian_reflex"]'
"""What libfranka says when a collision reflex aborts a motion."""


def sim_config(host: str, **overrides: Any) -> FrankaArmConfig:
    """Settings for franky-sim on a shared CI machine: no realtime kernel, faster resets."""
    settings: dict[str, Any] = {
        "host": host,
        "realtime": "ignore",
        "velocity_factor": 0.5,
        "acceleration_factor": 0.5,
        "jerk_factor": 0.5,
        "call_timeout": 2.0,
        "connect_timeout": 5.0,
    }
    settings.update(overrides)
    return FrankaArmConfig(**settings)


ARM_SPACING = 2.0
"""Metres between the bases of simulated arms, so that they never touch."""


def loopback_addresses() -> Iterator[str]:
    """127.0.0.1, 127.0.0.2, ...: an arm binds to the first one whose ports are free."""
    for last in range(1, 255):
        yield f"127.0.0.{last}"


class FrankySim:
    """`arms` simulated arms, each at its own loopback address (`hosts`)."""

    def __init__(self, arms: int = 1) -> None:
        self.sim: Any = MujocoSimulator(enable_visualization=False)
        self.sim.init()
        self.robots = [self.sim.add_robot(position=(0.0, ARM_SPACING * i, 0.0)) for i in range(arms)]
        self.server: Any = SimulationServer(self.sim, hostname_candidates=loopback_addresses())
        try:
            self.server.init()
        except BaseException:
            self.sim.cleanup()
            raise
        self.server.run_async()
        self.hosts: list[str] = [robot.hostname for robot in self.robots]

    def hand_width(self, index: int = 0) -> float:
        """The fingers' opening in the simulation itself, m."""
        return float(self.robots[index].hand_width)

    def drop_connection(self, index: int = 0, timeout: float = 5.0) -> None:
        """Close the client's connection to arm `index` from the simulator's side (TCP and UDP),
        between two simulation steps; the arm accepts a new client afterwards."""
        done = threading.Event()
        robot_server = self.server.robot_servers[index]

        def drop(_sim: Any) -> None:
            if not done.is_set():
                robot_server.reset_state()
                done.set()

        self.sim.register_post_step_callback(drop)
        if not done.wait(timeout):
            raise RuntimeError("the simulation did not step")

    def close(self) -> None:
        self.server.cleanup()
        self.sim.cleanup()


class FaultInjectingSeam(FrankySeam):
    """A FrankySeam that can make the next motion call raise franky's own ControlException, as a
    collision reflex would (the simulated arm's motion is really stopped, and the robot reports
    the reflex until its error recovery runs), report robot errors, or refuse recovery."""

    def __init__(self, config: FrankaArmConfig) -> None:
        super().__init__(config)
        self.reflex_armed = False
        self.reported: tuple[str, tuple[str, ...]] | None = None
        """(robot mode, error flags) that reads show until a successful recovery."""
        self.refuse_recovery = False
        self.recoveries = 0
        """Calls of the robot's error recovery."""

    def inject_reflex(self) -> None:
        self.reflex_armed = True

    def report(self, robot_mode: str, errors: tuple[str, ...]) -> None:
        self.reported = (robot_mode, errors)

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
        if self.reflex_armed and what in ("check the motion", "new target"):
            self.reflex_armed = False
            self.reported = ("Reflex", ("cartesian_reflex",))
            robot = self._robot
            super()._call(robot.stop, "reflex: the robot stops the motion")

            def reflex() -> Any:
                raise franky.ControlException(REFLEX_MESSAGE)

            return super()._call(reflex, what, timeout)
        return super()._call(fn, what, timeout)

    def read(self) -> FrankyReading:
        reading = super().read()
        if self.reported is not None:
            robot_mode, errors = self.reported
            return dataclasses.replace(reading, robot_mode=robot_mode, errors=errors)
        return reading

    def recover(self) -> bool:
        self.recoveries += 1
        if self.refuse_recovery:
            return False
        self.reported = None
        return super().recover()


@pytest.fixture(scope="module")
def franky_sim() -> Iterator[FrankySim]:
    """One simulated arm for a whole test module."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    sim = FrankySim()
    yield sim
    sim.close()
