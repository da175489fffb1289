"""Real-time mode: the watchdog holds the pose when commands stop, and stops on link loss."""

from __future__ import annotations

import time

import numpy as np
import pytest

from robot_server.client import RobotError
from tests.conftest import write_limits


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_arm_holds_when_commands_stop(start_server) -> None:
    running = start_server(mode="realtime")
    client = running.client()
    client.reset(seed=0, images=False)
    # Drive +x at full speed for a while, then go silent.
    for _ in range(10):
        client.act([1.0, 0, 0, 0, 0, 0, 1.0])
        time.sleep(0.05)
    assert wait_until(lambda: client.state()["holding"], timeout=3.0)
    held = np.array(client.state()["tcp_pos"])
    time.sleep(1.5)
    later = client.state()
    assert later["holding"] and not later["stopped"]
    assert later["watchdog_holds"] >= 1
    assert np.linalg.norm(np.array(later["tcp_pos"]) - held) < 0.01
    # Commands resume motion at once.
    client.act([0, 1.0, 0, 0, 0, 0, 1.0])
    assert not client.state()["holding"]
    client.close()


def test_watchdog_fires_after_cmd_timeout_not_before(start_server, tmp_path) -> None:
    running = start_server(mode="realtime", limits=write_limits(tmp_path, cmd_timeout=0.8, link_timeout=30))
    client = running.client()
    client.act([0.5, 0, 0, 0, 0, 0, 1.0])
    sent = time.monotonic()
    assert not client.state()["holding"]
    assert wait_until(lambda: client.state()["holding"], timeout=5.0)
    assert time.monotonic() - sent >= 0.8
    client.close()


def test_link_loss_stops_the_arm_until_recover(start_server, tmp_path) -> None:
    running = start_server(mode="realtime", limits=write_limits(tmp_path, cmd_timeout=0.2, link_timeout=0.6))
    client = running.client()
    client.act([0, 0, -0.5, 0, 0, 0, 1.0])
    assert wait_until(lambda: running.service.stopped, timeout=5.0)  # no requests at all meanwhile
    state = client.state()
    assert state["stopped"] and "link lost" in state["stop_reason"]
    with pytest.raises(RobotError) as info:
        client.act([0, 0, 0.5, 0, 0, 0, 1.0])
    assert info.value.code == "stopped"
    client.recover()
    client.act([0, 0, 0.5, 0, 0, 0, 1.0])
    assert not client.state()["stopped"]
    client.close()


def test_lockstep_time_stands_still_between_requests(start_server) -> None:
    running = start_server(mode="lockstep")
    client = running.client()
    client.reset(seed=1, images=False)
    first = client.state()
    time.sleep(0.7)
    second = client.state()
    assert first["sim_time"] == second["sim_time"] and first["tcp_pos"] == second["tcp_pos"]
    assert not second["holding"] or second["watchdog_holds"] == 0
    client.close()
