"""The Franka backend against franky-sim: the real franky and libfranka on their real code path,
talking the libfranka protocol on loopback to a simulated FR3; control errors are injected at
the backend's franky seam (franky-sim never raises them)."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pytest

from robot_server.backends.base import Arm
from tests.franky_sim_fixture import SKIP_REASON, FaultInjectingSeam, FrankySim, franky_sim, sim_config

if SKIP_REASON is not None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


from robot_server.backends.franka.backend import FrankaBackend
from robot_server.backends.franka.faults import FrankaConnectionError, FrankaVersionError

__all__ = ["franky_sim"]  # a fixture, used by name

T = TypeVar("T")


def wait_until(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture
def backend(franky_sim: FrankySim) -> Iterator[FrankaBackend]:
    started = FrankaBackend(sim_config(franky_sim.hosts[0]))
    yield started
    started.close()


# ---------------------------------------------------------------------- connection and state


def test_connects_and_reads_finite_state(backend: FrankaBackend) -> None:
    state = backend.arm.read()
    assert state.fault == ""
    for value in (state.tcp_pos, state.tcp_quat, state.tcp_linvel, state.tcp_angvel, state.joint_pos, state.joint_vel):
        assert np.isfinite(value).all()
    assert state.joint_pos.shape == (7,) and state.tcp_quat.shape == (4,)
    assert abs(np.linalg.norm(state.tcp_quat) - 1.0) < 1e-6
    assert np.isfinite(state.external_wrench).all() and state.external_wrench.shape == (6,)
    assert state.robot_mode in ("Idle", "Move") and state.errors == ()
    assert 0.0 <= state.gripper_width <= 0.08
    assert isinstance(backend.arm, Arm)
    assert backend.state_version() is None and backend.clock is None and backend.scene is None
    assert backend.cameras.names == () and backend.cameras.latest(()) == {}


def test_forward_kinematics_matches_the_reading(backend: FrankaBackend) -> None:
    state = backend.arm.read()
    pos, quat = backend.arm.tcp_pose_at(state.joint_pos)
    np.testing.assert_allclose(pos, state.tcp_pos, atol=1e-4)
    assert abs(abs(float(np.dot(quat, state.tcp_quat))) - 1.0) < 1e-6


def test_home_pose_is_inside_the_workspace_box_gripper_down(backend: FrankaBackend) -> None:
    pos, quat = backend.arm.tcp_pose_at(backend.arm.home_joints)
    assert ((np.array([0.25, -0.35, 0.0]) <= pos) & (pos <= np.array([0.75, 0.35, 0.5]))).all()
    np.testing.assert_allclose(pos, [0.5, 0.0, 0.3], atol=0.005)
    assert abs(float(np.dot(quat, [0.0, 1.0, 0.0, 0.0]))) > 0.999  # gripper pointing down


# ---------------------------------------------------------------------- motion


def test_reset_moves_to_the_home_joints_and_holds(backend: FrankaBackend) -> None:
    backend.reset(backend.arm.home_joints, None, False)
    home_pos, _ = backend.arm.tcp_pose_at(backend.arm.home_joints)
    time.sleep(0.5)
    state = backend.arm.read()
    assert state.fault == ""
    np.testing.assert_allclose(state.joint_pos, backend.arm.home_joints, atol=0.05)
    np.testing.assert_allclose(state.tcp_pos, home_pos, atol=0.005)


def test_tracks_a_target_two_cm_away_and_holds_it(backend: FrankaBackend) -> None:
    backend.reset(backend.arm.home_joints, None, False)
    start = backend.arm.read()
    target = start.tcp_pos + np.array([0.02, 0.0, 0.0])
    backend.arm.set_target(target, start.tcp_quat)
    assert wait_until(lambda: np.linalg.norm(backend.arm.read().tcp_pos - target) < 0.004, timeout=5.0)
    for _ in range(10):
        time.sleep(0.1)
        state = backend.arm.read()
        assert np.linalg.norm(state.tcp_pos - target) < 0.004
        assert abs(abs(float(np.dot(state.tcp_quat, start.tcp_quat))) - 1.0) < 1e-4
    assert state.fault == ""


def test_cartesian_motion_mode_tracks_absolute_targets(franky_sim: FrankySim) -> None:
    backend = FrankaBackend(sim_config(franky_sim.hosts[0], control_mode="cartesian_motion", has_gripper=False))
    try:
        backend.reset(backend.arm.home_joints, None, False)
        start = backend.arm.read()
        for offset in ([0.0, 0.02, 0.0], [0.02, 0.0, -0.02]):  # each target replaces the last
            target = start.tcp_pos + np.array(offset)
            backend.arm.set_target(target, start.tcp_quat)
        assert wait_until(lambda: np.linalg.norm(backend.arm.read().tcp_pos - target) < 0.002, timeout=5.0)
        assert backend.arm.read().fault == ""
    finally:
        backend.close()


def test_gripper_commands_return_before_the_fingers_move_and_the_last_wins(
    backend: FrankaBackend, franky_sim: FrankySim
) -> None:
    gripper = backend.arm.gripper
    assert gripper is not None
    assert wait_until(lambda: not gripper.busy and gripper.sent >= 1, timeout=10.0)  # homing done
    backend.arm.set_gripper(0.08, 20.0)
    assert wait_until(lambda: franky_sim.hand_width() > 0.07, timeout=10.0)
    backend.arm.set_gripper(0.0, 20.0)
    assert franky_sim.hand_width() > 0.07  # the call returned while the fingers had yet to move
    assert wait_until(lambda: franky_sim.hand_width() < 0.005, timeout=10.0)
    assert wait_until(lambda: backend.arm.read().gripper_width < 0.005, timeout=1.0)  # read every 50 ms
    sent = gripper.sent
    for width in (0.02, 0.04, 0.06, 0.08, 0.03):  # quicker than the gripper: only the newest counts
        backend.arm.set_gripper(width, 20.0)
    assert wait_until(lambda: abs(franky_sim.hand_width() - 0.03) < 0.003 and not gripper.busy, timeout=15.0)
    assert gripper.sent - sent < 5
    assert gripper.fault == ""


# ---------------------------------------------------------------------- bad input and faults


def test_unreachable_address_fails_in_time_saying_what_to_check() -> None:
    started = time.monotonic()
    with pytest.raises(FrankaConnectionError) as info:
        FrankaBackend(sim_config("127.0.0.77", connect_timeout=2.0))
    assert time.monotonic() - started < 2.0 + 1.0
    message = str(info.value)
    assert "127.0.0.77" in message and "FCI" in message and "Desk" in message and "network" in message


def test_silent_address_gives_up_after_the_connect_timeout() -> None:
    """A host that accepts the TCP connection and never answers (an arm busy with another client)."""
    silent = socket.socket()
    for last in range(100, 200):
        try:
            silent.bind((f"127.0.0.{last}", 1337))  # libfranka's command port
            break
        except OSError:
            continue
    silent.listen(1)
    host = silent.getsockname()[0]
    try:
        started = time.monotonic()
        with pytest.raises(FrankaConnectionError) as info:
            FrankaBackend(sim_config(host, connect_timeout=1.5))
        assert time.monotonic() - started < 1.5 + 1.0
        assert "no answer within 1.5 s" in str(info.value)
    finally:
        silent.close()  # the abandoned connection attempt now fails and its thread ends


def test_second_connection_to_an_arm_in_use_times_out_instead_of_hanging() -> None:
    sim = FrankySim()
    first = FrankaBackend(sim_config(sim.hosts[0], has_gripper=False))
    try:
        started = time.monotonic()
        with pytest.raises(FrankaConnectionError) as info:
            FrankaBackend(sim_config(sim.hosts[0], connect_timeout=2.0, has_gripper=False))
        assert time.monotonic() - started < 2.0 + 1.0
        assert "no answer within 2 s" in str(info.value) and "no other program is connected" in str(info.value)
        assert first.arm.read().fault == ""  # the first client keeps the arm
    finally:
        first.close()
        sim.close()


def test_libfranka_version_mismatch_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    from franky_sim import franka_server

    def refuse(command: Any, server: Any, command_type_struct: str = "I") -> None:
        header = franka_server.MessageHeader(command.command_type, command.command_id, 8)
        status = franka_server.ConnectStatus.kIncompatibleLibraryVersion
        command.client_socket.sendall(header.to_bytes(command_type_struct) + struct.pack("<BH5x", status, 5))

    monkeypatch.setattr(franka_server.ConnectCommand, "handle", refuse)
    sim = FrankySim()
    try:
        with pytest.raises(FrankaVersionError) as info:
            FrankaBackend(sim_config(sim.hosts[0], has_gripper=False))
        assert "version" in str(info.value) and "server version: 5" in str(info.value)
    finally:
        sim.close()


def test_control_error_faults_the_arm_until_recover(franky_sim: FrankySim) -> None:
    config = sim_config(franky_sim.hosts[0], has_gripper=False)
    seam = FaultInjectingSeam(config)
    backend = FrankaBackend(config, seam=seam)
    try:
        backend.reset(backend.arm.home_joints, None, False)
        start = backend.arm.read()
        seam.inject_reflex()
        faulted = backend.arm.read()
        assert "reflex" in faulted.fault and "cartesian_reflex" in faulted.fault and "recover" in faulted.fault
        assert faulted.robot_mode == "Reflex"
        away = start.tcp_pos + np.array([0.03, 0.0, 0.0])
        backend.arm.set_target(away, start.tcp_quat)  # ignored while the fault holds
        backend.arm.hold()
        time.sleep(0.5)
        still = backend.arm.read()
        assert still.fault == faulted.fault
        assert np.linalg.norm(still.tcp_pos - start.tcp_pos) < 0.005
        backend.arm.recover()
        assert backend.arm.read().fault == ""
        backend.arm.set_target(away, start.tcp_quat)
        assert wait_until(lambda: np.linalg.norm(backend.arm.read().tcp_pos - away) < 0.004, timeout=5.0)
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("robot_mode", "errors", "needs_person"),
    [("Reflex", ("joint_reflex",), True), ("Idle", ("communication_constraints_violation",), False)],
)
def test_errors_found_at_start_up_are_cleared_only_when_safe(
    franky_sim: FrankySim, robot_mode: str, errors: tuple[str, ...], needs_person: bool
) -> None:
    config = sim_config(franky_sim.hosts[0], has_gripper=False)
    seam = FaultInjectingSeam(config)
    seam.report(robot_mode, errors)
    backend = FrankaBackend(config, seam=seam)
    try:
        fault = backend.arm.read().fault
        if needs_person:
            assert seam.recoveries == 0 and errors[0] in fault and "recover" in fault
            backend.arm.recover()
        else:
            assert seam.recoveries == 1
        assert backend.arm.read().fault == ""
    finally:
        backend.close()


def test_recovery_gives_up_after_the_configured_retries(franky_sim: FrankySim) -> None:
    config = sim_config(franky_sim.hosts[0], has_gripper=False, recovery_retries=3, recovery_pause=0.01)
    seam = FaultInjectingSeam(config)
    backend = FrankaBackend(config, seam=seam)
    try:
        seam.inject_reflex()
        assert "reflex" in backend.arm.read().fault
        seam.refuse_recovery = True
        backend.arm.recover()
        assert seam.recoveries == 3
        assert "recovery failed after 3 tries" in backend.arm.read().fault
        seam.refuse_recovery = False
        backend.arm.recover()
        assert backend.arm.read().fault == ""
    finally:
        backend.close()


def test_dropped_connection_is_a_fault_until_recover_reconnects(backend: FrankaBackend, franky_sim: FrankySim) -> None:
    start = backend.arm.read()
    franky_sim.drop_connection()
    assert wait_until(lambda: backend.arm.read().fault != "", timeout=10.0)
    fault = backend.arm.read().fault
    assert "connection to the arm lost" in fault and "recover" in fault
    backend.arm.recover()
    state = backend.arm.read()
    assert state.fault == ""
    target = state.tcp_pos + np.array([0.0, 0.02, 0.0])
    backend.arm.set_target(target, start.tcp_quat)
    assert wait_until(lambda: np.linalg.norm(backend.arm.read().tcp_pos - target) < 0.004, timeout=5.0)
