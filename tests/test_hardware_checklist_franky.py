"""`rlif check --hardware` against a Franka arm: the real command line, its first-run checklist
run over ZeroMQ against a robot server that drives franky-sim through the Franka backend.

franky-sim's arm starts at franky's own start pose, with the TCP at z = 0.52 m: above the default
workspace box (top 0.50 m). The checklist passes once the arm is at its home joints (the middle
of the box); from the start pose it fails (`test_..._from_above_the_box`, a known bug).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest

from rlif.cli import main
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.no_cameras import NoCamerasConfig
from robot_server.client import RobotClient
from robot_server.server import RobotServer
from tests.conftest import server_config
from tests.franky_sim_fixture import SKIP_REASON, FrankySim, franky_sim

if SKIP_REASON is not None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

__all__ = ["franky_sim"]  # a fixture, used by name

STEPS = 5
"""The checklist's steps: state, move out and back, gripper, STOP, watchdog."""


@contextlib.contextmanager
def serve(sim: FrankySim) -> Iterator[tuple[str, RobotServer]]:
    """A real-time robot server (the only mode a Franka has) on the simulated arm, built by the
    registry from the configuration, as `rlif server` builds it."""
    arm = FrankaArmConfig(host=sim.hosts[0], realtime="ignore", call_timeout=2.0)
    config = server_config(mode="realtime", pub_images=False, arm=arm, cameras=NoCamerasConfig())
    server = RobotServer(config)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(60), "the franka server did not start"
        yield f"tcp://127.0.0.1:{config.port}", server
    finally:
        server.shutdown()
        thread.join(30)


@pytest.fixture
def franka_server(franky_sim: FrankySim) -> Iterator[tuple[str, RobotServer]]:
    with serve(franky_sim) as served:
        yield served


def check_hardware(address: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Runs `rlif check --hardware --server ADDRESS`; asserts it exits 0; its printed lines."""
    try:
        main(["check", "--hardware", "--server", address])
    except SystemExit as exit_:
        assert exit_.code in (0, None), capsys.readouterr().out
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_rlif_check_hardware_passes_on_franky_sim(
    franka_server: tuple[str, RobotServer], capsys: pytest.CaptureFixture[str]
) -> None:
    address, server = franka_server
    with RobotClient(address, timeout=30.0) as client:
        client.reset(images=False)  # the home joints: the middle of the workspace box
    lines = check_hardware(address, capsys)
    assert len(lines) == STEPS, lines
    assert all(line.startswith("ok ") for line in lines), "\n".join(lines)
    assert "skipped" not in lines[-1]  # real time: the watchdog step really ran
    service = server.service
    assert service is not None and not service.stopped
    assert service.arm_state().fault == ""


def test_rlif_check_hardware_passes_from_above_the_box(capsys: pytest.CaptureFixture[str]) -> None:
    """franky's start pose puts the TCP 2 cm above the box: the checklist goes from where the
    server's limits bring the arm back in."""
    sim = FrankySim()  # a fresh arm, at franky's start pose
    try:
        with serve(sim) as (address, _):
            lines = check_hardware(address, capsys)
            assert all(line.startswith("ok ") for line in lines), "\n".join(lines)
    finally:
        sim.close()
