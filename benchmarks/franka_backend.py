"""Franka backend benchmark: the Franka backend on franky-sim beside the sim (MuJoCo) backend, in
one run, each served by a real-time robot server with no cameras.

Prints one JSON line. franky-sim runs in a child process (the arm is another machine in a real
cell); each robot server runs in a thread of this process, so that the arm's `set_target` can be
wrapped to time when a request's target reaches the backend (the client shares this process, and
its interpreter lock, with the server: the latencies include that). Figures, per backend (`sim`,
`franka`):

- `move_rtt_ms`: a client `move`'s round trip (p50, p99), targets 1 mm apart at 50 Hz;
- `request_to_applied_ms`: from the client's send until the backend's `set_target` has returned
  (the target handed to the arm), and `request_to_set_target_call_ms` until it was called;
- `tracking_rms_mm`, `tracking_max_mm`: along a 10 Hz stream of targets on a horizontal circle of
  3 cm diameter (radius 1.5 cm) about the home TCP, one turn in 5 s (1.9 cm/s): the distance from
  the TCP to each target just before the next one is sent (after 100 ms);
- `step_steady_state_mm`: the distance to a target 2 cm away (along x), 2 s after it was first
  sent (it is re-sent at 10 Hz so that the watchdog never holds), averaged over 5 reads;
- `franky_sim_realtime_factor`: franky-sim's simulated time over wall-clock time while the franka
  figures were taken (below 1, the simulated arm was slowed down by a busy machine).

And for the Franka backend alone, outside the server (`franka_overhead`): `FrankaArm.set_target`
against the bare franky call it wraps (`franky.Affine` and `CartesianImpedanceTracker.set_target`
in the caller's thread), both to the pose the arm holds, in alternating blocks; the difference of
their p99 is what the backend adds. `server_adds_p99_ms` is the franka server's request-to-applied
p99 less the bare call's p99.

Targets (`targets_met`): the backend, and the server, add at most 1 ms p99 over the bare franky
call; the tracking error on franky-sim (RMS, and max) is within 2x of the sim backend's.

    python benchmarks/franka_backend.py [--moves 300] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# This folder holds `robot_server.py`, which shadows the `robot_server` package: import from the
# repository root instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from rlif.processes import free_port  # noqa: E402
from robot_server.backends.franka.config import FrankaArmConfig  # noqa: E402
from robot_server.backends.mujoco_sim.config import SimConfig  # noqa: E402
from robot_server.backends.no_cameras import NoCamerasConfig  # noqa: E402
from robot_server.client import RobotClient  # noqa: E402
from robot_server.config import ServerConfig  # noqa: E402
from robot_server.server import RobotServer  # noqa: E402
from tests.franky_sim_fixture import sim_config  # noqa: E402

CIRCLE_RADIUS = 0.015
"""Metres: a circle of 3 cm diameter."""
CIRCLE_TICKS = 50
"""Targets per turn, at 10 Hz: one turn in 5 s."""
STEP = 0.02
"""Metres of the step."""
PERIOD = 0.1
"""Seconds between targets of a 10 Hz stream."""
MOVE_PERIOD = 0.02
"""Seconds between the moves of the latency measurement (50 Hz)."""


def percentiles(values: list[float] | np.ndarray, scale: float = 1e3) -> dict[str, float]:
    """p50 and p99 of `values` (seconds), in milliseconds by default."""
    array = np.asarray(values) * scale
    return {"p50": round(float(np.percentile(array, 50)), 3), "p99": round(float(np.percentile(array, 99)), 3)}


# ---------------------------------------------------------------------- franky-sim, in a child


def run_franky_sim(hosts: Any, stop: Any, steps: Any) -> None:
    """The child: one simulated FR3 until `stop` is set; its address goes into `hosts`, and the
    count of its 1 ms simulation steps into `steps`."""
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from tests.franky_sim_fixture import FrankySim

    sim = FrankySim()

    def count(_sim: Any) -> None:
        steps.value += 1

    sim.sim.register_post_step_callback(count)
    try:
        hosts.put(sim.hosts[0])
        stop.wait()
    finally:
        sim.close()


class FrankySimProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        hosts = context.Queue()
        self.stop = context.Event()
        self.steps = context.Value("q", 0, lock=False)
        self.process = context.Process(target=run_franky_sim, args=(hosts, self.stop, self.steps), daemon=True)
        self.process.start()
        self.host: str = hosts.get(timeout=120)

    def clock(self) -> tuple[float, int]:
        """(wall clock, simulation steps) now."""
        return time.monotonic(), int(self.steps.value)

    def realtime_factor(self, since: tuple[float, int]) -> float:
        """Simulated over wall-clock time since `since` (franky-sim steps 1 ms, sleeping to stay at
        or below real time; below 1 it fell behind)."""
        wall, steps = self.clock()
        return round((steps - since[1]) * 0.001 / (wall - since[0]), 3)

    def close(self) -> None:
        self.stop.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


# ---------------------------------------------------------------------- one backend, served


@dataclass
class TargetLog:
    """Every `set_target` of the served arm: (position, called, returned), perf_counter seconds."""

    calls: list[tuple[np.ndarray, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, arm: Any) -> None:
        original: Callable[[np.ndarray, np.ndarray], None] = arm.set_target

        def set_target(pos: np.ndarray, quat: np.ndarray) -> None:
            called = time.perf_counter()
            original(pos, quat)
            returned = time.perf_counter()
            with self.lock:
                self.calls.append((np.array(pos, dtype=float), called, returned))

        arm.set_target = set_target

    def applied(self, pos: np.ndarray, after: float) -> tuple[float, float] | None:
        """(called, returned) of the first set_target of `pos` at or after `after`."""
        with self.lock:
            for target, called, returned in self.calls:
                if called >= after and np.allclose(target, pos, atol=1e-9):
                    return called, returned
        return None


class Served:
    """A real-time robot server in a thread, its arm's set_target timed, and a client."""

    def __init__(self, arm: SimConfig | FrankaArmConfig) -> None:
        self.config = ServerConfig(
            port=free_port(),
            pub_port=free_port(),
            arm=arm,
            cameras=NoCamerasConfig(),
            mode="realtime",
            pub_images=False,
        )
        self.server = RobotServer(self.config)
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        if not self.server.ready.wait(120):
            raise RuntimeError(f"the {arm.type} server did not start")
        assert self.server.service is not None
        self.log = TargetLog()
        self.log.wrap(self.server.service.backend.arm)
        self.client = RobotClient(f"tcp://127.0.0.1:{self.config.port}", timeout=30.0)

    def tcp(self) -> np.ndarray:
        return np.array(self.client.state()["tcp_pos"])

    def home(self) -> np.ndarray:
        """Reset to the home joints, let the arm settle; the TCP there."""
        self.client.reset(images=False, randomize_scene=False)
        centre = self.tcp()
        self.stream([centre] * 10)
        return centre

    def stream(self, targets: list[np.ndarray]) -> list[float]:
        """Send each target at 10 Hz; the distance to each, metres, just before the next is sent."""
        errors = []
        due = time.monotonic()
        for target in targets:
            self.client.move(target)
            due += PERIOD
            time.sleep(max(0.0, due - time.monotonic()))
            errors.append(float(np.linalg.norm(self.tcp() - target)))
        return errors

    def close(self) -> None:
        self.client.close()
        self.server.shutdown()
        self.thread.join(30)


