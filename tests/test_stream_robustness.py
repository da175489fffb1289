"""The subscribing sockets of the stack against foreign peers: garbage, frames larger than any
valid message, multipart messages cut off halfway, floods of made-up senders; each is counted
and dropped, logged a handful of times, and the stream goes on."""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from teleop.stream import MAX_SENDERS, CommandSubscriber, ProposalSubscriber
from tests.conftest import free_port
from wire.codec import SizeLimits, encode
from wire.operator import OperatorCommand, Proposal, encode_command, encode_proposal
from wire.ratelog import RateLimitedLog
from wire.status import StatusSubscriber
from wire.weights import WeightsPublisher, WeightsSubscriber

# ---------------------------------------------------------------------------- a raw ZMTP peer


class RawPeer:
    """A peer that speaks ZMTP 3.0 (NULL security) by hand over a plain TCP socket, so that it can
    send what a ZeroMQ socket never would: the first frames of a message, then nothing."""

    def __init__(self, connection: socket.socket, socket_type: bytes) -> None:
        self.connection = connection
        connection.settimeout(5.0)
        connection.sendall(b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32))
        self._read(64)
        connection.sendall(_frame(b"\x05READY\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type, 4))
        self._read_frame()  # the other side's READY

    @classmethod
    def connect(cls, address: str, socket_type: bytes) -> RawPeer:
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        return cls(socket.create_connection((host, int(port)), timeout=5.0), socket_type)

    def send(self, frames: list[Any], *, complete: bool = True) -> None:
        """Send frames as one message; `complete=False` leaves the last frame's MORE flag set."""
        for index, frame in enumerate(frames):
            more = index < len(frames) - 1 or not complete
            data = frame if isinstance(frame, bytes) else bytes(memoryview(frame).cast("B"))
            self.connection.sendall(_frame(data, 1 if more else 0))

    def close(self) -> None:
        self.connection.close()

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.connection.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the peer closed the connection")
            data += chunk
        return data

    def _read_frame(self) -> bytes:
        flags = self._read(1)[0]
        size = struct.unpack(">Q", self._read(8))[0] if flags & 2 else self._read(1)[0]
        return self._read(size)


def _frame(data: bytes, flags: int) -> bytes:
    if len(data) < 256:
        return bytes([flags, len(data)]) + data
    return bytes([flags | 2]) + struct.pack(">Q", len(data)) + data


class RawPublisher:
    """Listens where a subscriber connects and serves it as a raw ZMTP PUB."""

    def __init__(self, address: str) -> None:
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        self.listener = socket.create_server((host, int(port)))
        self.listener.settimeout(10.0)

    def accept(self) -> RawPeer:
        connection, _ = self.listener.accept()
        return RawPeer(connection, b"PUB")

    def close(self) -> None:
        self.listener.close()


def wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def disconnected(monitor: zmq.Socket, timeout: float = 10.0) -> bool:
    """Whether the monitored socket dropped a connection within `timeout`."""
    deadline = time.monotonic() + timeout
    while monitor.poll(max(1, int((deadline - time.monotonic()) * 1000))):
        if recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
            return True
    return False


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


def counted(written: list[str]) -> int:
    """The events rate-limited log lines stand for: one per line, plus the 'K more like it'."""
    total = 0
    for line in written:
        more = re.search(r"and (\d+) more like it", line)
        total += (0 if line.startswith("... and") else 1) + (int(more.group(1)) if more else 0)
    return total


# ---------------------------------------------------------------------------- teleop commands


@pytest.fixture
def foreign() -> Iterator[tuple[str, zmq.Socket]]:
    """A PUB of a stranger, bound where a command subscriber connects."""
    address = f"tcp://127.0.0.1:{free_port()}"
    publisher: zmq.Socket = zmq.Context.instance().socket(zmq.PUB)
    publisher.linger = 0
    publisher.sndhwm = 0
    publisher.bind(address)
    yield address, publisher
    publisher.close(0)


def good_command(seq: int, sender: str = "raw") -> list[Any]:
    command = OperatorCommand(twist=np.full(6, 0.25, np.float32), active=True, stamp=1.0, seq=seq, sender=sender)
    return encode_command(command)


def join(subscriber: CommandSubscriber, publisher: zmq.Socket, sender: str = "raw") -> int:
    """Publish good commands until the subscriber has one; returns the last seq sent."""
    seq, before = 0, subscriber.received
    deadline = time.monotonic() + 10.0
    while subscriber.received == before:
        assert time.monotonic() < deadline, "the subscriber never joined"
        seq += 1
        publisher.send_multipart(good_command(seq, sender))
        time.sleep(0.01)
    return seq


def garbage(index: int) -> list[bytes]:
    kinds = [
        [b"garbage %d" % index],
        [msgspec.msgpack.encode([index])],
        [msgspec.msgpack.encode({"v": [1, 0], "type": "teleop_cmd", "data": [index]})],
        encode({"type": "teleop_cmd", "seq": index}, {"twist": np.full(index % 7, np.nan)}),
    ]
    return kinds[index % len(kinds)]


def test_3000_garbage_commands_make_a_handful_of_log_lines(foreign, caplog) -> None:
    address, publisher = foreign
    with caplog.at_level(logging.WARNING, logger="teleop.stream"):
        subscriber = CommandSubscriber(address, timeout=5.0)
        try:
            join(subscriber, publisher)
            for start in range(0, 3000, 100):
                for index in range(start, start + 100):
                    publisher.send_multipart(garbage(index))

                def all_counted(start: int = start) -> bool:
                    return subscriber.malformed == start + 100

                wait(all_counted)
            join(subscriber, publisher, sender="after")
        finally:
            subscriber.close()
    written = lines(caplog, "teleop.stream")
    assert len(written) <= 5 and counted(written) == 3000, written


def test_a_frame_beyond_any_command_disconnects_its_publisher_unread(foreign) -> None:
    address, publisher = foreign
    with CommandSubscriber(address, timeout=5.0) as subscriber:
        join(subscriber, publisher)
        publisher.send_multipart([b"\x81" + bytes(1 << 20)])
        join(subscriber, publisher, sender="again")  # after the reconnection
        assert subscriber.malformed == 0  # cut off by libzmq before a byte of it was decoded


def test_a_command_cut_off_halfway_is_never_seen() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    raw = RawPublisher(address)
    with CommandSubscriber(address, timeout=5.0) as subscriber:
        peer = raw.accept()
        peer.send(good_command(1, "whole"))
        wait(lambda: subscriber.received == 1)  # the raw peer does reach the subscriber
        peer.send(good_command(2, "half")[:1], complete=False)
        peer.close()
        raw.close()
        real: zmq.Socket = zmq.Context.instance().socket(zmq.PUB)
        real.linger = 0
        real.bind(address)
        try:
            join(subscriber, real, sender="after")
        finally:
            real.close(0)
        assert subscriber.malformed == 0
        latest = subscriber.latest()
        assert latest is not None and latest.command.sender == "after"


def test_made_up_senders_do_not_grow_the_subscriber(foreign) -> None:
    address, publisher = foreign
    with CommandSubscriber(address, timeout=5.0) as subscriber:
        join(subscriber, publisher)
        for index in range(10 * MAX_SENDERS):
            publisher.send_multipart(good_command(1, f"sender-{index}"))
        last = f"sender-{10 * MAX_SENDERS - 1}"
        wait(lambda: (newest := subscriber.latest()) is not None and newest.command.sender == last)
        assert len(subscriber._last_seq) <= MAX_SENDERS


def test_3000_garbage_proposals_make_a_handful_of_log_lines(foreign, caplog) -> None:
    address, publisher = foreign
    subscriber = ProposalSubscriber(address)
    received: list[Proposal] = []
    with caplog.at_level(logging.WARNING, logger="teleop.stream"):
        try:
            step = 0
            while not received:
                publisher.send_multipart(encode_proposal(Proposal("e", step, np.zeros(3), np.zeros(7))))
                step += 1
                received += subscriber.receive(0.02)
            for start in range(0, 3000, 100):
                for index in range(start, start + 100):
                    publisher.send_multipart(garbage(index))
                deadline = time.monotonic() + 10.0
                while subscriber.malformed < start + 100 and time.monotonic() < deadline:
                    received += subscriber.receive(0.01)
            assert subscriber.malformed == 3000
        finally:
            subscriber.close()
    written = lines(caplog, "teleop.stream")
    assert len(written) <= 5 and counted(written) == 3000, written


# ---------------------------------------------------------------------------- weights and status


def test_weights_without_a_map_of_data_are_ignored(foreign) -> None:
    address, publisher = foreign
    subscriber = WeightsSubscriber(address)
    try:
        version = 0
        deadline = time.monotonic() + 10.0
        while subscriber.rejected == 0:
            assert time.monotonic() < deadline
            version += 1
            publisher.send_multipart(encode({"type": "weights", "version": version, "data": [1]}))
            assert subscriber.latest(0.02) is None
        good = None
        while good is None:
            assert time.monotonic() < deadline
            version += 1
            publisher.send_multipart(encode({"type": "weights", "version": version, "data": {"a": 1}}))
            good = subscriber.latest(0.02)
        assert good.data == {"a": 1}
    finally:
        subscriber.close()


def test_weights_larger_than_the_subscriber_takes_are_cut_off_and_it_connects_again() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    publisher = WeightsPublisher(address)
    subscriber = WeightsSubscriber(address, limits=SizeLimits(max_array_bytes=1 << 20, max_total_bytes=1 << 20))
    try:
        publisher.publish(1, {"w": np.zeros(1 << 19, np.float32)})  # 2 MiB in one frame
        deadline = time.monotonic() + 10.0
        while subscriber._redialer.redials == 0:
            assert time.monotonic() < deadline, "the subscriber was never cut off"
            publisher.poll()
            assert subscriber.latest(0.02) is None
        publisher.publish(2, {"w": np.zeros(16, np.float32)})
        weights = None
        while weights is None:
            assert time.monotonic() < deadline, "the subscriber did not connect again"
            publisher.poll()
            weights = subscriber.latest(0.02)
        assert weights.version == 2 and subscriber.rejected == 0
    finally:
        subscriber.close()
        publisher.close()


def test_status_garbage_is_counted_and_logged_a_handful_of_times(foreign, caplog) -> None:
    address, publisher = foreign
    subscriber = StatusSubscriber([address])
    status = encode({"type": "status", "source": "learner", "data": {"x": 1}})
    try:
        deadline = time.monotonic() + 10.0
        while not subscriber.poll(0.02):
            assert time.monotonic() < deadline
            publisher.send_multipart(status)
        with caplog.at_level(logging.WARNING, logger="wire.status"):
            for start in range(0, 3000, 100):
                for index in range(start, start + 100):
                    publisher.send_multipart(garbage(index))
                while subscriber.rejected < start + 100:
                    assert time.monotonic() < deadline
                    subscriber.poll(0.01)
            publisher.send_multipart(status)
            assert subscriber.poll(5.0) == {"learner": {"x": 1}}
            subscriber.close()
        written = lines(caplog, "wire.status")
        assert len(written) <= 5 and counted(written) == 3000, written
    finally:
        subscriber.close()


def test_the_rate_limited_log_counts_what_it_holds_back(caplog) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.ratelog"), interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.ratelog"):
        for index in range(3000):
            now[0] = index * 0.01  # 30 seconds in all
            limited.warning("garbage", "garbage %d", index)
        limited.warning("other", "another kind")
        limited.flush(force=True)
    written = lines(caplog, "test.ratelog")
    assert written[0] == "garbage 0" and written[1].startswith("garbage 1000 (and 999 more like it")
    assert "another kind" in written and len(written) == 5 and counted(written) == 3001
