"""One way to open a ZeroMQ socket: its options, what a peer may send it, its security, then
bind or connect. A socket that fails to open is closed, never left to block its context's end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import zmq

from wire.codec import SizeLimits
from wire.security import SocketSetup


def open_socket(
    context: zmq.Context | None,
    kind: int,
    address: str | Sequence[str],
    *,
    bind: bool,
    security: SocketSetup | None = None,
    limits: SizeLimits | int | None = None,
    sndhwm: int | None = None,
    rcvhwm: int | None = None,
    linger: int = 0,
    subscribe: bytes | None = None,
    immediate: bool = False,
    options: Mapping[int, int] | None = None,
    prepare: SocketSetup | None = None,
) -> zmq.Socket:
    """A socket of `kind` (zmq.PUB, zmq.SUB, ...) in `context` (None: the process's shared one),
    bound to or connected to `address` (or to each of several).

    `security` configures it (`wire.security.Security.setup`); `limits` is the largest frame a peer
    may send (a `SizeLimits` or bytes: ZMQ_MAXMSGSIZE, libzmq disconnects a peer that sends more);
    `sndhwm`/`rcvhwm` bound its queues (None: libzmq's default); `subscribe` makes a SUB socket
    subscribe to that prefix; `immediate` queues messages only on live connections; `options` are
    further integer socket options; `prepare` runs last before binding (e.g. to attach a monitor).
    """
    socket = (context or zmq.Context.instance()).socket(kind)
    try:
        socket.linger = linger
        if isinstance(limits, SizeLimits):
            limits.apply(socket)
        elif limits is not None:
            socket.maxmsgsize = limits
        if sndhwm is not None:
            socket.sndhwm = sndhwm
        if rcvhwm is not None:
            socket.rcvhwm = rcvhwm
        if immediate:
            socket.immediate = True
        for option, value in (options or {}).items():
            socket.setsockopt(option, value)
        if security is not None:
            security(socket)
        if subscribe is not None:
            socket.setsockopt(zmq.SUBSCRIBE, subscribe)
        if prepare is not None:
            prepare(socket)
        for each in [address] if isinstance(address, str) else address:
            if bind:
                socket.bind(each)
            else:
                socket.connect(each)
    except BaseException:
        socket.close(linger=0)
        raise
    return socket
