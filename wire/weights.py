"""Policy weights from the learner to the actors: named arrays, versioned, latest only.

The learner's `WeightsPublisher` (XPUB) sends each new version once and again to every
new subscriber, so an actor that starts (or reconnects) later still gets the newest
weights without waiting for the next version. `WeightsSubscriber.latest()` drains what
arrived and keeps only the newest version; older or repeated versions are ignored.
Weights travel as plain numeric arrays described in the header (no pickle).

Header (`WeightsMessage`): {"type": "weights", "version": int, "data": {...}} plus one frame per array.

A subscriber takes weights up to `WEIGHTS_LIMITS` by default (generous: far above the largest
policy the learner builds); a caller that knows its policy's size may pass tighter limits.
The publisher answers a burst of new subscriptions with one send (at most every `JOIN_RESEND_S`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import numpy as np
import zmq

from wire.codec import HEADER_ONLY, MAX_ARRAY_BYTES, MAX_ARRAYS, SizeLimits, WireError, encode
from wire.ratelog import RateLimitedLog
from wire.redial import Redialer
from wire.schema import checked
from wire.security import SocketSetup
from wire.sockets import open_socket
from wire.transport import readable, recv_frames, send_frames

log = logging.getLogger(__name__)

WEIGHTS_LIMITS = SizeLimits(max_arrays=MAX_ARRAYS, max_array_bytes=MAX_ARRAY_BYTES, max_total_bytes=1 << 30)
"""A policy of up to 1 GiB: a ResNet-18 encoder per camera is about 45 MB, its largest tensor 9.4 MB."""
JOIN_RESEND_S = 0.2
"""New subscribers within this long of a send share the next one."""
MAX_READS = 64
"""Messages one call reads at most, so that a flood cannot hold the caller's loop."""


class WeightsMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The header of a weights message; the arrays are its frames."""

    type: Literal["weights"] = "weights"
    version: int
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    """The policy's settings, the publish time: plain values."""


@dataclass
class Weights:
    version: int
    arrays: dict[str, np.ndarray]
    data: dict[str, Any] = field(default_factory=dict)
    received: float = 0.0
    """Monotonic time the subscriber received them."""


class WeightsPublisher:
    def __init__(
        self,
        address: str,
        *,
        context: zmq.Context | None = None,
        secure: SocketSetup | None = None,
    ) -> None:
        # What comes in is (un)subscriptions: header-sized; XPUB_VERBOSE: hear every new subscriber.
        self._socket = open_socket(
            context,
            zmq.XPUB,
            address,
            bind=True,
            security=secure,
            limits=HEADER_ONLY,
            sndhwm=2,
            options={zmq.XPUB_VERBOSE: 1},
        )
        self._latest: list[Any] | None = None
        self.version = -1
        self.subscriptions = 0
        self._joined = False
        self._last_send = -JOIN_RESEND_S

    def publish(self, version: int, arrays: Mapping[str, np.ndarray], data: Mapping[str, Any] | None = None) -> None:
        if version <= self.version:
            raise ValueError(f"weights version {version} is not above the last published ({self.version})")
        header = WeightsMessage(version=version, data=dict(data or {}))
        frames = encode(msgspec.structs.asdict(header), arrays)
        self._latest = [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames]
        self.version = version
        self._send()

    def _send(self) -> None:
        self._joined = False
        self._last_send = time.monotonic()
        if self._latest is not None:
            with contextlib.suppress(zmq.Again):  # a slow subscriber gets the next version
                send_frames(self._socket, self._latest, zmq.NOBLOCK)

    def poll(self) -> None:
        """Serve new subscribers the newest version; call regularly."""
        for _ in range(MAX_READS):
            if not readable(self._socket):
                break
            message = self._socket.recv()
            if message[:1] == b"\x01":
                self.subscriptions += 1
                self._joined = True
        if self._joined and time.monotonic() - self._last_send >= JOIN_RESEND_S:
            self._send()

    def close(self) -> None:
        self._socket.close(linger=0)


class WeightsSubscriber:
    def __init__(
        self,
        address: str,
        *,
        context: zmq.Context | None = None,
        secure: SocketSetup | None = None,
        limits: SizeLimits = WEIGHTS_LIMITS,
    ) -> None:
        self.limits = limits
        self._socket = open_socket(
            context, zmq.SUB, address, bind=False, security=secure, limits=limits, rcvhwm=2, subscribe=b""
        )
        self.version = -1
        self.rejected = 0
        self._log = RateLimitedLog(log)
        self._redialer = Redialer(self._socket)

    def latest(self, timeout: float = 0.0) -> Weights | None:
        """The newest weights newer than the last returned ones, waiting up to `timeout`
        for any message; None if nothing newer came."""
        newest: Weights | None = None
        self._redialer.check()
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            self._log.flush()
            return None
        for _ in range(MAX_READS):
            if not readable(self._socket):
                break
            frames = recv_frames(self._socket)
            try:
                message = self.limits.decode(frames)
            except WireError as exc:
                self._reject(exc.message)
                continue
            try:
                header = checked(message.header, WeightsMessage, ValueError, "not a weights message")
            except ValueError as exc:
                self._reject(str(exc))
                continue
            if header.version > self.version and (newest is None or header.version > newest.version):
                newest = Weights(header.version, message.arrays, header.data, time.monotonic())
        if newest is not None:
            self.version = newest.version
        return newest

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self._log.warning("rejected", "ignored a weights message: %s", reason)

    def close(self) -> None:
        self._log.flush(force=True)
        self._redialer.close()
        self._socket.close(linger=0)
