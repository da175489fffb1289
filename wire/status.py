"""Progress reports of a process (actor, learner) for whoever watches: a terminal, a dashboard.

Latest only, best effort: {"type": "status", "source": str, "data": {...plain values}}.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import zmq

from wire.codec import WireError, decode, encode
from wire.transport import recv_frames, send_frames


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
        if secure is not None:
            secure(self._socket)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        for address in addresses:
            self._socket.connect(address)

    def poll(self, timeout: float = 0.0) -> dict[str, dict[str, Any]]:
        newest: dict[str, dict[str, Any]] = {}
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            return newest
        while self._socket.get(zmq.EVENTS) & zmq.POLLIN:
            try:
                header = decode(recv_frames(self._socket, copy=True)).header
            except WireError:
                continue
            source, data = header.get("source"), header.get("data")
            if header.get("type") == "status" and isinstance(source, str) and isinstance(data, dict):
                newest[source] = data
        return newest

    def close(self) -> None:
        self._socket.close(linger=0)
