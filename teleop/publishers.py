"""The sending sides of the teleop streams (see `teleop.stream`): the operator's command
publisher and streamer, and the actor's proposal publisher. Each binds its stream."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from typing import Any

import msgspec
import zmq

from teleop.socket_thread import SocketThread
from teleop.stream import DEFAULT_COMMANDS, DEFAULT_PROPOSALS
from wire.codec import HEADER_ONLY
from wire.operator import OperatorCommand, Proposal, encode_command, encode_proposal
from wire.security import SocketSetup
from wire.sockets import open_socket
from wire.transport import send_frames

SNDHWM = 64
"""Messages queued per subscriber (latest only: a slow one misses some)."""


def _bind(context: zmq.Context | None, address: str, secure: SocketSetup | None) -> zmq.Socket:
    # What comes in on a PUB socket is subscriptions: header-sized frames at most.
    return open_socket(context, zmq.PUB, address, bind=True, security=secure, limits=HEADER_ONLY, sndhwm=SNDHWM)


class CommandPublisher:
    """Binds the command stream and sends commands, stamping sequence, sender and send time.

    Not thread-safe: use it from one thread (`CommandStreamer` owns one in its thread)."""

    def __init__(
        self,
        address: str = DEFAULT_COMMANDS,
        *,
        secure: SocketSetup | None = None,
        context: zmq.Context | None = None,
        sender: str | None = None,
    ) -> None:
        self.address = address
        self.sender = sender or uuid.uuid4().hex[:12]
        self._seq = itertools.count(1)
        self._socket = _bind(context, address, secure)
        self.sent = 0

    def publish(self, command: OperatorCommand) -> OperatorCommand:
        stamped = msgspec.structs.replace(command, seq=next(self._seq), sender=self.sender, sent=time.monotonic())
        try:
            send_frames(self._socket, encode_command(stamped), zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            pass  # no subscriber keeps up: latest only, the next command supersedes this one
        return stamped

    def close(self) -> None:
        self._socket.close(linger=0)


class CommandStreamer(SocketThread):
    """Publishes the newest command at `rate` Hz, and immediately whenever it is updated.

    `update` may be called from any thread (a device reader); the socket lives in the
    streamer's own thread."""

    def __init__(
        self,
        address: str = DEFAULT_COMMANDS,
        *,
        rate: float = 125.0,
        secure: SocketSetup | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        if rate < 1.0:
            raise ValueError(f"rate must be at least 1 Hz, got {rate}")
        self.address = address
        self.period = 1.0 / rate
        self._secure = secure
        self._context = context or zmq.Context.instance()
        self._changed = threading.Condition()
        self._command = OperatorCommand(connected=False)
        self._dirty = False
        self._stop = threading.Event()
        self.published = 0
        self.last_published: OperatorCommand | None = None

    def update(self, command: OperatorCommand) -> None:
        with self._changed:
            self._command = command
            self._dirty = True
            self._changed.notify()

    @property
    def current(self) -> OperatorCommand:
        with self._changed:
            return self._command

    def start(self) -> CommandStreamer:
        self._launch("teleop-streamer")
        return self

    def _open(self) -> CommandPublisher:
        return CommandPublisher(self.address, secure=self._secure, context=self._context)

    def _loop(self, publisher: CommandPublisher) -> None:
        next_beat = time.monotonic()
        while not self._stop.is_set():
            with self._changed:
                while not (self._dirty or self._stop.is_set()):
                    remaining = next_beat - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                command, self._dirty = self._command, False
            self.last_published = publisher.publish(command)
            self.published += 1
            now = time.monotonic()
            if now >= next_beat:
                next_beat += self.period
                if next_beat < now:
                    next_beat = now + self.period

    def stop(self) -> None:
        with self._changed:
            self._stop.set()
            self._changed.notify()
        self._join()

    def __enter__(self) -> CommandStreamer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProposalPublisher:
    """Binds the proposal stream (the actor's side). Not thread-safe.

    The actor republishes a proposal until it is answered: the same proposal (the same object,
    unchanged since its first publication) goes out again as the frames encoded then, with the
    sequence number it got then."""

    def __init__(
        self, address: str = DEFAULT_PROPOSALS, *, secure: SocketSetup | None = None, context: zmq.Context | None = None
    ) -> None:
        self.address = address
        self._socket = _bind(context, address, secure)
        self._seq = itertools.count(1)
        self._last: Proposal | None = None
        self._frames: list[Any] = []

    def publish(self, proposal: Proposal) -> None:
        if proposal is not self._last:
            proposal.seq = next(self._seq)
            self._last, self._frames = proposal, encode_proposal(proposal)
        with contextlib.suppress(zmq.Again):  # an operator not keeping up: the actor republishes
            send_frames(self._socket, self._frames, zmq.NOBLOCK)

    def close(self) -> None:
        self._last, self._frames = None, []
        self._socket.close(linger=0)
