"""The server's safety promises hold against any peer on the network, not only well-formed
clients: no jump past one step, no STOP or watchdog held up, no lockout, no replay, bounded
tables and message sizes."""

from __future__ import annotations

import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_server.client import StreamSubscriber
from robot_server.ledger import MAX_CLIENTS_TRACKED, MAX_DEADLINE_AHEAD
from robot_server.limits import DEFAULT_LIMITS_FILE, Limits, clamp_target
from robot_server.service import RobotService
from tests.conftest import write_limits
from tests.test_server_robustness import assert_unmoved, physics_snapshot
from wire import PROTOCOL_VERSION, decode, encode
from wire.geometry import quat_from_rotvec, quat_mul, rotation_between

LIMITS = Limits.load(DEFAULT_LIMITS_FILE)
OUTSIDE_JOINTS = np.array([0.0, -1.5, 0.0, -2.356, 0.0, 1.571, 0.785])
"""Joints inside the joint limits whose TCP, [0.131, 0, 0.65], is outside the workspace box."""


def send(service: RobotService, cmd: str, data: object = None, arrays: dict | None = None, **header: object) -> dict:
    fields: dict = {"type": "req", "cmd": cmd, **header}
    if data is not None:
        fields["data"] = data
    return decode(service.handle(encode(fields, arrays))).header


def command(
    service: RobotService, cmd: str, seq: int, client: str = "operator", data: object = None, **arrays: np.ndarray
) -> dict:
    return send(service, cmd, data, arrays or None, client=client, seq=seq, deadline=time.monotonic() + 5)


def code(reply: dict) -> str:
    return "ok" if reply["type"] == "ok" else reply["code"]


def push_arm_out_of_the_box(service: RobotService) -> np.ndarray:
    """As a person pushing the real arm would: the measured pose leaves the box."""
    service.backend.reset(OUTSIDE_JOINTS, None, False)
    service.hold_pose()
    return service.arm_state().tcp_pos


# ---------------------------------------------------------------- 1. reset and one step


def test_a_reset_that_would_end_outside_the_box_is_refused_and_nothing_moves(service: RobotService) -> None:
    before = physics_snapshot(service)
    reply = command(service, "reset", 1, joints=OUTSIDE_JOINTS)
    assert code(reply) == "invalid_argument" and "outside the workspace box" in reply["msg"]
    assert_unmoved(service, before)
    reply = command(service, "move", 2, data={"relative": True}, pos=np.zeros(3))
    assert code(reply) == "ok"
    assert np.linalg.norm(service.target_pos - service.arm_state().tcp_pos) <= 1e-9


def test_no_command_targets_more_than_one_step_from_an_arm_outside_the_box(service: RobotService) -> None:
    measured = push_arm_out_of_the_box(service)
    assert measured[0] < LIMITS.workspace_min[0] and measured[2] > LIMITS.workspace_max[2]
    commands = [
        ("move", {"relative": True}, {"pos": np.zeros(3)}),
        ("move", {}, {"pos": np.array([0.5, 0.0, 0.2])}),
        ("act", None, {"action": np.zeros(7)}),
        ("act", None, {"action": np.array([-1.0, 1, 1, 1, -1, 1, 0])}),
    ]
    for seq, (cmd, data, arrays) in enumerate(commands, start=1):
        service.hold_pose()
        reply = send(service, cmd, data, arrays, client="operator", seq=seq, deadline=time.monotonic() + 5)
        assert code(reply) == "ok", reply
        step = np.linalg.norm(service.target_pos - measured)
        assert step <= LIMITS.max_translation + 1e-9, (cmd, step)
        assert np.linalg.norm(rotation_between(service.arm_state().tcp_quat, service.target_quat)) <= (
            LIMITS.max_rotation + 1e-7
        )
    # Towards the box, not away from it.
    distance_before = np.linalg.norm(np.clip(measured, LIMITS.workspace_min, LIMITS.workspace_max) - measured)
    distance_after = np.linalg.norm(
        np.clip(service.target_pos, LIMITS.workspace_min, LIMITS.workspace_max) - service.target_pos
    )
    assert distance_after < distance_before


vec3 = st.tuples(*[st.floats(-2, 2)] * 3).map(np.array)
rotvec = st.tuples(*[st.floats(-3, 3)] * 3).map(np.array)


@settings(max_examples=3000, deadline=None)
@given(vec3, rotvec, vec3, rotvec)
def test_clamped_targets_are_one_step_from_any_measured_pose(
    current_pos, current_turn, target_pos, target_turn
) -> None:
    current_quat = quat_mul(quat_from_rotvec(current_turn), LIMITS.reference_quat)
    target_quat = quat_mul(quat_from_rotvec(target_turn), LIMITS.reference_quat)
    result = clamp_target(LIMITS, current_pos, current_quat, target_pos, target_quat)
    assert np.linalg.norm(result.pos - current_pos) <= LIMITS.max_translation + 1e-9
    assert np.linalg.norm(rotation_between(current_quat, result.quat)) <= LIMITS.max_rotation + 1e-6
    nearest = np.clip(current_pos, LIMITS.workspace_min, LIMITS.workspace_max)
    if np.linalg.norm(nearest - current_pos) <= LIMITS.max_translation:
        assert (result.pos >= LIMITS.workspace_min - 1e-9).all() and (result.pos <= LIMITS.workspace_max + 1e-9).all()


