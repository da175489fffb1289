"""`rlif` subcommands as child processes, every one configured the same way: its settings
dataclass written to `SETTINGS_DIR/NAME.yaml` (read back at once, see `write_config`) and the
child started as `rlif SUBCOMMAND --config FILE`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from rlif.config_files import write_config
from rlif.processes import ChildProcess
from robot_server.backends.mujoco_sim.config import SimCamerasConfig
from robot_server.client import RobotClient, RobotUnavailable
from robot_server.config import ServerConfig

SERVER_START_TIMEOUT = 60.0
"""Seconds a robot server gets to answer after it starts (MuJoCo and the cameras load first)."""


def rlif_command(subcommand: str, settings: Path) -> list[str]:
    return [sys.executable, "-m", "rlif", subcommand, "--config", str(settings)]


def configured_child(
    name: str,
    subcommand: str,
    config: Any,
    settings_dir: Path,
    log_dir: Path | None = None,
    *,
    ready: Callable[[], bool] | None = None,
    grace: float = 10.0,
    start_timeout: float = 60.0,
) -> ChildProcess:
    """`rlif SUBCOMMAND --config settings_dir/NAME.yaml`, the file written from `config` now,
    logging to log_dir/NAME.log (or to our output)."""
    settings = write_config(settings_dir / f"{name}.yaml", config)
    return ChildProcess(
        name,
        rlif_command(subcommand, settings),
        None if log_dir is None else log_dir / f"{name}.log",
        grace=grace,
        ready=ready,
        start_timeout=start_timeout,
    )


def server_address(config: ServerConfig) -> str:
    """Where a client on this machine reaches the server's requests."""
    host = "127.0.0.1" if config.host in ("0.0.0.0", "*") else config.host
    return f"tcp://{host}:{config.port}"


def server_answers(address: str) -> Callable[[], bool]:
    """A readiness probe: whether the robot server at `address` answers a clock request."""

    def answers() -> bool:
        client = RobotClient(address, timeout=1.0, retries=0)
        try:
            client.sync_clock(samples=1)
            return True
        except RobotUnavailable:
            return False
        finally:
            client.close()

    return answers


def server_child(
    config: ServerConfig, settings_dir: Path, log_dir: Path | None = None, name: str = "server"
) -> ChildProcess:
    """`rlif server` with `config`; ready once it answers."""
    return configured_child(
        name,
        "server",
        config,
        settings_dir,
        log_dir,
        ready=server_answers(server_address(config)),
        start_timeout=SERVER_START_TIMEOUT,
    )


def sim_server_config(
    port: int, pub_port: int, image_size: int, mode: Literal["lockstep", "realtime"] = "lockstep", **changes: Any
) -> ServerConfig:
    """The simulated arm's server on loopback, square camera images of `image_size` pixels."""
    cameras = SimCamerasConfig(image_height=image_size, image_width=image_size)
    return dataclasses.replace(ServerConfig(), port=port, pub_port=pub_port, mode=mode, cameras=cameras, **changes)
