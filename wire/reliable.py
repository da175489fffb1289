"""At-least-once delivery with deduplication: every message arrives exactly once, in order,
across reconnects and restarts of either side.

A `ReliableSender` (DEALER) numbers the messages of its *stream* 0, 1, 2, ... and keeps
each until it is acknowledged; a `ReliableReceiver` (ROUTER) hands each message to its
owner exactly once, in order, and acknowledges cumulatively ("everything up to seq n is
stored"). The protocol is go-back-N: the receiver accepts only the next expected seq of a
stream, re-acknowledges duplicates and drops messages beyond a gap, and the sender resends
everything unacknowledged after `resend_after` seconds without progress (a lost link, a
restarted receiver).

Exactly-once across a *receiver* restart needs the receiver's owner to store what it acks
(e.g. a write-ahead log) and to hand the next expected seq of every stream back to a new
receiver. Exactly-once across a *sender* restart holds because a restarted sender is a new
stream (its id carries a fresh incarnation); what it had not sent is its owner's to keep.

Header of a data message: {"type": "msg", "stream": str, "seq": int, "data": {...}} plus the
message's arrays. Ack: {"type": "ack", "stream": str, "upto": int} (-1: nothing yet).

The receiver's table of streams has a bound (`max_streams`). When it is full, a new stream takes
the place of one whose forgetting cannot break exactly-once: first a stream whose messages its
owner all refused (a resent one is refused again), else the longest idle of those idle for
`idle_after` seconds whose state the owner has made durable (`mark_durable`): a sender resends
only what is unacknowledged, and one idle that long has had its acknowledgements or is gone. With
none of either, the new stream is refused (not acknowledged; its sender retries later) rather
than a live one forgotten.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from wire.codec import HEADER_ONLY, Message, SizeLimits, WireError, encode
from wire.ratelog import RateLimitedLog
from wire.transport import recv_frames, send_frames

log = logging.getLogger(__name__)


GAP_RESEND_S = 0.2
MAX_STREAMS = 4096
STREAM_IDLE_S = 3600.0
MAX_STREAM_ID = 256
EVICTION_SCAN = 16
"""Idle durable streams looked at, oldest first, to make room for a new one."""


class QueueFull(RuntimeError):
    """The sender holds `max_pending` unacknowledged messages; the receiver is not keeping up."""


@dataclass
class _Pending:
    seq: int
    frames: list[Any]


def new_stream_id(owner: str) -> str:
    """A stream id for one incarnation of a sender (owner id + random suffix)."""
    return f"{owner}/{uuid.uuid4().hex[:12]}"


class ReliableSender:
    """Sends numbered messages of one stream and resends until acknowledged."""

    def __init__(
        self,
        address: str,
        stream: str,
        *,
        max_pending: int = 10_000,
        resend_after: float = 1.0,
        context: zmq.Context | None = None,
        secure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self.address = address
        self.stream = stream
        self.max_pending = max_pending
        self.resend_after = resend_after
        self._context = context or zmq.Context.instance()
        self._secure = secure
        self._pending: collections.deque[_Pending] = collections.deque()
        self._next_seq = 0
        self.acked_upto = -1
        self._last_progress = time.monotonic()
        self._last_resend = 0.0
        self.resends = 0
        self.rejected = 0
        self._log = RateLimitedLog(log)
        self._socket = self._open()

    def _open(self) -> zmq.Socket:
        socket = self._context.socket(zmq.DEALER)
        socket.linger = 0
        HEADER_ONLY.apply(socket)
        # Queue only on live connections, so that resends do not pile up in zmq while the
        # receiver is away; the pending deque is the one place messages wait.
        socket.immediate = True
        socket.sndhwm = self.max_pending
        if self._secure is not None:
            self._secure(socket)
        socket.connect(self.address)
        return socket

    @property
    def pending(self) -> int:
        """Messages sent or queued but not yet acknowledged."""
        return len(self._pending)

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def send(self, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> int:
        """Queue and send one message; returns its seq. Raises QueueFull instead of blocking."""
        self.poll()
        if len(self._pending) >= self.max_pending:
            raise QueueFull(f"{len(self._pending)} messages of stream {self.stream} await acknowledgement")
        seq = self._next_seq
        frames = encode({"type": "msg", "stream": self.stream, "seq": seq, "data": dict(data)}, arrays)
        # Keep our own copy of array frames: callers may reuse their buffers.
        frames = [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames]
        self._pending.append(_Pending(seq, frames))
        self._next_seq += 1
        self._transmit(frames)
        return seq

    def _transmit(self, frames: list[Any]) -> None:
        with contextlib.suppress(zmq.Again):  # no live connection: the resend timer retries
            send_frames(self._socket, [b"", *frames], zmq.NOBLOCK)

    def poll(self, timeout: float = 0.0) -> int:
        """Read acknowledgements (waiting up to `timeout` for the first), resend when stalled.
        Returns the number of messages still pending."""
        deadline = time.monotonic() + timeout
        while True:
            wait = max(0.0, deadline - time.monotonic())
            if not self._socket.poll(int(wait * 1000), zmq.POLLIN):
                break
            while self._socket.get(zmq.EVENTS) & zmq.POLLIN:
                self._handle_ack(recv_frames(self._socket, copy=True))
            if not self._pending or time.monotonic() >= deadline:
                break
        if self._pending and time.monotonic() - self._last_progress > self.resend_after:
            self._resend_all()
        return len(self._pending)

    def _handle_ack(self, frames: list[Any]) -> None:
        try:
            message = HEADER_ONLY.decode(frames[1:] if frames and len(frames[0]) == 0 else frames)
        except WireError as exc:
            self.rejected += 1
            self._log.warning("ack", "stream %s: unreadable ack: %s", self.stream, exc)
            return
        header = message.header
        upto = header.get("upto")
        if header.get("type") != "ack" or header.get("stream") != self.stream or type(upto) is not int:
            return
        if upto >= self._next_seq:
            self.rejected += 1
            self._log.warning("ack", "stream %s: ack of seq %d, never sent; ignored", self.stream, upto)
            return
        if upto > self.acked_upto:
            self.acked_upto = upto
            self._last_progress = time.monotonic()
        while self._pending and self._pending[0].seq <= self.acked_upto:
            self._pending.popleft()
        # The receiver misses an earlier message: go back at once (at most every GAP_RESEND_S,
        # since every message that follows a lost one reports the same gap).
        if header.get("gap") is True and self._pending and time.monotonic() - self._last_resend > GAP_RESEND_S:
            self._resend_all()

    def _resend_all(self) -> None:
        """Go back N: the receiver lost or never had these (reconnect, restart)."""
        for pending in self._pending:
            self._transmit(pending.frames)
        self.resends += 1
        self._last_progress = self._last_resend = time.monotonic()

    def flush(self, timeout: float) -> bool:
        """Wait until everything is acknowledged; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            self.poll(min(0.05, max(0.0, deadline - time.monotonic())))
        return not self._pending

    def close(self) -> None:
        self._log.flush(force=True)
        self._socket.close(linger=0)


