"""Shared fixtures: simulated robot servers on free loopback ports, in this process."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest

from robot_server.backends.mujoco_sim.backend import SimBackend
from robot_server.client import RobotClient
from robot_server.config import ServerConfig
from robot_server.limits import DEFAULT_LIMITS_FILE, Limits
from robot_server.server import RobotServer
from robot_server.service import RobotService


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.server = RobotServer(config)
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        if not self.server.ready.wait(60):
            raise RuntimeError("test server did not start")
        self.address = f"tcp://127.0.0.1:{config.port}"
        self.stream_address = f"tcp://127.0.0.1:{config.pub_port}"

    @property
    def service(self) -> RobotService:
        assert self.server.service is not None
        return self.server.service

    def client(self, **kwargs: object) -> RobotClient:
        kwargs.setdefault("timeout", 5.0)
        return RobotClient(self.address, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(30)


def server_config(**overrides: object) -> ServerConfig:
    return dataclasses.replace(ServerConfig(port=free_port(), pub_port=free_port()), **overrides)  # type: ignore[arg-type]


@pytest.fixture
def start_server() -> Iterator:
    started: list[RunningServer] = []

    def start(**overrides: object) -> RunningServer:
        running = RunningServer(server_config(**overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def lockstep_server() -> Iterator[RunningServer]:
    running = RunningServer(server_config())
    yield running
    running.stop()


@pytest.fixture
def service() -> Iterator[RobotService]:
    """A service without sockets, for fast direct `handle(frames)` tests."""
    backend = SimBackend()
    yield RobotService(ServerConfig(), backend, Limits.load(DEFAULT_LIMITS_FILE))
    backend.close()


def write_limits(tmp_path: Path, **watchdog: float) -> Path:
    text = DEFAULT_LIMITS_FILE.read_text()
    for key, value in watchdog.items():
        lines = [f"  {key}: {value}" if line.strip().startswith(f"{key}:") else line for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    return path
