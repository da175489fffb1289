"""`RobotClient`: timeouts, reconnects, at-most-once commands, the published stream."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import zmq

from robot_server.client import RobotClient, RobotError, RobotUnavailable, StreamSubscriber
from tests.conftest import RunningServer, free_port, server_config
from wire import decode, request


def test_no_server_gives_a_clear_error_after_bounded_retries() -> None:
    client = RobotClient(f"tcp://127.0.0.1:{free_port()}", timeout=0.2, retries=2)
    started = time.monotonic()
    with pytest.raises(RobotUnavailable, match="after 3 tries"):
        client.state()
    assert client.reconnects == 3
    assert time.monotonic() - started < 5
    client.close()


def test_client_reconnects_to_a_restarted_server() -> None:
    config = server_config()
    first = RunningServer(config)
    client = RobotClient(first.address, timeout=1.0, retries=10)
    client.reset(seed=0, images=False)
    first.stop()
    restarted = {}

    def restart_later() -> None:
        time.sleep(1.5)
        restarted["server"] = RunningServer(config)

    thread = threading.Thread(target=restart_later)
    thread.start()
    try:
        state = client.state()  # blocks through the outage
        assert state["episode"] == 0  # a fresh server
        client.gripper(0.02)  # acting commands re-sync the clock with the new server
        assert client.reconnects >= 1
    finally:
        thread.join()
        restarted["server"].stop()
        client.close()


def raw(address: str, frames: list) -> dict:
    socket: zmq.Socket = zmq.Context.instance().socket(zmq.REQ)
    socket.linger = 0
    socket.connect(address)
    socket.send_multipart(frames)
    assert socket.poll(5000)
    header = decode(socket.recv_multipart()).header
    socket.close()
    return header


def test_duplicate_and_stale_commands_are_rejected_with_no_effect(lockstep_server) -> None:
    client = lockstep_server.client()
    client.reset(seed=0, images=False)
    offset = client.sync_clock()
    now = time.monotonic() + offset
    move = {"pos": np.array([0.45, 0.05, 0.3])}
    ok = raw(lockstep_server.address, request("move", data={}, arrays=move, seq=100, deadline=now + 5, client="dup"))
    assert ok["type"] == "ok"
    target = client.state()["target_pos"]
    again = raw(
        lockstep_server.address,
        request("move", arrays={"pos": np.array([0.6, -0.1, 0.2])}, seq=100, deadline=now + 5, client="dup"),
    )
    assert again["code"] == "duplicate"
    stale = raw(
        lockstep_server.address,
        request(
            "move",
            arrays={"pos": np.array([0.6, -0.1, 0.2])},
            seq=101,
            deadline=time.monotonic() + offset - 0.01,
            client="dup",
        ),
    )
    assert stale["code"] == "stale" and "deadline passed" in stale["msg"]
    assert client.state()["target_pos"] == target
    client.close()


class ReplyDropper:
    """A proxy between client and server that loses the reply to the first request it sees
    whose command is `victim`, as a flaky network would."""

    def __init__(self, server_address: str, victim: str) -> None:
        self.port = free_port()
        self.victim = victim
        self.dropped = 0
        self._server_address = server_address
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        context: zmq.Context[zmq.Socket] = zmq.Context.instance()
        front = context.socket(zmq.ROUTER)
        front.bind(f"tcp://127.0.0.1:{self.port}")
        back = context.socket(zmq.DEALER)
        back.connect(self._server_address)
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(back, zmq.POLLIN)
        pending_victim: set[bytes] = set()
        while not self._stop.is_set():
            events = dict(poller.poll(50))
            if front in events:
                frames = front.recv_multipart()
                if decode(frames[2:]).header.get("cmd") == self.victim and not self.dropped:
                    pending_victim.add(frames[0])
                back.send_multipart(frames)
            if back in events:
                frames = back.recv_multipart()
                if frames[0] in pending_victim:
                    pending_victim.discard(frames[0])
                    self.dropped += 1
                    continue
                front.send_multipart(frames)
        front.close(0)
        back.close(0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def test_lost_reply_is_retried_and_applied_once(start_server) -> None:
    running = start_server()
    dropper = ReplyDropper(running.address, victim="step")
    client = RobotClient(f"tcp://127.0.0.1:{dropper.port}", timeout=0.5, retries=3)
    try:
        client.reset(seed=4, images=False)
        reply = client.step([1.0, 0, 0, 0, 0, 0, 1.0], images=True)
        assert dropper.dropped == 1 and client.reconnects >= 1
        assert running.service.step_index == 1  # applied exactly once
        assert set(reply.images) == {"front", "wrist"}  # the observation after that one step
        assert reply.data["step"] == 1
    finally:
        client.close()
        dropper.stop()


def test_error_replies_raise_with_code(lockstep_server) -> None:
    client = lockstep_server.client()
    with pytest.raises(RobotError) as info:
        client.move([np.nan, 0, 0])
    assert info.value.code == "invalid_argument" and "non-finite" in info.value.message
    with pytest.raises(RobotError) as info:
        client.request("levitate")
    assert info.value.code == "unknown_command"
    client.close()


def test_stream_carries_state_and_images_for_watchers(start_server) -> None:
    running = start_server(mode="realtime", pub_hz=20.0)
    watcher = StreamSubscriber(running.stream_address)
    try:
        first = None
        deadline = time.monotonic() + 10
        while first is None and time.monotonic() < deadline:
            first = watcher.latest(timeout=1.0)
        assert first is not None
        time.sleep(0.3)
        second = watcher.latest(timeout=1.0)
        assert second is not None
        assert set(second.images) == {"front", "wrist"} and second.images["front"].shape == (128, 128, 3)
        assert second.data["stamp"] > first.data["stamp"]
        assert second.data["image_counters"]["front"] > first.data["image_counters"]["front"]
        assert "tcp_pos" in second.data and second.data["mode"] == "realtime"
    finally:
        watcher.close()