def latencies(served: Served, centre: np.ndarray, moves: int) -> dict[str, Any]:
    rtt, to_call, to_applied = [], [], []
    for index in range(moves):
        target = centre + np.array([0.001 * (index % 2), 0.0, 0.0])
        sent = time.perf_counter()
        served.client.move(target)
        replied = time.perf_counter()
        applied = served.log.applied(target, sent)
        if applied is None:
            raise RuntimeError(f"move {index} never reached set_target")
        rtt.append(replied - sent)
        to_call.append(applied[0] - sent)
        to_applied.append(applied[1] - sent)
        time.sleep(MOVE_PERIOD)
    return {
        "move_rtt_ms": percentiles(rtt),
        "request_to_set_target_call_ms": percentiles(to_call),
        "request_to_applied_ms": percentiles(to_applied),
    }


def tracking(served: Served, centre: np.ndarray) -> dict[str, float]:
    def on_circle(tick: int) -> np.ndarray:
        angle = 2.0 * math.pi * tick / CIRCLE_TICKS
        return centre + CIRCLE_RADIUS * np.array([math.cos(angle), math.sin(angle), 0.0])

    served.stream([on_circle(0)] * 10)  # to the circle's start, and settle
    errors = np.array(served.stream([on_circle(tick) for tick in range(1, CIRCLE_TICKS + 1)])) * 1e3
    return {
        "tracking_rms_mm": round(float(np.sqrt(np.mean(errors**2))), 3),
        "tracking_max_mm": round(float(errors.max()), 3),
    }


