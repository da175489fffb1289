"""Robot server benchmark: round trips against a bare ZeroMQ echo, and env steps per second.

Prints one JSON line. The server and the echoes each run in their own process, on
loopback, as in deployment. Each echo replies with the same frame sizes as the server's
reply to the same request, so the ratios isolate what the server and client add. The
four kinds of round trip are measured in alternating blocks, so that drift of a shared
machine affects them alike.

    python benchmarks/robot_server.py [--samples 3000] [--env-steps 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zmq

# This file shares its name with the `robot_server` package: import from the repository
# root, not from this file's folder.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from actor.env import EnvConfig, RobotEnv  # noqa: E402
from rlif.children import server_child, sim_server_config  # noqa: E402
from rlif.processes import ChildProcess, free_port  # noqa: E402
from robot_server.client import RobotClient  # noqa: E402
from wire import request  # noqa: E402
from wire.transport import recv_frames, send_frames  # noqa: E402


def echo_server(port: int, reply_sizes: list[int]) -> None:
    """Answers every request with frames of the given sizes: the bare reference."""
    socket = zmq.Context().socket(zmq.REP)
    socket.bind(f"tcp://127.0.0.1:{port}")
    reply = [b"x" * size for size in reply_sizes]
    while True:
        frames = recv_frames(socket)
        if len(frames) == 1 and frames[0] == b"quit":
            socket.send(b"")
            return
        send_frames(socket, reply)


class BareEcho:
    """A REQ socket to an echo process; calling it makes one round trip."""

    def __init__(self, request_frames: list[bytes], reply_sizes: list[int]) -> None:
        port = free_port()
        self.process = ChildProcess("echo", [sys.executable, __file__, "--echo", str(port), *map(str, reply_sizes)])
        self.process.start()
        context: zmq.Context[zmq.Socket] = zmq.Context.instance()
        self.socket = context.socket(zmq.REQ)
        self.socket.linger = 0
        self.socket.rcvtimeo = 10_000  # a dead echo fails the benchmark instead of hanging it
        self.socket.connect(f"tcp://127.0.0.1:{port}")
        self.request_frames = request_frames

    def __call__(self) -> None:
        send_frames(self.socket, self.request_frames)
        recv_frames(self.socket)

    def close(self) -> None:
        self.socket.send(b"quit")
        self.socket.recv()
        self.socket.close()
        self.process.wait(10)
        self.process.stop()


def interleaved_round_trips(
    senders: dict[str, Callable[[], object]], samples: int, block: int = 200
) -> dict[str, np.ndarray]:
    """Round-trip times in microseconds, each sender in turn for `block` round trips."""
    for send in senders.values():
        for _ in range(100):
            send()
    times: dict[str, list[float]] = {name: [] for name in senders}
    while min(len(values) for values in times.values()) < samples:
        for name, send in senders.items():
            for _ in range(block):
                started = time.perf_counter()
                send()
                times[name].append(time.perf_counter() - started)
    return {name: np.array(values) * 1e6 for name, values in times.items()}


def request_and_reply_sizes(address: str, command: str, data: dict) -> tuple[list[bytes], list[int]]:
    socket: zmq.Socket = zmq.Context.instance().socket(zmq.REQ)
    socket.connect(address)
    frames = [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in request(command, data=data)]
    send_frames(socket, frames)
    sizes = [len(frame) for frame in recv_frames(socket, copy=True)]
    socket.close(0)
    return frames, sizes


def env_rate(address: str, images: bool, steps: int, block: int = 100) -> float:
    """Lockstep env steps per second with random actions: the median over blocks of
    `block` steps (resets not counted), so that a burst of noise on a shared machine
    moves one block, not the figure."""
    env = RobotEnv(EnvConfig(server=address, images=images, max_episode_steps=block, terminate_on_success=False))
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 7))
    rates = []
    try:
        for start in range(0, steps, block):
            env.reset(seed=start)
            began = time.perf_counter()
            for action in actions[start : start + block]:
                env.step(action)
            rates.append(len(actions[start : start + block]) / (time.perf_counter() - began))
    finally:
        env.close()
    return float(np.median(rates))


def percentile(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000, help="round trips of each kind")
    parser.add_argument("--env-steps", type=int, default=1000, help="env steps per configuration")
    parser.add_argument("--echo", nargs="+", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        echo_server(args.echo[0], args.echo[1:])
        return

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    server = server_child(sim_server_config(port, free_port(), 128), Path(tempfile.mkdtemp(prefix="rlif-bench-")))
    echoes: list[BareEcho] = []
    try:
        server.start()
        client = RobotClient(address)
        client.reset(seed=0, images=False)
        state_request, state_reply = request_and_reply_sizes(address, "state", {})
        obs_request, obs_reply = request_and_reply_sizes(address, "observation", {"images": True})
        echoes = [BareEcho(state_request, state_reply), BareEcho(obs_request, obs_reply)]
        times = interleaved_round_trips(
            {
                "state": lambda: client.request("state"),
                "raw_state": echoes[0],
                "observation": lambda: client.request("observation", {"images": True}),
                "raw_observation": echoes[1],
            },
            args.samples,
        )
        client.close()
        steps_images = env_rate(address, True, args.env_steps)
        steps_state = env_rate(address, False, args.env_steps)
    finally:
        for echo in echoes:
            echo.close()
        server.stop()

    state_p50, obs_p50 = percentile(times["state"], 50), percentile(times["observation"], 50)
    raw_p50, raw_obs_p50 = percentile(times["raw_state"], 50), percentile(times["raw_observation"], 50)
    images_rate, state_rate = round(steps_images, 1), round(steps_state, 1)
    state_vs_raw, obs_vs_raw = round(state_p50 / raw_p50, 2), round(obs_p50 / raw_obs_p50, 2)
    figures: dict[str, object] = {
        "state_rtt_p50_us": state_p50,
        "state_rtt_p99_us": percentile(times["state"], 99),
        "obs_rtt_p50_us": obs_p50,
        "raw_zmq_rtt_p50_us": raw_p50,
        "raw_zmq_obs_rtt_p50_us": raw_obs_p50,
        "env_steps_per_s_images": images_rate,
        "env_steps_per_s_state": state_rate,
        "state_reply_bytes": sum(state_reply),
        "obs_reply_bytes": sum(obs_reply),
        "cpu_count": os.cpu_count(),
        "state_rtt_vs_raw": state_vs_raw,
        "obs_rtt_vs_raw": obs_vs_raw,
        "targets_met": {
            "state_rtt_le_2x_raw": state_vs_raw <= 2.0,
            "obs_rtt_le_1p5x_raw": obs_vs_raw <= 1.5,
            "env_images_ge_100_per_s": images_rate >= 100,
            "env_state_ge_500_per_s": state_rate >= 500,
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
