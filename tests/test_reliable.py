"""Reliable streams: every message exactly once, in order, through loss and restarts."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import zmq

from tests.conftest import free_port
from wire.codec import encode
from wire.reliable import ReliableReceiver
from wire.reliable_sender import QueueFull, ReliableSender, new_stream_id
from wire.transport import recv_frames, send_frames


class Collector:
    def __init__(self) -> None:
        self.received: list[tuple[str, int, int, np.ndarray]] = []

    def __call__(self, stream: str, seq: int, message) -> None:
        self.received.append((stream, seq, message.header["data"]["value"], np.array(message.arrays["x"])))


def pump(sender: ReliableSender, receiver: ReliableReceiver, until, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        receiver.poll(0.005)
        sender.poll(0.0)
    assert until(), "did not converge"


def test_messages_arrive_once_in_order_with_arrays() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    collector = Collector()
    receiver = ReliableReceiver(address, collector)
    sender = ReliableSender(address, new_stream_id("actor-1"))
    try:
        for value in range(200):
            sender.send({"value": value}, {"x": np.full(3, value, np.float32)})
        pump(sender, receiver, lambda: sender.pending == 0)
        assert [v for _, _, v, _ in collector.received] == list(range(200))
        assert all((x == v).all() for _, _, v, x in collector.received)
    finally:
        sender.close()
        receiver.close()


def test_receiver_restart_resumes_from_stored_state_without_duplicates() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    stored: list[int] = []
    expected: dict[str, int] = {}

    def store(stream: str, seq: int, message) -> None:
        stored.append(message.header["data"]["value"])
        expected[stream] = seq + 1

    sender = ReliableSender(address, new_stream_id("actor"), resend_after=0.2)
    receiver = ReliableReceiver(address, store)
    for value in range(50):
        sender.send({"value": value}, {"x": np.zeros(1, np.float32)})
    pump(sender, receiver, lambda: len(stored) == 50)
    receiver.close()  # the learner dies; the actor keeps producing
    for value in range(50, 120):
        sender.send({"value": value}, {"x": np.zeros(1, np.float32)})
    assert sender.pending >= 70
    time.sleep(0.3)
    receiver = ReliableReceiver(address, store, expected=expected)  # restarted from stored state
    try:
        pump(sender, receiver, lambda: sender.pending == 0)
        assert stored == list(range(120))
        assert sender.resends >= 1
    finally:
        sender.close()
        receiver.close()


class LossyProxy:
    """Forwards between a DEALER-side client and the receiver, dropping a share of messages
    both ways and reordering nothing (TCP would not), like a flaky link that reconnects."""

    def __init__(self, target: str, loss: float, seed: int = 0) -> None:
        self.port = free_port()
        self.loss = loss
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.target = target
        self.thread.start()

    def run(self) -> None:
        context: zmq.Context[zmq.Socket] = zmq.Context.instance()
        front = context.socket(zmq.ROUTER)
        front.bind(f"tcp://127.0.0.1:{self.port}")
        back = context.socket(zmq.DEALER)
        back.connect(self.target)
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(back, zmq.POLLIN)
        identity = None
        while not self.stop.is_set():
            events = dict(poller.poll(20))
            if front in events:
                frames = recv_frames(front, copy=True)
                identity = frames[0]
                if self.rng.random() >= self.loss:
                    send_frames(back, frames[1:])
            if back in events:
                frames = recv_frames(back, copy=True)
                if identity is not None and self.rng.random() >= self.loss:
                    send_frames(front, [identity, *frames])
        front.close(0)
        back.close(0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_lossy_link_still_delivers_everything_exactly_once(loss: float) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    collector = Collector()
    receiver = ReliableReceiver(address, collector)
    proxy = LossyProxy(address, loss)
    sender = ReliableSender(f"tcp://127.0.0.1:{proxy.port}", new_stream_id("a"), resend_after=0.1)
    try:
        for value in range(300):
            sender.send({"value": value}, {"x": np.zeros(2, np.float32)})
            receiver.poll(0.0)
            sender.poll(0.0)
        pump(sender, receiver, lambda: sender.pending == 0, timeout=60)
        assert [v for _, _, v, _ in collector.received] == list(range(300))
        assert receiver.duplicates + receiver.gaps > 0  # the loss really happened
    finally:
        sender.close()
        proxy.close()
        receiver.close()


def test_two_streams_are_independent_and_queue_is_bounded() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    collector = Collector()
    receiver = ReliableReceiver(address, collector)
    first = ReliableSender(address, new_stream_id("a"))
    second = ReliableSender(address, new_stream_id("b"), max_pending=5)
    try:
        for value in range(20):
            first.send({"value": value}, {"x": np.zeros(1, np.float32)})
        for value in range(5):
            second.send({"value": 100 + value}, {"x": np.zeros(1, np.float32)})
        with pytest.raises(QueueFull):
            second.send({"value": -1}, {"x": np.zeros(1, np.float32)})
        pump(first, receiver, lambda: first.pending == 0 and second.poll() == 0)
        by_stream: dict[str, list[int]] = {}
        for stream, _, value, _ in collector.received:
            by_stream.setdefault(stream, []).append(value)
        assert sorted(by_stream.values()) == [list(range(20)), [100, 101, 102, 103, 104]]
    finally:
        first.close()
        second.close()
        receiver.close()


def test_garbage_does_not_disturb_the_receiver() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    collector = Collector()
    receiver = ReliableReceiver(address, collector)
    junk: zmq.Socket = zmq.Context.instance().socket(zmq.DEALER)
    junk.connect(address)
    sender = ReliableSender(address, new_stream_id("a"))
    try:
        for payload in ([b"", b"\x00garbage"], [b"", b"\x81\xa1v\x92\x01\x00"], [b"nodelimiter"]):
            junk.send_multipart(payload)
        sender.send({"value": 7}, {"x": np.zeros(1, np.float32)})
        pump(sender, receiver, lambda: sender.pending == 0)
        assert [v for _, _, v, _ in collector.received] == [7]
        assert receiver.rejected >= 2
    finally:
        junk.close(0)
        sender.close()
        receiver.close()


class Store:
    """An owner that stores what `keep` allows and refuses the rest."""

    def __init__(self, keep=lambda stream: True) -> None:
        self.keep = keep
        self.stored: list[tuple[str, int]] = []

    def __call__(self, stream: str, seq: int, message) -> bool:
        if not self.keep(stream):
            return False
        self.stored.append((stream, seq))
        return True


def send_one(address: str, owner: str) -> ReliableSender:
    sender = ReliableSender(address, new_stream_id(owner), resend_after=0.05)
    sender.send({"value": 0}, {"x": np.zeros(1, np.float32)})
    return sender


def test_a_full_stream_table_refuses_a_new_stream_before_it_forgets_a_live_one() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    store = Store()
    receiver = ReliableReceiver(address, store, max_streams=2, idle_after=0.0)
    senders = [send_one(address, "a"), send_one(address, "b")]
    try:
        pump(senders[0], receiver, lambda: all(s.poll() == 0 for s in senders))
        newcomer = send_one(address, "c")
        senders.append(newcomer)
        pump(newcomer, receiver, lambda: receiver.refused_streams > 0)
        assert len(store.stored) == 2 and newcomer.pending == 1  # live state is not durable: kept
        senders[0].send({"value": 1}, {"x": np.zeros(1, np.float32)})
        pump(senders[0], receiver, lambda: senders[0].pending == 0)  # the known streams go on
        receiver.mark_durable()  # a checkpoint holds them: the longest idle may go
        pump(newcomer, receiver, lambda: newcomer.pending == 0)
        assert sorted(stream for stream, _ in store.stored).count(newcomer.stream) == 1
        assert receiver.evicted == 1 and set(receiver.expected) == {senders[0].stream, newcomer.stream}
    finally:
        for sender in senders:
            sender.close()
        receiver.close()


def test_streams_of_refused_messages_make_room_first_and_idle_ones_only_when_idle_long() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    store = Store(keep=lambda stream: not stream.startswith("junk"))
    receiver = ReliableReceiver(address, store, max_streams=2, idle_after=3600.0)
    senders = [send_one(address, "live"), send_one(address, "junk")]
    try:
        pump(senders[0], receiver, lambda: all(s.poll() == 0 for s in senders))
        receiver.mark_durable()
        senders.append(send_one(address, "new"))
        pump(senders[2], receiver, lambda: senders[2].pending == 0)  # the junk stream made room
        assert set(receiver.expected) == {senders[0].stream, senders[2].stream}
        senders.append(send_one(address, "late"))
        pump(senders[3], receiver, lambda: receiver.refused_streams > 0)  # durable, but not idle long
        assert senders[3].pending == 1 and receiver.evicted == 1
    finally:
        for sender in senders:
            sender.close()
        receiver.close()


def test_an_ack_of_what_was_never_sent_is_ignored() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    router: zmq.Socket = zmq.Context.instance().socket(zmq.ROUTER)
    router.bind(address)
    sender = send_one(address, "a")
    try:
        deadline = time.monotonic() + 5.0
        while not router.poll(0) and time.monotonic() < deadline:
            sender.poll(0.02)
        identity = router.recv_multipart()[0]
        send_frames(router, [identity, b"", *encode({"type": "ack", "stream": sender.stream, "upto": 100})])
        deadline = time.monotonic() + 5.0
        while sender.rejected == 0 and time.monotonic() < deadline:
            sender.poll(0.02)
        assert sender.rejected == 1 and sender.pending == 1
    finally:
        sender.close()
        router.close(0)