Deliver = Callable[[str, int, Message], bool | None]
"""Called once per message, in order per stream: (stream, seq, message). Returns False when the
owner refused the message (stored nothing of it), anything else when it stored it."""


@dataclass
class _Stream:
    expected: int
    """Next seq to accept."""
    seen: float
    """Monotonic time of its last message."""
    durable: int = -1
    """`expected` when the owner last made its state durable; -1: never."""


class ReliableReceiver:
    """Receives the streams of any number of senders; delivers each message once, in order.

    `expected` gives, per stream, the next seq to accept (for a receiver restarted from its
    owner's stored state); unknown streams start at 0. Acks go out after a batch of messages
    has been delivered and `commit` (if given) has returned, so an owner that stores messages
    in `deliver` and makes them durable in `commit` acknowledges only what it stored. `limits`
    bound what one message may hold (and so the socket's frame size).
    """

    def __init__(
        self,
        address: str,
        deliver: Deliver,
        *,
        expected: Mapping[str, int] | None = None,
        commit: Callable[[], None] | None = None,
        context: zmq.Context | None = None,
        secure: Callable[[zmq.Socket], None] | None = None,
        bind: bool = True,
        limits: SizeLimits | None = None,
        max_streams: int = MAX_STREAMS,
        idle_after: float = STREAM_IDLE_S,
    ) -> None:
        self.deliver = deliver
        self.commit = commit
        self.limits = limits or SizeLimits()
        self.max_streams = max_streams
        self.idle_after = idle_after
        now = time.monotonic()
        # Streams whose owner stored something, and those whose every message it refused; each
        # in order of their last message, oldest first.
        self._stored: collections.OrderedDict[str, _Stream] = collections.OrderedDict(
            (stream, _Stream(seq, now, seq)) for stream, seq in (expected or {}).items()
        )
        self._refused: collections.OrderedDict[str, _Stream] = collections.OrderedDict()
        self.duplicates = 0
        self.gaps = 0
        self.rejected = 0
        self.evicted = 0
        self.refused_streams = 0
        self._log = RateLimitedLog(log)
        self._socket = (context or zmq.Context.instance()).socket(zmq.ROUTER)
        self._socket.linger = 0
        self.limits.apply(self._socket)
        if secure is not None:
            secure(self._socket)
        if bind:
            self._socket.bind(address)
        else:
            self._socket.connect(address)

    @property
    def socket(self) -> zmq.Socket:
        return self._socket

    @property
    def expected(self) -> dict[str, int]:
        """The next seq to accept, per stream the receiver knows."""
        return {stream: state.expected for table in (self._stored, self._refused) for stream, state in table.items()}

    def mark_durable(self) -> None:
        """The owner has stored the state of every stream durably (a checkpoint)."""
        for state in self._stored.values():
            state.durable = state.expected

    def poll(self, timeout: float = 0.0, max_messages: int = 1000) -> int:
        """Handle waiting messages (waiting up to `timeout` for the first), commit, then
        acknowledge; returns how many were delivered."""
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            self._log.flush()
            return 0
        delivered = 0
        acks: dict[tuple[bytes, str], bool] = {}  # (peer, stream) -> a gap was seen
        for _ in range(max_messages):
            if not self._socket.get(zmq.EVENTS) & zmq.POLLIN:
                break
            frames = recv_frames(self._socket, copy=True)
            delivered += self._handle(frames, acks)
        if delivered and self.commit is not None:
            self.commit()
        for (identity, stream), gap in acks.items():
            ack = {"type": "ack", "stream": stream, "upto": self._expected(stream) - 1, "gap": gap}
            send_frames(self._socket, [identity, b"", *encode(ack)])
        return delivered

    def _expected(self, stream: str) -> int:
        state = self._stored.get(stream) or self._refused.get(stream)
        return 0 if state is None else state.expected

    def _handle(self, frames: list[Any], acks: dict[tuple[bytes, str], bool]) -> int:
        identity = frames[0]
        payload = frames[2:] if len(frames) > 1 and len(frames[1]) == 0 else frames[1:]
        try:
            message = self.limits.decode(payload)
        except WireError as exc:
            self.rejected += 1
            self._log.warning("unreadable", "dropped an unreadable message: %s", exc)
            return 0
        header = message.header
        stream, seq = header.get("stream"), header.get("seq")
        if header.get("type") != "msg" or type(stream) is not str or type(seq) is not int:
            self.rejected += 1
            self._log.warning("unreadable", "dropped a message that is no numbered stream message")
            return 0
        if not 0 < len(stream) <= MAX_STREAM_ID:
            self.rejected += 1
            self._log.warning("unreadable", "dropped a message whose stream id is not 1 to %d long", MAX_STREAM_ID)
            return 0
        state = self._touch(stream)
        expected = 0 if state is None else state.expected
        key = (identity, stream)
        if seq == expected:
            if state is None:
                state = self._admit(stream)
                if state is None:
                    return 0
            stored = self.deliver(stream, seq, message) is not False
            state.expected = expected + 1
            if stored and stream in self._refused:
                self._stored[stream] = self._refused.pop(stream)
            acks.setdefault(key, False)
            return 1
        if seq < expected:
            self.duplicates += 1
            acks.setdefault(key, False)
        else:
            self.gaps += 1
            acks[key] = True
        return 0

    def _touch(self, stream: str) -> _Stream | None:
        for table in (self._stored, self._refused):
            state = table.get(stream)
            if state is not None:
                table.move_to_end(stream)
                state.seen = time.monotonic()
                return state
        return None

    def _admit(self, stream: str) -> _Stream | None:
        """A new stream's state, once there is room for it; None when there is none."""
        while len(self._stored) + len(self._refused) >= self.max_streams:
            if not self._forget_one():
                self.refused_streams += 1
                self._log.warning(
                    "full", "refused new stream %s: %d live streams fill the table", stream, self.max_streams
                )
                return None
        state = self._refused[stream] = _Stream(0, time.monotonic())
        return state

    def _forget_one(self) -> bool:
        if self._refused:
            self._refused.popitem(last=False)
            self.evicted += 1
            return True
        now = time.monotonic()
        for stream, state in itertools.islice(self._stored.items(), EVICTION_SCAN):
            if now - state.seen < self.idle_after:
                return False  # the rest were heard from later still
            if state.durable == state.expected:
                del self._stored[stream]
                self.evicted += 1
                return True
        return False

    def close(self) -> None:
        self._log.flush(force=True)
        self._socket.close(linger=0)
