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

Header of a data message (`StreamMessage`): {"type": "msg", "stream": str, "seq": int, "data":
{...}} plus the message's arrays. `Ack`: {"type": "ack", "stream": str, "upto": int (-1: nothing
yet), "gap": bool}. The sender is `wire.reliable_sender.ReliableSender`; this module holds the
messages and the receiver.

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
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import zmq

from wire.codec import Message, SizeLimits, WireError, encode
from wire.ratelog import RateLimitedLog
from wire.schema import checked
from wire.security import SocketSetup
from wire.sockets import open_socket
from wire.transport import readable, recv_frames, send_frames

log = logging.getLogger(__name__)

MAX_STREAMS = 4096
STREAM_IDLE_S = 3600.0
MAX_STREAM_ID = 256
EVICTION_SCAN = 16
"""Idle durable streams looked at, oldest first, to make room for a new one."""


class StreamMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The header of a data message: one of a stream's numbered messages."""

    type: Literal["msg"] = "msg"
    stream: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_STREAM_ID)]
    seq: int
    data: Any = None
    """The owner's (who checks it)."""


class Ack(msgspec.Struct, frozen=True, kw_only=True):
    """Everything of `stream` up to `upto` is stored; `gap`: a later message came, an earlier is missing."""

    type: Literal["ack"] = "ack"
    stream: str
    upto: int
    gap: bool = False


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
        secure: SocketSetup | None = None,
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
        self._socket = open_socket(context, zmq.ROUTER, address, bind=bind, security=secure, limits=self.limits)

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
            if not readable(self._socket):
                break
            frames = recv_frames(self._socket, copy=True)
            delivered += self._handle(frames, acks)
        if delivered and self.commit is not None:
            self.commit()
        for (identity, stream), gap in acks.items():
            ack = Ack(stream=stream, upto=self._expected(stream) - 1, gap=gap)
            send_frames(self._socket, [identity, b"", *encode(msgspec.structs.asdict(ack))])
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
        try:
            envelope = checked(message.header, StreamMessage, ValueError, "no numbered stream message")
        except ValueError as exc:
            self.rejected += 1
            self._log.warning("unreadable", "dropped a message: %s", exc)
            return 0
        stream, seq = envelope.stream, envelope.seq
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
