"""Connecting a socket again where libzmq gives up on a peer.

libzmq reconnects a connecting socket whose connection was lost, but not one whose peer broke
the protocol, a frame over ZMQ_MAXMSGSIZE included: without this, one oversized frame from
whoever holds an address would cut a subscriber off from that address for good.
"""

from __future__ import annotations

import contextlib
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

REDIAL_INTERVAL = 0.1
"""Seconds between two connections to one endpoint (libzmq's own reconnect interval)."""


class Redialer:
    """Watches a connecting socket; `check()` (cheap: call it from the receiving loop) connects
    again to every endpoint it lost, at most every `REDIAL_INTERVAL` per endpoint."""

    def __init__(self, socket: zmq.Socket) -> None:
        self._socket = socket
        self._monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._due: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self.redials = 0

    def check(self) -> None:
        while self._monitor.poll(0):
            endpoint = recv_monitor_message(self._monitor)["endpoint"].decode()
            self._due[endpoint] = self._last.get(endpoint, -REDIAL_INTERVAL) + REDIAL_INTERVAL
        now = time.monotonic()
        for endpoint, due in list(self._due.items()):
            if due <= now:
                del self._due[endpoint]
                self._last[endpoint] = now
                with contextlib.suppress(zmq.ZMQError):  # libzmq may have forgotten it already
                    self._socket.disconnect(endpoint)
                self._socket.connect(endpoint)
                self.redials += 1

    def close(self) -> None:
        """Stop watching; before the socket closes."""
        with contextlib.suppress(zmq.ZMQError):
            self._socket.disable_monitor()
        self._monitor.close(linger=0)
