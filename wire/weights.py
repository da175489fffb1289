"""Policy weights from the learner to the actors: named arrays, versioned, latest only.

The learner's `WeightsPublisher` (XPUB) sends each new version once and again to every
new subscriber, so an actor that starts (or reconnects) later still gets the newest
weights without waiting for the next version. `WeightsSubscriber.latest()` drains what
arrived and keeps only the newest version; older or repeated versions are ignored.
Weights travel as plain numeric arrays described in the header (no pickle).

Header: {"type": "weights", "version": int, "data": {...}} plus one frame per array.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from wire.codec import WireError, decode, encode
from wire.transport import recv_frames, send_frames


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
        secure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self._socket = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self._socket.linger = 0
        self._socket.sndhwm = 2
        self._socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # hear every new subscriber
        if secure is not None:
            secure(self._socket)
        self._socket.bind(address)
        self._latest: list[Any] | None = None
        self.version = -1
        self.subscriptions = 0

    def publish(self, version: int, arrays: Mapping[str, np.ndarray], data: Mapping[str, Any] | None = None) -> None:
        if version <= self.version:
            raise ValueError(f"weights version {version} is not above the last published ({self.version})")
        frames = encode({"type": "weights", "version": version, "data": dict(data or {})}, arrays)
        self._latest = [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames]
        self.version = version
        self._send()

    def _send(self) -> None:
        if self._latest is not None:
            with contextlib.suppress(zmq.Again):  # a slow subscriber gets the next version
                send_frames(self._socket, self._latest, zmq.NOBLOCK)

    def poll(self) -> None:
        """Serve new subscribers the newest version; call regularly."""
        joined = False
        while self._socket.get(zmq.EVENTS) & zmq.POLLIN:
            message = self._socket.recv()
            if message[:1] == b"\x01":
                self.subscriptions += 1
                joined = True
        if joined:
            self._send()

    def close(self) -> None:
        self._socket.close(linger=0)


class WeightsSubscriber:
    def __init__(
        self,
        address: str,
        *,
        context: zmq.Context | None = None,
        secure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.linger = 0
        self._socket.rcvhwm = 2
        if secure is not None:
            secure(self._socket)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._socket.connect(address)
        self.version = -1
        self.rejected = 0

    def latest(self, timeout: float = 0.0) -> Weights | None:
        """The newest weights newer than the last returned ones, waiting up to `timeout`
        for any message; None if nothing newer came."""
        newest: Weights | None = None
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            return None
        while self._socket.get(zmq.EVENTS) & zmq.POLLIN:
            frames = recv_frames(self._socket)
            try:
                message = decode(frames)
            except WireError:
                self.rejected += 1
                continue
            version = message.header.get("version")
            if message.header.get("type") != "weights" or type(version) is not int:
                self.rejected += 1
                continue
            if version > self.version and (newest is None or version > newest.version):
                newest = Weights(version, message.arrays, message.header.get("data") or {}, time.monotonic())
        if newest is not None:
            self.version = newest.version
        return newest

    def close(self) -> None:
        self._socket.close(linger=0)
