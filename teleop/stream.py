"""The teleop stream (operator -> actor) and the proposal stream (actor -> simulated operators):
their addresses and their receiving sides (the sending sides are in `teleop.publishers`).

Both are ZeroMQ PUB/SUB, latest only. The operator's process binds the command stream
(default `tcp://127.0.0.1:5560`) and publishes its newest command at a fixed rate (>= 100 Hz)
and at once whenever its input changes; the actor subscribes. The actor binds the proposal
stream (default `tcp://127.0.0.1:5561`) and publishes each policy action before executing it;
simulated operators subscribe and answer on the command stream. The messages are
`wire.operator`'s.

A subscriber receives in a thread of its own and stamps each message with its own monotonic
clock on arrival, so a command is judged fresh or stale on the actor's clock, across hosts,
and a backlog can never pass for fresh input. Malformed messages are counted and dropped (and
logged at most once per `wire.ratelog` interval); a frame larger than any valid message gets its
publisher disconnected (ZMQ_MAXMSGSIZE) before it is read, and connected again (`wire.redial`).
Sockets that listen off loopback need CurveZMQ: pass `secure`, a function that configures the
socket (`wire.security.Security.setup`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import zmq

from teleop.socket_thread import SocketThread
from wire.operator import TELEOP_LIMITS, MessageError, OperatorCommand, Proposal, decode_command, decode_proposal
from wire.ratelog import RateLimitedLog
from wire.redial import Redialer
from wire.security import SocketSetup
from wire.sockets import open_socket
from wire.transport import recv_frames

DEFAULT_COMMANDS = "tcp://127.0.0.1:5560"
DEFAULT_PROPOSALS = "tcp://127.0.0.1:5561"
DEFAULT_STREAM_TIMEOUT = 0.25
"""Seconds without a command after which the operator counts as absent (no intervention)."""
MAX_SENDERS = 64
"""Publishers whose last sequence number a subscriber remembers (the most recently heard)."""

log = logging.getLogger(__name__)


def _subscribe(context: zmq.Context | None, address: str, secure: SocketSetup | None) -> zmq.Socket:
    return open_socket(context, zmq.SUB, address, bind=False, security=secure, limits=TELEOP_LIMITS, subscribe=b"")


@dataclass(frozen=True)
class Received:
    """A command as the subscriber got it."""

    command: OperatorCommand
    received: float
    """Monotonic seconds on the subscriber's clock when it arrived."""


class CommandSubscriber(SocketThread):
    """Follows the command stream; `latest()` is the newest command, or None when the stream has
    been silent longer than `timeout` (so a dead operator process can never leave a command stuck)."""

    def __init__(
        self,
        address: str = DEFAULT_COMMANDS,
        *,
        timeout: float = DEFAULT_STREAM_TIMEOUT,
        secure: SocketSetup | None = None,
        context: zmq.Context | None = None,
        answers_kept: int = 256,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.address = address
        self.timeout = timeout
        self._secure = secure
        self._context = context or zmq.Context.instance()
        self._answers_kept = answers_kept
        self._cond = threading.Condition()
        self._newest: Received | None = None
        self._answers: OrderedDict[tuple[str, int], Received] = OrderedDict()
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        self.received = 0
        self.malformed = 0
        self.last_error = ""
        self._log = RateLimitedLog(log)
        self._launch("teleop-subscriber")

    def _open(self) -> zmq.Socket:
        return _subscribe(self._context, self.address, self._secure)

    def _loop(self, socket: zmq.Socket) -> None:
        redialer = Redialer(socket)
        try:
            while not self._stop.is_set():
                redialer.check()
                if not socket.poll(50, zmq.POLLIN):
                    self._log.flush()
                    continue
                frames = recv_frames(socket, copy=True)
                arrived = time.monotonic()
                try:
                    command = decode_command(frames)
                except MessageError as exc:
                    self._reject(str(exc))
                    continue
                self._accept(Received(command, arrived))
        finally:
            redialer.close()

    def _reject(self, error: str) -> None:
        with self._cond:
            self.malformed += 1
            self.last_error = error
        self._log.warning("malformed", "dropped a malformed teleop command: %s", error)

    def _accept(self, received: Received) -> None:
        command = received.command
        with self._cond:
            if command.seq <= self._last_seq.get(command.sender, 0):
                return  # a duplicate or a reordered old command
            self._last_seq[command.sender] = command.seq
            self._last_seq.move_to_end(command.sender)
            if len(self._last_seq) > MAX_SENDERS:
                self._last_seq.popitem(last=False)
            self.received += 1
            self._newest = received
            if command.step >= 0:
                self._answers[(command.episode, command.step)] = received
                while len(self._answers) > self._answers_kept:
                    self._answers.popitem(last=False)
            self._cond.notify_all()

    def latest(self, now: float | None = None) -> Received | None:
        """The newest command if it arrived within `timeout`; None when the stream is silent."""
        now = time.monotonic() if now is None else now
        with self._cond:
            newest = self._newest
        if newest is None or now - newest.received > self.timeout:
            return None
        return newest

    def wait_newer(self, than: Received | None, timeout: float) -> Received | None:
        """Wait up to `timeout` for a command that arrived after `than`; the newest, or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._newest is None or self._newest is than:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._newest

    def wait_for(self, episode: str, step: int, timeout: float) -> Received | None:
        """Wait up to `timeout` for the command that answers proposal (episode, step)."""
        deadline = time.monotonic() + timeout
        key = (episode, step)
        with self._cond:
            while key not in self._answers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._answers[key]

    def close(self) -> None:
        self._join()
        self._log.flush(force=True)

    def __enter__(self) -> CommandSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProposalSubscriber:
    """Receives proposals in order (a simulated operator answers each). Not thread-safe."""

    def __init__(
        self, address: str = DEFAULT_PROPOSALS, *, secure: SocketSetup | None = None, context: zmq.Context | None = None
    ) -> None:
        self.address = address
        self._socket = _subscribe(context, address, secure)
        self.malformed = 0
        self._log = RateLimitedLog(log)
        self._redialer = Redialer(self._socket)

    def receive(self, timeout: float) -> Iterator[Proposal]:
        """The proposals that arrive within `timeout` seconds of waiting (all that are queued)."""
        self._redialer.check()
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            self._log.flush()
            return
        while True:
            try:
                frames = recv_frames(self._socket, zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            try:
                yield decode_proposal(frames)
            except MessageError as exc:
                self.malformed += 1
                self._log.warning("malformed", "dropped a malformed proposal: %s", exc)

    def close(self) -> None:
        self._log.flush(force=True)
        self._redialer.close()
        self._socket.close(linger=0)
