"""Teleop messages, the command stream over loopback, the keyboard in a pseudo-terminal, the mapping."""

from __future__ import annotations

import os
import termios
import time

import msgspec
import numpy as np
import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st

from teleop.keyboard import KeyboardConfig, KeyboardState, RawTerminal, decode_keys
from teleop.mapping import SIDES, AxisMapping, _parse_axes
from teleop.publishers import CommandStreamer, ProposalPublisher
from teleop.stream import CommandSubscriber, ProposalSubscriber
from tests.conftest import free_port
from wire import encode
from wire.operator import (
    LATEST,
    MARK_SUCCESS,
    MessageError,
    OperatorCommand,
    Proposal,
    decode_command,
    decode_proposal,
    encode_command,
    encode_proposal,
)


def command(
    twist: np.ndarray | None = None, *, active: bool = False, gripper: float | None = None, step: int = LATEST
) -> OperatorCommand:
    """An operator command stamped 1.0; the rest as given, else OperatorCommand's defaults."""
    if twist is None:
        return OperatorCommand(active=active, gripper=gripper, step=step, stamp=1.0)
    return OperatorCommand(twist=twist, active=active, gripper=gripper, step=step, stamp=1.0)


# ---------------------------------------------------------------------------- messages


def test_command_round_trip() -> None:
    sent = command(twist=np.array([0.1, -0.2, 0.3, -1, 1, 0], np.float32), active=True, gripper=-1.0, step=7)
    sent.episode, sent.seq, sent.sender = "ep", 3, "abc"
    got = decode_command(encode_command(sent))
    assert got.twist == pytest.approx(sent.twist) and got.active and got.gripper == -1.0
    assert (got.episode, got.step, got.seq, got.sender, got.source) == ("ep", 7, 3, "abc", "human")
    assert decode_command(encode_command(command(gripper=None))).gripper is None


@pytest.mark.parametrize(
    "twist, header, error",
    [
        ([np.nan, 0, 0, 0, 0, 0], {}, "twist"),
        ([1.5, 0, 0, 0, 0, 0], {}, "twist"),
        ([0, 0, 0, 0, 0], {}, "twist"),
        ([0] * 6, {"gripper": float("inf")}, "gripper"),
        ([0] * 6, {"gripper": 2.0}, "gripper"),
        ([0] * 6, {"active": 1}, "active"),
        ([0] * 6, {"source": "robot"}, "source"),
        ([0] * 6, {"stamp": "now"}, "stamp"),
        ([0] * 6, {"mark": 7}, "mark"),
        ([0] * 6, {"step": -5}, "step"),
    ],
)
def test_malformed_commands_are_refused(twist: list[float], header: dict[str, object], error: str) -> None:
    frames = encode_command(command())
    fields = msgspec.msgpack.decode(frames[0])
    fields.pop("v"), fields.pop("arrays")
    fields.update(header)
    with pytest.raises(MessageError, match=error):
        decode_command(encode(fields, {"twist": np.asarray(twist, np.float32)}))


def test_garbage_and_other_versions_are_refused() -> None:
    with pytest.raises(MessageError):
        decode_command([b"\xc1 not msgpack"])
    frames = encode_command(command())
    fields = msgspec.msgpack.decode(frames[0])
    fields["v"] = [9, 0]
    with pytest.raises(MessageError, match="protocol"):
        decode_command([msgspec.msgpack.encode(fields), *frames[1:]])
    with pytest.raises(MessageError, match="expected"):
        decode_command(encode_proposal(Proposal("e", 0, np.zeros(3), np.zeros(7))))


def test_proposal_round_trip_and_validation() -> None:
    robot = {"tcp_pos": [0.5, 0.0, 0.2], "sim_grasped": False}
    got = decode_proposal(encode_proposal(Proposal("ep", 4, np.arange(13.0), np.full(7, 0.5), robot, 2.0)))
    assert (got.episode, got.step, got.robot) == ("ep", 4, robot)
    assert got.state == pytest.approx(np.arange(13.0)) and got.policy_action == pytest.approx(np.full(7, 0.5))
    no_policy = decode_proposal(encode_proposal(Proposal("ep", 0, np.zeros(13), np.full(7, np.nan))))
    assert np.isnan(no_policy.policy_action).all()
    partly = np.zeros(7)
    partly[3] = np.nan
    with pytest.raises(MessageError):
        decode_proposal(encode_proposal(Proposal("ep", 0, np.zeros(13), partly)))
    with pytest.raises(MessageError):
        decode_proposal(encode_proposal(Proposal("ep", 0, np.full(13, np.inf), np.zeros(7))))


# ---------------------------------------------------------------------------- stream


def test_subscriber_sees_the_newest_command_and_silence_means_no_operator() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    with CommandSubscriber(address, timeout=0.3) as subscriber:
        assert subscriber.latest() is None
        streamer = CommandStreamer(address, rate=200.0).start()
        try:
            for value in np.linspace(-1, 1, 50):
                streamer.update(command(twist=np.full(6, value, np.float32), active=True))
            newest = wait_for_command(subscriber, lambda c: c.twist[0] == pytest.approx(1.0))
            assert newest.active and newest.sender and newest.seq > 1
            first_seq = newest.seq
            beat = subscriber.wait_newer(subscriber.latest(), 2.0)
            assert beat is not None and beat.command.seq > first_seq, "the newest command is republished"
            assert beat.command.twist[0] == pytest.approx(1.0)
        finally:
            streamer.stop()
        last = subscriber.latest()
        assert last is not None
        assert subscriber.latest(now=last.received + 0.31) is None
        deadline = time.monotonic() + 5.0
        while subscriber.latest() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert subscriber.latest() is None, "a silent stream must read as no operator"
        assert subscriber.malformed == 0


