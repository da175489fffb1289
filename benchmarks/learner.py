"""Learner benchmark: SAC updates per second on the CPU, and replay bytes per transition.

Prints one JSON line. Each configuration is batch 256, two cameras, a critic ensemble of 10,
UTD 1 (one update = one critic step + one actor and temperature step), the default small
conv encoder trained by the critic, DrQ shifts on; batches are drawn 50/50 from an online and
a demonstration buffer. Measured at 128x128 and 64x64, with the env's state and action sizes
(13, 7) and with the LeRobot comparison's (18, 4). The LeRobot 0.6.1 figures (its SAC learner
on a 2-core CPU machine: default conv encoder, frozen, 2 critics) cannot be measured here, so
they are printed as `lerobot_reference_*` beside the ratio to them.

    python benchmarks/learner.py [--seconds 20] [--profile]

`--profile` adds a torch.profiler table of the 128x128 update (top operators) on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])

from learner.config import LearnerConfig  # noqa: E402
from learner.learner import Learner  # noqa: E402
from learner.replay import ReplayBuffer  # noqa: E402

LEROBOT_UPDATES_PER_S = {128: 0.33, 64: 1.65}
LEROBOT_BYTES_PER_TRANSITION = 393_311
CAMERAS = ("front", "wrist")
EPISODE = 100


def filled_learner(config: LearnerConfig, episodes: int, demos: int) -> Learner:
    """A learner whose buffers hold random episodes of 100 steps (online) and demonstrations."""
    learner = Learner(config)
    rng = np.random.default_rng(0)
    height, width = config.image_size
    frames = rng.integers(0, 255, (EPISODE + 1, len(CAMERAS), height, width, 3), dtype=np.uint8)
    for index in range(episodes + demos):
        buffer = learner.buffers["online" if index < episodes else "intervention"]
        states = rng.normal(size=(EPISODE + 1, config.state_dim)).astype(np.float32)
        for t in range(EPISODE):
            observation = (states[t], dict(zip(CAMERAS, frames[t], strict=True)))
            following = (states[t + 1], dict(zip(CAMERAS, frames[t + 1], strict=True)))
            action = rng.uniform(-1, 1, config.action_dim)
            reward = -1.0 if rng.random() < 0.05 else 0.0
            buffer.add(index, t, observation, action, reward, False, following, t == EPISODE - 1)
    return learner


def updates_per_second(learner: Learner, seconds: float) -> dict[str, float]:
    """Updates/s in blocks of about 3 s after a warm-up; the median block and the spread."""
    for _ in range(2):
        learner.update()
    rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < 3.0 or count < 2:
            learner.update()
            count += 1
        rates.append(count / (time.perf_counter() - started))
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def bytes_per_transition(image_size: int) -> tuple[float, int]:
    """Bytes of every array of a buffer filled with episodes of 100 steps, per transition."""
    episodes = 10
    buffer = ReplayBuffer("online", episodes * (EPISODE + 1), CAMERAS, (image_size, image_size), 13, 7)
    frame = {camera: np.zeros((image_size, image_size, 3), np.uint8) for camera in CAMERAS}
    for episode in range(episodes):
        for t in range(EPISODE):
            state, following = np.full(13, t, np.float32), np.full(13, t + 1, np.float32)
            buffer.add(episode, t, (state, frame), np.zeros(7), 0.0, False, (following, frame), t == EPISODE - 1)
    return buffer.nbytes / len(buffer), len(CAMERAS) * image_size * image_size * 3


def profile_table(config: LearnerConfig) -> str:
    from torch.profiler import ProfilerActivity, profile

    learner = filled_learner(config, episodes=4, demos=2)
    for _ in range(2):
        learner.update()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(5):
            learner.update()
    return profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="timing per configuration")
    parser.add_argument("--profile", action="store_true", help="print a profile of the 128x128 update on stderr")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    base = LearnerConfig(cameras=CAMERAS, batch_size=256, critic_ensemble=10, utd_ratio=1, threads=threads)
    result: dict[str, object] = {"batch_size": 256, "cameras": len(CAMERAS), "ensemble": 10, "threads": threads}
    for size in (128, 64):
        medians: dict[str, float] = {}
        for name, state_dim, action_dim in (("env", 13, 7), ("lerobot_config", 18, 4)):
            config = dataclasses.replace(
                base, image_size=(size, size), state_dim=state_dim, action_dim=action_dim, capacity=8 * (EPISODE + 1)
            )
            rate = updates_per_second(filled_learner(config, episodes=6, demos=2), args.seconds)
            prefix = "updates_per_s" if name == "env" else "lerobot_config_updates_per_s"
            medians[name] = round(rate["median"], 3)
            result[f"{prefix}_{size}"] = medians[name]
            result[f"{prefix}_{size}_range"] = [round(rate["min"], 3), round(rate["max"], 3)]
        result[f"lerobot_reference_updates_per_s_{size}"] = LEROBOT_UPDATES_PER_S[size]
        lerobot_config_rate = medians["lerobot_config"]
        result[f"ratio_vs_lerobot_{size}"] = round(lerobot_config_rate / LEROBOT_UPDATES_PER_S[size], 2)
    per_transition, frame_bytes = bytes_per_transition(128)
    result["bytes_per_transition_128"] = round(per_transition, 1)
    result["frame_bytes_128"] = frame_bytes
    result["bytes_ratio_to_frames"] = round(per_transition / frame_bytes, 4)
    result["lerobot_reference_bytes_per_transition"] = LEROBOT_BYTES_PER_TRANSITION
    if args.profile:
        profiled = dataclasses.replace(base, image_size=(128, 128), capacity=6 * (EPISODE + 1))
        print(profile_table(profiled), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
