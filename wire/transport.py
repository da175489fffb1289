"""Sending and receiving the frames of one message on a ZeroMQ socket, with less Python
per frame than pyzmq's generic `send_multipart`/`recv_multipart`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import zmq

_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def send_frames(socket: zmq.Socket, frames: Sequence[Any], flags: int = 0) -> None:
    """Send frames (bytes or buffers) as one message. Buffers under pyzmq's copy threshold
    are copied, larger ones are sent without a copy and must not change until sent."""
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        socket.send(frame, flags | _SNDMORE if index < last else flags, copy=False)


def recv_frames(socket: zmq.Socket, flags: int = 0, copy: bool = False) -> list[Any]:
    """Receive every frame of one message. The first frame (a small header) comes as
    bytes; the others as zmq.Frame views without a copy, or as bytes with `copy`."""
    frames: list[Any] = [socket.recv(flags, copy=True)]
    while socket.get(_RCVMORE):
        frames.append(socket.recv(flags, copy=copy))
    return frames


def readable(socket: zmq.Socket) -> bool:
    """A message waits on `socket` (its ZMQ_EVENTS, without polling)."""
    return bool(cast(int, socket.get(_EVENTS)) & _POLLIN)