def wait_for_command(subscriber: CommandSubscriber, predicate, timeout: float = 5.0) -> OperatorCommand:
    """The first new command on the stream that satisfies `predicate`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = subscriber.wait_newer(subscriber.latest(), 0.1)
        if received is not None and predicate(received.command):
            return received.command
    raise AssertionError("no matching command arrived")


def test_malformed_messages_on_the_stream_are_dropped() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    raw: zmq.Socket = zmq.Context.instance().socket(zmq.PUB)
    raw.linger = 0
    raw.bind(address)
    try:
        with CommandSubscriber(address, timeout=5.0) as subscriber:
            good = command(twist=np.full(6, 0.25, np.float32), active=True)
            good.sender = "raw"
            deadline = time.monotonic() + 5.0
            while subscriber.received == 0 and time.monotonic() < deadline:  # until the subscriber has joined
                good.seq += 1
                raw.send_multipart(encode_command(good))
                time.sleep(0.02)
            assert subscriber.received > 0
            fields = msgspec.msgpack.decode(encode_command(good)[0])
            fields.pop("v"), fields.pop("arrays")
            fields["seq"] = 10**7
            raw.send_multipart(encode(fields, {"twist": np.full(6, np.nan, np.float32)}))
            raw.send_multipart([b"garbage"])
            deadline = time.monotonic() + 5.0
            while subscriber.malformed < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert subscriber.malformed == 2
            latest = subscriber.latest()
            assert latest is not None
            assert latest.command.twist[0] == pytest.approx(0.25)
    finally:
        raw.close(linger=0)


def test_proposals_reach_a_subscriber_in_order() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    publisher = ProposalPublisher(address)
    subscriber = ProposalSubscriber(address)
    try:
        got: list[Proposal] = []
        deadline = time.monotonic() + 5.0
        step = 0
        while len(got) < 5 and time.monotonic() < deadline:
            publisher.publish(Proposal("ep", step, np.zeros(13), np.zeros(7), {"a": step}))
            step += 1
            got.extend(subscriber.receive(0.02))
        steps = [p.step for p in got]
        assert len(steps) >= 5 and steps == sorted(steps) and got[-1].robot == {"a": got[-1].step}
    finally:
        publisher.close()
        subscriber.close()


# ---------------------------------------------------------------------------- keyboard


def test_keyboard_in_a_raw_pseudo_terminal() -> None:
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    try:
        state = KeyboardState(config=KeyboardConfig(speed=0.5))
        with RawTerminal(slave) as terminal:
            assert not termios.tcgetattr(slave)[3] & termios.ECHO
            os.write(master, b"w \r\x1b[Ax")
            keys = terminal.read_keys(2.0)
            assert keys == ["w", " ", "\r", "x"]
            for key in keys:
                state.press(key, now=100.0)
        assert termios.tcgetattr(slave) == before, "the terminal mode is restored"
    finally:
        os.close(master)
        os.close(slave)
    moving = state.command(now=100.1)
    # Front operator: 'w' (away from the operator) is -x in the base frame.
    assert moving.twist == pytest.approx([-0.5, 0, 0, 0, 0, 0]) and moving.active
    assert (moving.gripper_toggles, moving.mark, moving.mark_seq, moving.source) == (1, MARK_SUCCESS, 1, "keyboard")
    assert not state.command(now=101.0).active


def test_keyboard_hold_times() -> None:
    state = KeyboardState(config=KeyboardConfig(speed=1.0, first_hold=0.5, repeat_hold=0.1))
    state.press("d", 0.0)
    assert state.command(0.45).twist[1] == pytest.approx(1.0)  # 'd': the operator's right, +y
    state.press("d", 0.48)  # auto-repeat
    assert state.command(0.55).active and not state.command(0.6).active
    state.press("q", 1.0)
    assert state.quit
    assert decode_keys(b"\x1b[1;5Cab\x1bOPc") == ["a", "b", "c"]


# ---------------------------------------------------------------------------- mapping


def test_every_operator_side_is_a_proper_rotation() -> None:
    for side, axes in SIDES.items():
        matrix = _parse_axes(axes)
        for block in (matrix[:3, :3], matrix[3:, 3:]):
            assert np.linalg.det(block) == pytest.approx(1.0), side
        assert np.array_equal(matrix[:3, :3], matrix[3:, 3:]), f"{side}: rotations follow translations"


@given(st.lists(st.floats(-2, 2), min_size=6, max_size=6), st.floats(0, 0.9))
def test_deadzone_and_clipping(values: list[float], deadzone: float) -> None:
    twist = AxisMapping(deadzone=deadzone).twist(np.array(values))
    assert np.all(np.abs(twist) <= 1.0)
    inside = np.abs(values) <= deadzone
    mapped_from = np.abs(_parse_axes(SIDES["front"])) @ inside.astype(float)
    assert np.all(twist[mapped_from == 1] == 0)


def test_bad_mappings_are_refused() -> None:
    with pytest.raises(ValueError):
        AxisMapping(axes=("+x", "+x", "-z", "+roll", "+pitch", "-yaw"))
    with pytest.raises(ValueError):
        AxisMapping(axes=("x", "+y", "-z", "+roll", "+pitch", "-yaw"))
    with pytest.raises(ValueError):
        AxisMapping(deadzone=1.0)
    assert np.all(AxisMapping().twist(np.array([np.nan, 1, 0, 0, 0, 0])) == 0)
