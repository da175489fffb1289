"""`rlif demo`: start the simulated robot server, run scripted picks through the gymnasium env,
print what happens and a report, and save a GIF of the first episode."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from actor.env import EnvConfig, RobotEnv
from rlif.children import server_address, server_child, sim_server_config
from rlif.processes import free_port
from rlif.sim_config import SimDemoConfig
from teleop.scripted_pick import scripted_pick_action


def _save_gif(frames: list[np.ndarray], path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)


def run_sim_demo(config: SimDemoConfig) -> int:
    settings = sim_server_config(config.port or free_port(), free_port(), config.image_size)
    address = server_address(settings)
    print(f"starting the simulated robot server on {address} ...", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="rlif-demo-") as folder, server_child(settings, Path(folder)):
            env = RobotEnv(EnvConfig(server=address, images=config.images))
            try:
                return _scripted_picks(config, env)
            finally:
                env.close()
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        return 130


def _scripted_picks(config: SimDemoConfig, env: RobotEnv) -> int:
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
