"""Progress reports of a process (actor, learner) for whoever watches: a terminal, a dashboard.

Latest only, best effort: {"type": "status", "source": str, "data": {...plain values}}, a
header and no arrays.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import zmq

from wire.codec import HEADER_ONLY, WireError, encode
from wire.ratelog import RateLimitedLog
from wire.redial import Redialer
from wire.transport import recv_frames, send_frames

log = logging.getLogger(__name__)

MAX_READS = 1000
"""Messages one poll reads at most, so that a flood cannot hold the caller's loop."""


class StatusPublisher:
    def __init__(
        self,
        address: str,
        source: str,
        *,
        context: zmq.Context | None = None,
        secure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self.source = source
        self._socket = (context or zmq.Context.instance()).socket(zmq.PUB)
        self._socket.linger = 0
        self._socket.sndhwm = 4
        HEADER_ONLY.apply(self._socket)  # what comes in is subscriptions
        if secure is not None:
            secure(self._socket)
        self._socket.bind(address)

    def publish(self, data: Mapping[str, Any]) -> None:
        with contextlib.suppress(zmq.Again):
            send_frames(
                self._socket, encode({"type": "status", "source": self.source, "data": dict(data)}), zmq.NOBLOCK
            )

    def close(self) -> None:
        self._socket.close(linger=0)


class StatusSubscriber:
    """Subscribes to any number of status publishers; `poll` returns the newest per source."""

    def __init__(
        self,
        addresses: list[str],
        *,
        context: zmq.Context | None = None,
        secure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.linger = 0
        HEADER_ONLY.apply(self._socket)
        if secure is not None:
            secure(self._socket)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        for address in addresses:
            self._socket.connect(address)
        self.rejected = 0
        self._log = RateLimitedLog(log)
        self._redialer = Redialer(self._socket)

    def poll(self, timeout: float = 0.0) -> dict[str, dict[str, Any]]:
        newest: dict[str, dict[str, Any]] = {}
        self._redialer.check()
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            self._log.flush()
            return newest
        for _ in range(MAX_READS):
            if not self._socket.get(zmq.EVENTS) & zmq.POLLIN:
                break
            try:
                header = HEADER_ONLY.decode(recv_frames(self._socket, copy=True)).header
            except WireError as exc:
                self._reject(exc.message)
                continue
            source, data = header.get("source"), header.get("data")
            if header.get("type") != "status" or type(source) is not str or type(data) is not dict:
                self._reject("not a status message with a string 'source' and a map 'data'")
            else:
                newest[source] = data
        return newest

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self._log.warning("rejected", "ignored a status message: %s", reason)

    def close(self) -> None:
        self._log.flush(force=True)
        self._redialer.close()
        self._socket.close(linger=0)
