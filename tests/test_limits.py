"""Safety limits: no accepted command takes the target outside the box or beyond one step."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_server.limits import DEFAULT_LIMITS_FILE, Limits, LimitsError, clamp_gripper, clamp_target
from robot_server.service import RobotService
from wire import decode, encode
from wire.geometry import quat_from_rotvec, quat_mul, rotation_between

LIMITS = Limits.load(DEFAULT_LIMITS_FILE)
EPS = 1e-9


def in_box(pos: np.ndarray) -> bool:
    return bool((pos >= LIMITS.workspace_min - EPS).all() and (pos <= LIMITS.workspace_max + EPS).all())


def angle(q_from: np.ndarray, q_to: np.ndarray) -> float:
    return float(np.linalg.norm(rotation_between(q_from, q_to)))


vec3 = st.tuples(*[st.floats(-2, 2)] * 3).map(np.array)
small_rotvec = st.tuples(*[st.floats(-0.7, 0.7)] * 3).map(np.array)
any_rotvec = st.tuples(*[st.floats(-3, 3)] * 3).map(np.array)
unit = st.tuples(*[st.floats(0, 1)] * 3).map(np.array)


@settings(max_examples=5000, deadline=None)
@given(unit, st.tuples(*[st.floats(-1, 1)] * 3).map(np.array), vec3, any_rotvec)
def test_clamped_targets_stay_in_the_box_cone_and_step(current_fraction, current_turn, target_pos, target_turn) -> None:
    current_pos = LIMITS.workspace_min + current_fraction * (LIMITS.workspace_max - LIMITS.workspace_min)
    current_turn = current_turn * min(
        1.0, LIMITS.max_orientation_deviation / max(float(np.linalg.norm(current_turn)), 1e-9)
    )
    current_quat = quat_mul(quat_from_rotvec(current_turn), LIMITS.reference_quat)
    target_quat = quat_mul(quat_from_rotvec(target_turn), LIMITS.reference_quat)
    result = clamp_target(LIMITS, current_pos, current_quat, target_pos, target_quat)
    assert in_box(result.pos)
    assert np.linalg.norm(result.pos - current_pos) <= LIMITS.max_translation + EPS
    assert angle(current_quat, result.quat) <= LIMITS.max_rotation + 1e-7
    assert angle(LIMITS.reference_quat, result.quat) <= LIMITS.max_orientation_deviation + 1e-7
    assert abs(np.linalg.norm(result.quat) - 1) < 1e-9


def test_targets_within_limits_are_untouched() -> None:
    current = np.array([0.5, 0.0, 0.2])
    step = np.array([0.01, -0.02, 0.01])
    result = clamp_target(LIMITS, current, LIMITS.reference_quat, current + step, LIMITS.reference_quat)
    assert result.clamped == []
    np.testing.assert_allclose(result.pos, current + step)


def test_clamps_are_named() -> None:
    current = np.array([0.5, 0.0, 0.2])
    result = clamp_target(
        LIMITS,
        current,
        LIMITS.reference_quat,
        np.array([0.5, 0.0, -1.0]),
        quat_mul(quat_from_rotvec(np.array([0, 0, 1.0])), LIMITS.reference_quat),
    )
    assert result.clamped == ["step_translation", "step_rotation"]
    low = np.array([0.5, 0.0, 0.02])
    assert clamp_target(
        LIMITS, low, LIMITS.reference_quat, low - np.array([0, 0, 0.04]), LIMITS.reference_quat
    ).clamped == ["workspace"]
    assert clamp_gripper(LIMITS, 0.5, 500.0) == (
        LIMITS.gripper_max_width,
        LIMITS.gripper_max_force,
        ["gripper_width", "gripper_force"],
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("min: [0.25, -0.35, 0.0]", "min: [0.8, -0.35, 0.0]"),
        ("max_translation: 0.06", "max_translation: -1"),
        ("cmd_timeout: 0.5", "cmd_timeout: 9.0"),
        ("max_force: 70.0", "max_force: .nan"),
        ("reference_quat: [0.0, 1.0, 0.0, 0.0]", "reference_quat: [0.0, 2.0, 0.0, 0.0]"),
        ("max_deviation: 1.2", "max_deviation: 2.0"),
        ("gripper:", "grip:"),
    ],
)
def test_inconsistent_limits_files_are_refused(tmp_path, old: str, new: str) -> None:
    text = DEFAULT_LIMITS_FILE.read_text()
    assert old in text
    path = tmp_path / "limits.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(LimitsError):
        Limits.load(path)


def command(service: RobotService, seq: int, cmd: str, data: dict, arrays: dict) -> dict:
    frames = encode(
        {"type": "req", "cmd": cmd, "client": "prop", "seq": seq, "deadline": time.monotonic() + 10, "data": data},
        arrays,
    )
    return decode(service.handle(frames)).header


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("abs"), vec3, any_rotvec),
            st.tuples(st.just("rel"), st.tuples(*[st.floats(-0.9, 0.9)] * 3).map(np.array), any_rotvec),
            st.tuples(st.just("ee"), st.tuples(*[st.floats(-0.9, 0.9)] * 3).map(np.array), small_rotvec),
            st.tuples(st.just("act"), st.tuples(*[st.floats(-1, 1)] * 7).map(np.array), st.none()),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_accepted_commands_never_target_outside_the_limits(service_for_properties, moves) -> None:
    service = service_for_properties
    for kind, first, second in moves:
        service.seq += 1
        arm = service.backend.arm.read()
        if kind == "abs":
            quat = quat_mul(quat_from_rotvec(second), LIMITS.reference_quat)
            header = command(service, service.seq, "move", {}, {"pos": first, "quat": quat})
        elif kind in ("rel", "ee"):
            rotvec = second * (min(1.0, 3.0 / max(float(np.linalg.norm(second)), 1e-9)))
            header = command(
                service,
                service.seq,
                "move",
                {"relative": True, "frame": "base" if kind == "rel" else "ee"},
                {"pos": first, "rotvec": rotvec},
            )
        else:
            header = command(service, service.seq, "act", {}, {"action": first})
        assert header["type"] == "ok", header
        target_pos, target_quat = service.target_pos, service.target_quat
        assert in_box(target_pos)
        assert angle(LIMITS.reference_quat, target_quat) <= LIMITS.max_orientation_deviation + 1e-7
        if in_box(arm.tcp_pos):
            assert np.linalg.norm(target_pos - arm.tcp_pos) <= LIMITS.max_translation + EPS
        if angle(LIMITS.reference_quat, arm.tcp_quat) <= LIMITS.max_orientation_deviation:
            assert angle(arm.tcp_quat, target_quat) <= LIMITS.max_rotation + 1e-7
        service.backend.clock.advance(0.1)


@pytest.fixture(scope="module")
def service_for_properties():
    from robot_server.backends.mujoco_sim.backend import SimBackend
    from robot_server.config import ServerConfig

    backend = SimBackend()
    service = RobotService(ServerConfig(), backend, LIMITS)
    service.seq = 0  # type: ignore[attr-defined]  # these tests' own command counter, on the shared service
    yield service
    backend.close()