# ---------------------------------------------------------------- 4. the link watchdog


def raw_dealer(address: str) -> zmq.Socket:
    socket: zmq.Socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(address)
    return socket


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_garbage_and_other_clients_do_not_feed_the_link_watchdog(start_server, tmp_path) -> None:
    running = start_server(mode="realtime", limits=write_limits(tmp_path, cmd_timeout=0.2, link_timeout=0.8))
    controller, bystander = running.client(), running.client()
    junk = raw_dealer(running.address)
    try:
        controller.act([0, 0, 0.2, 0, 0, 0, 1.0])
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not running.service.stopped:
            junk.send_multipart([b"", b"\xc1"])  # undecodable
            bystander.state()  # valid, but not from the client commanding the arm
            time.sleep(0.1)
        assert running.service.stopped
        assert "link lost" in controller.state()["stop_reason"]
    finally:
        junk.close()
        controller.close()
        bystander.close()


def test_the_controlling_clients_queries_keep_the_link(start_server, tmp_path) -> None:
    running = start_server(mode="realtime", limits=write_limits(tmp_path, cmd_timeout=0.2, link_timeout=0.8))
    controller = running.client()
    try:
        controller.act([0, 0, 0.2, 0, 0, 0, 1.0])
        for _ in range(20):  # 2 s of queries, more than twice the link timeout
            assert not controller.state()["stopped"]
            time.sleep(0.1)
        assert running.service.holding  # the command watchdog still holds the pose
    finally:
        controller.close()


# ---------------------------------------------------------------- 5. STOP and sequence numbers


def test_stop_does_not_reopen_replays(service: RobotService) -> None:
    assert code(command(service, "gripper", 1000, data={"width": 0.02})) == "ok"
    assert code(command(service, "gripper", 1000, data={"width": 0.02})) == "duplicate"
    assert code(command(service, "stop", 0)) == "ok"
    assert code(command(service, "recover", 1)) == "duplicate"
    assert code(command(service, "recover", 1001)) == "ok"
    assert code(command(service, "gripper", 1000, data={"width": 0.02})) == "duplicate"


def test_anyones_stop_is_accepted_and_locks_nobody_out(service: RobotService) -> None:
    assert code(command(service, "gripper", 5, client="victim", data={"width": 0.02})) == "ok"
    reply = send(service, "stop", client="victim", seq=2**64 - 1)  # no deadline
    assert code(reply) == "ok" and service.stopped
    assert code(command(service, "recover", 6, client="victim")) == "ok"
    assert code(command(service, "gripper", 7, client="victim", data={"width": 0.03})) == "ok"


@pytest.mark.parametrize("header", [{}, {"data": [1]}, {"client": 7, "seq": -1, "deadline": "soon"}])
def test_stop_is_obeyed_whatever_else_is_wrong_with_it(service: RobotService, header: dict) -> None:
    reply = send(service, "stop", **header)
    assert code(reply) == "ok" and service.stopped


# ---------------------------------------------------------------- 6. bounded client table


def test_duplicate_protection_is_not_forgotten_for_other_clients(service: RobotService, monkeypatch) -> None:
    assert code(command(service, "gripper", 10, client="first", data={"width": 0.02})) == "ok"
    for index in range(MAX_CLIENTS_TRACKED - 1):
        assert code(command(service, "gripper", 1, client=f"other-{index}", data={"width": 0.02})) == "ok"
    assert code(command(service, "gripper", 10, client="first", data={"width": 0.02})) == "duplicate"
    refused = command(service, "gripper", 1, client="one-too-many", data={"width": 0.02})
    assert code(refused) == "limit_exceeded"
    assert len(service.ledger) <= MAX_CLIENTS_TRACKED
    # Once every command those clients could have sent is past its deadline, they may go.
    later = time.monotonic() + MAX_DEADLINE_AHEAD + 1
    monkeypatch.setattr("robot_server.service.time.monotonic", lambda: later)
    header = {"client": "one-too-many", "seq": 1, "deadline": later + 5}
    assert code(send(service, "gripper", {"width": 0.02}, None, **header)) == "ok"
    old = {"client": "first", "seq": 10, "deadline": later - MAX_DEADLINE_AHEAD}  # a replay: stale by now
    assert code(send(service, "gripper", {"width": 0.02}, None, **old)) == "stale"


# ---------------------------------------------------------------- 2, 3. the stream port

FLOODER = """
import sys, time, zmq
kind, address, payload, seconds = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), float(sys.argv[4])
socket = zmq.Context.instance().socket(getattr(zmq, kind))
socket.linger = 0
socket.sndhwm = 100000
socket.connect(address)
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(1000):
        try:
            if kind == "DEALER":
                socket.send_multipart([b"", payload], zmq.NOBLOCK)
            else:
                socket.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            time.sleep(0.0005)
"""


