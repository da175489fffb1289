"""Teleop benchmark: device-report-to-executed-action latency, and the expert presets' success.

Prints one JSON line:

- `latency_ms` (p50, p99): from the moment a SpaceMouse HID report is read (pyspacemouse's
  parsing of a SpaceNavigator report, fed by `ReplayHid` in a teleop process of its own) to the
  moment the actor's `InterventionWrapper` hands the resulting operator action to the env, over
  the loopback teleop stream. Both ends read the same monotonic clock. The actor steps a
  state-only lockstep sim as soon as a message arrives, so the figure includes up to one env step
  of waiting, as a fast actor loop would see;
- `stream_rate_hz`: commands per second the actor received from the teleop process;
- `steps_per_s`: lockstep env steps per second through the wrapper with no operator, and with a
  value-based simulated operator answering every proposal;
- `preset_success`: success rate of each scripted-expert preset over `--episodes` episodes.

    python benchmarks/teleop.py [--reports 1000] [--episodes 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# This file shares its name with the `teleop` package: import from the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from actor.env import EnvConfig, RobotEnv  # noqa: E402
from actor.intervention import InterventionConfig, InterventionWrapper  # noqa: E402
from rlif.children import server_child, sim_server_config  # noqa: E402
from rlif.processes import ChildProcess, free_port  # noqa: E402
from teleop.operator_input import CommandBuilder  # noqa: E402
from teleop.publishers import CommandPublisher, CommandStreamer  # noqa: E402
from teleop.scripted_expert import NOMINAL_SUCCESS, ScriptedExpert, measure_success  # noqa: E402
from teleop.scripted_pick import scripted_pick_action  # noqa: E402
from teleop.sim_operator import OperatorConfig, run_operator  # noqa: E402
from teleop.stream import ProposalSubscriber  # noqa: E402


def teleop_process(bind: str, reports: int, interval: float) -> None:
    """The operator's side: replayed SpaceNavigator reports through pyspacemouse onto the stream."""
    from teleop.spacemouse import ReplayHid, SpaceMouse, SpaceMouseReader, axes_report

    hid = ReplayHid("SpaceNavigator")
    builder = CommandBuilder()
    with CommandStreamer(bind, rate=125.0) as streamer:
        reader = SpaceMouseReader(
            lambda: SpaceMouse.open(hid, "SpaceNavigator", read_timeout=0.05),
            lambda sample: streamer.update(builder.update(sample)),
        ).start()
        time.sleep(1.0)  # the actor subscribes
        for index in range(reports):
            magnitude = 150 + index % 150
            hid.push(axes_report(1, magnitude if index % 2 else -magnitude, 0, 0))
            time.sleep(interval)
        time.sleep(0.2)
        reader.stop()


def measure_latency(server: str, reports: int, interval: float) -> dict[str, float]:
    commands = f"tcp://127.0.0.1:{free_port()}"
    env = InterventionWrapper(
        RobotEnv(EnvConfig(server=server, images=False, max_episode_steps=10**9)),
        InterventionConfig(commands=commands, proposals=None, sync="latest", hold_time=0.0),
    )
    teleop = ChildProcess(
        "teleop",
        [sys.executable, __file__, "--teleop", commands, "--reports", str(reports), "--interval", str(interval)],
    ).start()
    latencies: list[float] = []
    try:
        env.reset(seed=0)
        assert env.commands is not None
        seen_stamp, received, started = 0.0, None, None
        while teleop.alive():
            received = env.commands.wait_newer(received, 1.0)
            if received is None:
                continue
            started = started or time.monotonic()
            _, _, _, _, info = env.step(np.zeros(7))
            stamp = info["intervention"]["command_stamp"]
            if info["step_record"].intervened and stamp != seen_stamp:
                latencies.append(info["intervention"]["applied_stamp"] - stamp)
                seen_stamp = stamp
        elapsed = time.monotonic() - (started or time.monotonic())
        count = env.commands.received
    finally:
        env.close()
        teleop.stop()
    values = np.array(latencies) * 1000.0
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "samples": len(values),
        "stream_rate_hz": round(count / elapsed, 1) if elapsed > 0 else 0.0,
    }


def steps_per_second(server: str, steps: int, with_operator: bool) -> float:
    commands, proposals = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    env = InterventionWrapper(
        RobotEnv(EnvConfig(server=server, images=False, max_episode_steps=50)),
        InterventionConfig(commands=commands, proposals=proposals, sync="answer" if with_operator else "latest"),
    )
    stop = threading.Event()
    thread = None
    if with_operator:
        operator = OperatorConfig(preset="medium", model="value").build()
        subscriber, publisher = ProposalSubscriber(proposals), CommandPublisher(commands)
        thread = threading.Thread(target=run_operator, args=(operator, subscriber, publisher, stop), daemon=True)
        thread.start()
    try:
        _, info = env.reset(seed=0)
        env.step(scripted_pick_action(info["robot"]))  # the operator has joined once this is answered
        started, done = time.monotonic(), 0
        while done < steps:
            _, _, terminated, truncated, info = env.step(scripted_pick_action(info["robot"]))
            done += 1
            if terminated or truncated:
                _, info = env.reset(seed=done)
        return round(steps / (time.monotonic() - started), 1)
    finally:
        stop.set()
        if thread is not None:
            thread.join(5.0)
            subscriber.close()
            publisher.close()
        env.close()


def preset_success(server: str, episodes: int) -> dict[str, float]:
    env = RobotEnv(EnvConfig(server=server, images=False, max_episode_steps=100))
    try:
        return {
            preset: round(measure_success(env, ScriptedExpert(preset, seed=11), episodes, seed=20_000), 3)
            for preset in ("good", "medium", "poor")
        }
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000, help="device reports for the latency figure")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between device reports")
    parser.add_argument("--episodes", type=int, default=60, help="episodes per expert preset")
    parser.add_argument("--steps", type=int, default=1000, help="env steps for the steps/s figures")
    parser.add_argument("--teleop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.teleop:
        teleop_process(args.teleop, args.reports, args.interval)
        return

    port = free_port()
    server = f"tcp://127.0.0.1:{port}"
    process = server_child(sim_server_config(port, free_port(), 64), Path(tempfile.mkdtemp(prefix="rlif-bench-")))
    try:
        process.start()
        latency = measure_latency(server, args.reports, args.interval)
        figures = {
            "latency_ms": {key: latency[key] for key in ("p50", "p99", "samples")},
            "stream_rate_hz": latency["stream_rate_hz"],
            "steps_per_s": {
                "no_operator": steps_per_second(server, args.steps, with_operator=False),
                "value_operator": steps_per_second(server, args.steps, with_operator=True),
            },
            "preset_success": preset_success(server, args.episodes),
            "preset_nominal": {name: NOMINAL_SUCCESS[name] for name in ("good", "medium", "poor")},
            "episodes_per_preset": args.episodes,
        }
    finally:
        process.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
