"""`rlif check --hardware` against a Franka arm: the real command line, its first-run checklist
run over ZeroMQ against a robot server that drives franky-sim through the Franka backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from rlif.cli import main
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.no_cameras import NoCamerasConfig
from robot_server.server import RobotServer
from tests.conftest import server_config
from tests.franky_sim_fixture import FrankySim, franky_sim

__all__ = ["franky_sim"]  # a fixture, used by name

STEPS = 5
"""The checklist's steps: state, move out and back, gripper, STOP, watchdog."""


@pytest.fixture
def franka_server(franky_sim: FrankySim) -> Iterator[tuple[str, RobotServer]]:
    """A real-time robot server (the only mode a Franka has) on the simulated arm, built by the
    registry from the configuration, as `rlif server` builds it."""
    arm = FrankaArmConfig(host=franky_sim.hosts[0], realtime="ignore", call_timeout=2.0)
    config = server_config(mode="realtime", pub_images=False, arm=arm, cameras=NoCamerasConfig())
    server = RobotServer(config)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    assert server.ready.wait(60), "the franka server did not start"
    yield f"tcp://127.0.0.1:{config.port}", server
    server.shutdown()
    thread.join(30)


def test_rlif_check_hardware_passes_on_franky_sim(
    franka_server: tuple[str, RobotServer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, server = franka_server
    try:
        main(["check", "--hardware", "--server", address])
    except SystemExit as exit_:
        assert exit_.code in (0, None), capsys.readouterr().out
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == STEPS, lines
    assert all(line.startswith("ok ") for line in lines), "\n".join(lines)
    assert "skipped" not in lines[-1]  # real time: the watchdog step really ran
    service = server.service
    assert service is not None and not service.stopped
    assert service.arm_state().fault == ""