@pytest.fixture
def flood() -> Iterator:
    started: list[subprocess.Popen] = []

    def start(kind: str, address: str, payload: bytes, seconds: float) -> None:
        process = subprocess.Popen(
            [sys.executable, "-c", FLOODER, kind, address, payload.hex(), str(seconds)], stdout=subprocess.PIPE
        )
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        started.append(process)

    yield start
    for process in started:
        process.kill()
        process.wait(10)


def test_a_flood_on_any_port_delays_neither_stop_nor_requests_by_a_control_tick(start_server, flood) -> None:
    running = start_server(mode="realtime", pub_hz=30.0)
    client = running.client()
    watcher = StreamSubscriber(running.stream_address)
    try:
        assert watcher.latest(timeout=3.0) is not None
        flood("XSUB", running.stream_address, b"\x02junk", 8.0)
        flood("DEALER", running.address, b"\xc1junk", 8.0)
        time.sleep(1.0)  # let the junk pile up
        request_times, stop_times = [], []
        for _ in range(5):
            for _ in range(6):
                sent = time.monotonic()
                client.state()
                request_times.append(time.monotonic() - sent)
            sent = time.monotonic()
            client.stop()
            stop_times.append(time.monotonic() - sent)
            client.recover()
        tick = running.config.control_period
        assert statistics.median(stop_times) < tick, stop_times
        assert statistics.median(request_times) < tick, request_times
        assert sorted(request_times)[int(0.9 * len(request_times))] < tick, request_times
        assert watcher.latest(timeout=1.0) is not None  # the stream still flows
    finally:
        watcher.close()
        client.close()


def count_messages(watcher: StreamSubscriber, seconds: float) -> int:
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        if watcher.latest(timeout=0.1) is not None:
            count += 1
    return count


def raw_zmtp_peer(port: int, socket_type: bytes) -> socket.socket:
    """A ZMTP 3.0 peer by hand (NULL mechanism), so that it can send frames that libzmq's own
    sockets would filter out; returns the TCP socket after the handshake."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=5)
    peer.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32)
    greeting = b""
    while len(greeting) < 64:
        greeting += peer.recv(64 - len(greeting))
    name, value = b"Socket-Type", socket_type
    ready = b"\x05READY" + bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    peer.sendall(b"\x04" + bytes([len(ready)]) + ready)
    return peer


def test_a_forged_unsubscribe_does_not_stop_the_stream(start_server) -> None:
    running = start_server(mode="realtime", pub_hz=20.0)
    watcher = StreamSubscriber(running.stream_address)
    try:
        assert watcher.latest(timeout=3.0) is not None
        before = count_messages(watcher, 1.0)
        forger = raw_zmtp_peer(running.config.pub_port, b"SUB")
        forger.sendall(b"\x00\x01\x00")  # data frame b"\x00": unsubscribe, never having subscribed
        time.sleep(0.3)
        after = count_messages(watcher, 1.0)
        forger.close()
        assert before >= 10 and after >= before / 2, (before, after)
    finally:
        watcher.close()


def test_watchers_are_counted_by_connection(start_server) -> None:
    running = start_server(mode="lockstep", pub_hz=20.0)
    assert wait_until(lambda: running.server.subscribers == 0, 2.0)
    watcher = StreamSubscriber(running.stream_address)
    assert wait_until(lambda: running.server.subscribers == 1, 5.0)
    assert watcher.latest(timeout=3.0) is not None  # a late joiner in lockstep still gets the state
    watcher.close()
    assert wait_until(lambda: running.server.subscribers == 0, 5.0)


# ---------------------------------------------------------------- 9. sizes


def test_an_oversized_request_is_never_processed(start_server) -> None:
    running = start_server()
    peer = raw_dealer(running.address)
    try:
        padding = np.zeros(4 * 1024 * 1024, dtype=np.uint8)
        frames = encode({"type": "req", "cmd": "state", "v": list(PROTOCOL_VERSION)}, {"padding": padding})
        peer.send_multipart([b"", *frames])
        assert not peer.poll(1500, zmq.POLLIN)  # disconnected by libzmq, not answered
        with running.client() as client:
            assert client.state()["mode"] == "lockstep"
    finally:
        peer.close()


def test_requests_with_too_many_frames_are_refused(service: RobotService) -> None:
    arrays = {f"a{index}": np.zeros(1) for index in range(40)}
    reply = send(service, "state", None, arrays)
    assert code(reply) == "malformed" and "frames" in reply["msg"]


def test_a_half_sent_multipart_blocks_nobody(start_server) -> None:
    running = start_server()
    peer = raw_dealer(running.address)
    peer.send(b"", zmq.SNDMORE)
    peer.send(encode({"type": "req", "cmd": "state"})[0], zmq.SNDMORE)  # and never the last part
    try:
        with running.client() as client:
            for _ in range(3):
                assert client.state()["mode"] == "lockstep"
    finally:
        peer.close()
    with running.client() as client:
        assert client.state()["mode"] == "lockstep"
