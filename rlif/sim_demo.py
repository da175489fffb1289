"""`rlif sim` for now: start the simulated robot server, run scripted picks through the
gymnasium env, print what happens and a report, and save a GIF of the first episode."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actor.env import EnvConfig, RobotEnv
from robot_server.client import RobotClient, RobotUnavailable
from teleop.scripted_pick import scripted_pick_action


@dataclass(frozen=True)
class SimDemoConfig:
    """Options of `rlif sim`."""

    episodes: int = 10
    """Scripted pick episodes, each with a new random cube pose."""
    seed: int = 0
    """Seed of the cube poses."""
    images: bool = True
    """Observe both cameras through the env (as a policy would)."""
    image_size: int = 128
    """Camera image height and width, pixels."""
    port: int = 0
    """Request port of the server it starts (0: a free one)."""
    out: Path = Path("runs/sim")
    """Folder for the GIF of the first episode."""
    gif: bool = True
    """Save the cameras of the first episode as an animated GIF."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sim_server(port: int, pub_port: int, image_size: int, mode: str = "lockstep") -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "rlif",
        "server",
        "--port",
        str(port),
        "--pub-port",
        str(pub_port),
        "--cameras.image-height",
        str(image_size),
        "--cameras.image-width",
        str(image_size),
        "--mode",
        mode,
    ]
    return subprocess.Popen(command, start_new_session=True)


def wait_for_server(address: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    client = RobotClient(address, timeout=1.0, retries=0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the robot server exited with code {process.returncode}")
            try:
                client.sync_clock(samples=1)
                return
            except RobotUnavailable:
                continue
        raise RuntimeError(f"the robot server did not answer within {timeout:.0f} s")
    finally:
        client.close()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _save_gif(frames: list[np.ndarray], path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


def run_sim_demo(config: SimDemoConfig) -> int:
    port = config.port or free_port()
    pub_port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    print(f"starting the simulated robot server on {address} ...", flush=True)
    process = start_sim_server(port, pub_port, config.image_size)
    env = None
    try:
        wait_for_server(address, process)
        env = RobotEnv(EnvConfig(server=address, images=config.images))
        successes, total_steps, frames = 0, 0, []
        started = time.monotonic()
        for episode in range(config.episodes):
            obs, info = env.reset(seed=config.seed + episode)
            cube = np.round(info["robot"]["sim_cube_pos"][:2], 3)
            terminated = truncated = False
            while not (terminated or truncated):
                if episode == 0 and config.gif and config.images:
                    frames.append(np.concatenate([obs["images"][n] for n in env.config.cameras], axis=1))
                action = scripted_pick_action(info["robot"])
                obs, _, terminated, truncated, info = env.step(action)
            total_steps += info["step"]
            successes += bool(info["success"])
            robot = info["robot"]
            print(
                f"episode {episode + 1:3d}/{config.episodes}: cube at {cube.tolist()}, "
                f"{info['step']:3d} steps, lifted {100 * robot['sim_cube_lift']:4.1f} cm, "
                f"{'SUCCESS' if info['success'] else 'failure'}",
                flush=True,
            )
        elapsed = time.monotonic() - started
        print(
            f"\nscripted pick: {successes}/{config.episodes} successes "
            f"({100 * successes / max(1, config.episodes):.0f} %), {total_steps} env steps in "
            f"{elapsed:.1f} s ({total_steps / elapsed:.0f} steps/s, lockstep, "
            f"{'2 cameras ' + str(config.image_size) + 'px' if config.images else 'state only'})"
        )
        if frames:
            gif = config.out / "scripted_pick.gif"
            _save_gif(frames, gif)
            print(f"cameras of episode 1 (front | wrist): {gif}")
        return 0 if successes == config.episodes else 1
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        return 130
    finally:
        if env is not None:
            env.close()
        stop_process(process)
