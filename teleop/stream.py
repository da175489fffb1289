"""The teleop stream (operator -> actor) and the proposal stream (actor -> simulated operators).

Both are ZeroMQ PUB/SUB, latest only. The operator's process binds the command stream
(default `tcp://127.0.0.1:5560`) and publishes its newest command at a fixed rate (>= 100 Hz)
and at once whenever its input changes; the actor subscribes. The actor binds the proposal
stream (default `tcp://127.0.0.1:5561`) and publishes each policy action before executing it;
simulated operators subscribe and answer on the command stream.

A subscriber receives in a thread of its own and stamps each message with its own monotonic
clock on arrival, so a command is judged fresh or stale on the actor's clock, across hosts,
and a backlog can never pass for fresh input. Malformed messages are counted and dropped (and
logged at most once per `wire.ratelog` interval); a frame larger than any valid message gets its
publisher disconnected (ZMQ_MAXMSGSIZE) before it is read, and connected again (`wire.redial`).
Sockets that listen off loopback need CurveZMQ: pass `secure`, a function that configures the
socket (the `rlif` entry points build it from `wire.security`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import zmq

from teleop.command import (
    TELEOP_LIMITS,
    MessageError,
    OperatorCommand,
    Proposal,
    decode_command,
    decode_proposal,
    encode_command,
    encode_proposal,
)
from wire.codec import HEADER_ONLY
from wire.ratelog import RateLimitedLog
from wire.redial import Redialer
from wire.transport import recv_frames, send_frames

DEFAULT_COMMANDS = "tcp://127.0.0.1:5560"
DEFAULT_PROPOSALS = "tcp://127.0.0.1:5561"
DEFAULT_STREAM_TIMEOUT = 0.25
"""Seconds without a command after which the operator counts as absent (no intervention)."""
MAX_SENDERS = 64
"""Publishers whose last sequence number a subscriber remembers (the most recently heard)."""

SocketSetup = Callable[[zmq.Socket], None]
log = logging.getLogger(__name__)


def _bind(context: zmq.Context, kind: int, address: str, secure: SocketSetup | None) -> zmq.Socket:
    socket = context.socket(kind)
    try:
        socket.linger = 0
        socket.sndhwm = 64
        HEADER_ONLY.apply(socket)  # what comes in is subscriptions
        if secure is not None:
            secure(socket)
        socket.bind(address)
    except BaseException:
        socket.close(linger=0)
        raise
    return socket


class _SocketThread:
    """A daemon thread that owns one socket: `_launch` starts it, waits until the socket is open
    and re-raises a failure to open it; `_stop` ends the loop."""

    def _launch(self, name: str) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError(f"{name} did not start")
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        try:
            resource = self._open()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(resource)
        finally:
            resource.close()

    def _open(self) -> Any:
        raise NotImplementedError

    def _loop(self, resource: Any) -> None:
        raise NotImplementedError

    def _join(self) -> None:
        self._stop.set()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(5.0)


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
        self._socket = _bind(context or zmq.Context.instance(), zmq.PUB, address, secure)
        self.sent = 0

    def publish(self, command: OperatorCommand) -> OperatorCommand:
        stamped = replace(command, seq=next(self._seq), sender=self.sender, sent=time.monotonic())
        try:
            send_frames(self._socket, encode_command(stamped), zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            pass  # no subscriber keeps up: latest only, the next command supersedes this one
        return stamped

    def close(self) -> None:
        self._socket.close(linger=0)


class CommandStreamer(_SocketThread):
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


@dataclass(frozen=True)
class Received:
    """A command as the subscriber got it."""

    command: OperatorCommand
    received: float
    """Monotonic seconds on the subscriber's clock when it arrived."""


class CommandSubscriber(_SocketThread):
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
        socket = self._context.socket(zmq.SUB)
        try:
            socket.linger = 0
            TELEOP_LIMITS.apply(socket)
            if self._secure is not None:
                self._secure(socket)
            socket.setsockopt(zmq.SUBSCRIBE, b"")
            socket.connect(self.address)
        except BaseException:
            socket.close(linger=0)
            raise
        return socket

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


class ProposalPublisher:
    """Binds the proposal stream (the actor's side). Not thread-safe."""

    def __init__(
        self, address: str = DEFAULT_PROPOSALS, *, secure: SocketSetup | None = None, context: zmq.Context | None = None
    ) -> None:
        self.address = address
        self._socket = _bind(context or zmq.Context.instance(), zmq.PUB, address, secure)
        self._seq = itertools.count(1)

    def publish(self, proposal: Proposal) -> None:
        proposal.seq = next(self._seq)
        with contextlib.suppress(zmq.Again):  # an operator not keeping up: the actor republishes
            send_frames(self._socket, encode_proposal(proposal), zmq.NOBLOCK)

    def close(self) -> None:
        self._socket.close(linger=0)


class ProposalSubscriber:
    """Receives proposals in order (a simulated operator answers each). Not thread-safe."""

    def __init__(
        self, address: str = DEFAULT_PROPOSALS, *, secure: SocketSetup | None = None, context: zmq.Context | None = None
    ) -> None:
        self.address = address
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        try:
            self._socket.linger = 0
            TELEOP_LIMITS.apply(self._socket)
            if secure is not None:
                secure(self._socket)
            self._socket.setsockopt(zmq.SUBSCRIBE, b"")
            self._socket.connect(address)
        except BaseException:
            self._socket.close(linger=0)
            raise
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
