"""The sending side of the reliable streams (`wire.reliable`): numbers the messages of one stream,
keeps each until it is acknowledged, and resends what is not."""

from __future__ import annotations

import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import zmq

from wire.codec import HEADER_ONLY, WireError, encode
from wire.ratelog import RateLimitedLog
from wire.reliable import Ack, StreamMessage
from wire.security import SocketSetup
from wire.sockets import open_socket
from wire.transport import readable, recv_frames, send_frames

log = logging.getLogger(__name__)

GAP_RESEND_S = 0.2
"""Shortest time between two resends for gaps the receiver reports."""


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
        secure: SocketSetup | None = None,
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
        # Queue only on live connections, so that resends do not pile up in zmq while the
        # receiver is away; the pending deque is the one place messages wait. What comes in
        # is acks: headers only.
        return open_socket(
            self._context,
            zmq.DEALER,
            self.address,
            bind=False,
            security=self._secure,
            limits=HEADER_ONLY,
            sndhwm=self.max_pending,
            immediate=True,
        )

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
        envelope = StreamMessage(stream=self.stream, seq=seq, data=dict(data))
        frames = encode(msgspec.structs.asdict(envelope), arrays)
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
            while readable(self._socket):
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
        try:
            ack = msgspec.convert(message.header, Ack)
        except msgspec.ValidationError:
            return
        if ack.stream != self.stream:
            return
        upto = ack.upto
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
        if ack.gap and self._pending and time.monotonic() - self._last_resend > GAP_RESEND_S:
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