def step_response(served: Served, centre: np.ndarray) -> dict[str, float]:
    served.stream([centre] * 10)
    target = centre + np.array([STEP, 0.0, 0.0])
    served.stream([target] * round(2.0 / PERIOD))
    errors = served.stream([target] * 5)
    return {"step_steady_state_mm": round(float(np.mean(errors)) * 1e3, 3)}


def measure_served(arm: SimConfig | FrankaArmConfig, moves: int) -> dict[str, Any]:
    served = Served(arm)
    try:
        centre = served.home()
        figures = latencies(served, centre, moves)
        centre = served.home()
        figures |= tracking(served, centre)
        figures |= step_response(served, centre)
        state = served.client.state()
        figures["faults"] = state["fault"]
        figures["watchdog_holds"] = state["watchdog_holds"]
        return figures
    finally:
        served.close()


# ---------------------------------------------------------------------- the backend's own overhead


def franka_overhead(host: str, calls: int, block: int = 100) -> dict[str, Any]:
    """FrankaArm.set_target against the bare franky call it wraps, alternating blocks."""
    import franky

    from robot_server.backends.franka.backend import FrankaBackend
    from robot_server.backends.franka.quaternions import to_franky

    backend = FrankaBackend(sim_config(host, has_gripper=False))
    try:
        backend.reset(backend.arm.home_joints, None, False)
        state = backend.arm.read()
        pos, quat = state.tcp_pos, state.tcp_quat
        tracker = backend.arm._seam._tracker  # the CartesianImpedanceTracker the seam drives
        assert tracker is not None

        def bare() -> None:
            tracker.set_target(franky.Affine(np.asarray(pos, dtype=float), to_franky(quat)))

        def wrapped() -> None:
            backend.arm.set_target(pos, quat)

        times: dict[str, list[float]] = {"bare": [], "backend": []}
        for run in (bare, wrapped):  # warm up
            for _ in range(block):
                run()
        while len(times["backend"]) < calls:
            for name, run in (("bare", bare), ("backend", wrapped)):
                for _ in range(block):
                    started = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - started)
                time.sleep(0.01)
        fault = backend.arm.read().fault
    finally:
        backend.close()
    bare_ms, backend_ms = percentiles(times["bare"]), percentiles(times["backend"])
    return {
        "bare_franky_set_target_ms": bare_ms,
        "franka_arm_set_target_ms": backend_ms,
        "adds_p50_ms": round(backend_ms["p50"] - bare_ms["p50"], 3),
        "adds_p99_ms": round(backend_ms["p99"] - bare_ms["p99"], 3),
        "fault": fault,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=300, help="moves timed per backend")
    parser.add_argument("--calls", type=int, default=2000, help="set_target calls timed, bare and through the backend")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")

    franky_sim = FrankySimProcess()
    try:
        sim = measure_served(SimConfig(), args.moves)
        since = franky_sim.clock()
        franka = measure_served(sim_config(franky_sim.host), args.moves)
        franka["franky_sim_realtime_factor"] = franky_sim.realtime_factor(since)
        overhead = franka_overhead(franky_sim.host, args.calls)
    finally:
        franky_sim.close()

    server_adds = round(franka["request_to_applied_ms"]["p99"] - overhead["bare_franky_set_target_ms"]["p99"], 3)
    rms_ratio = round(franka["tracking_rms_mm"] / sim["tracking_rms_mm"], 2)
    max_ratio = round(franka["tracking_max_mm"] / sim["tracking_max_mm"], 2)
    figures: dict[str, Any] = {
        "sim": sim,
        "franka": franka,
        "franka_overhead": overhead,
        "server_adds_p99_ms": server_adds,
        "tracking_rms_franka_vs_sim": rms_ratio,
        "tracking_max_franka_vs_sim": max_ratio,
        "circle": {"diameter_m": 2 * CIRCLE_RADIUS, "period_s": CIRCLE_TICKS * PERIOD, "rate_hz": 1 / PERIOD},
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "targets_met": {
            "backend_adds_le_1ms_p99": overhead["adds_p99_ms"] <= 1.0,
            "server_adds_le_1ms_p99": server_adds <= 1.0,
            "franka_tracking_rms_le_2x_sim": rms_ratio <= 2.0,
            "franka_tracking_max_le_2x_sim": max_ratio <= 2.0,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
