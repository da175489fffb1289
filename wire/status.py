"""Progress reports of a process (actor, learner) for whoever watches: a terminal, a dashboard.

Latest only, best effort: {"type": "status", "source": str, "data": {...plain values}}
(`StatusMessage`), a header and no arrays.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Literal

import msgspec
import zmq

from wire.codec import HEADER_ONLY, WireError, encode
from wire.ratelog import RateLimitedLog
from wire.redial import Redialer
from wire.schema import checked
from wire.security import SocketSetup
from wire.sockets import open_socket
from wire.transport import readable, recv_frames, send_frames

log = logging.getLogger(__name__)

MAX_READS = 1000
"""Messages one poll reads at most, so that a flood cannot hold the caller's loop."""


class StatusMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A status message: a header and no arrays."""

    type: Literal["status"] = "status"
    source: str
    """Who reports: "learner", an actor's id."""
    data: dict[str, Any]
    """The figures: plain values."""


class StatusPublisher:
    def __init__(
        self,
        address: str,
        source: str,
        *,
        context: zmq.Context | None = None,
        secure: SocketSetup | None = None,
    ) -> None:
        self.source = source
        # What comes in is subscriptions: header-sized.
        self._socket = open_socket(context, zmq.PUB, address, bind=True, security=secure, limits=HEADER_ONLY, sndhwm=4)

    def publish(self, data: Mapping[str, Any]) -> None:
        with contextlib.suppress(zmq.Again):
            header = StatusMessage(source=self.source, data=dict(data))
            send_frames(self._socket, encode(msgspec.structs.asdict(header)), zmq.NOBLOCK)

    def close(self) -> None:
        self._socket.close(linger=0)


class StatusSubscriber:
    """Subscribes to any number of status publishers; `poll` returns the newest per source."""

    def __init__(
        self,
        addresses: list[str],
        *,
        context: zmq.Context | None = None,
        secure: SocketSetup | None = None,
    ) -> None:
        self._socket = open_socket(
            context, zmq.SUB, addresses, bind=False, security=secure, limits=HEADER_ONLY, subscribe=b""
        )
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
            if not readable(self._socket):
                break
            try:
                header = HEADER_ONLY.decode(recv_frames(self._socket, copy=True)).header
            except WireError as exc:
                self._reject(exc.message)
                continue
            try:
                status = checked(header, StatusMessage, ValueError, "not a status message")
            except ValueError as exc:
                self._reject(str(exc))
            else:
                newest[status.source] = status.data
        return newest

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self._log.warning("rejected", "ignored a status message: %s", reason)

    def close(self) -> None:
        self._log.flush(force=True)
        self._redialer.close()
        self._socket.close(linger=0)
