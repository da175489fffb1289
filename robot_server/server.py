"""The robot server process: a ROUTER socket for requests, a PUB socket for the stream,
and one loop that also keeps real-time physics, cameras and the watchdog going."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import Any

import zmq

from robot_server.backends.base import Backend
from robot_server.config import ServerConfig
from robot_server.limits import Limits
from robot_server.service import RobotService
from wire import encode
from wire.security import CurveServer, check_bind
from wire.transport import recv_frames, send_frames

log = logging.getLogger(__name__)

IDLE_WAIT_MS = 50
"""Lockstep mode: longest wait for a request before checking for shutdown, milliseconds."""
MAX_ENVELOPE = 8
"""Routing frames looked through for the empty delimiter."""
TICK = 0.002
"""Longest wait for a request in real-time mode, seconds."""


def make_backend(config: ServerConfig) -> Backend:
    if config.backend == "sim":
        from robot_server.backends.mujoco_sim.backend import SimBackend

        return SimBackend(config.sim)
    raise ValueError(f"unknown backend {config.backend!r}")


class RobotServer:
    """Serves one backend. `serve()` runs until `shutdown()` (or SIGINT/SIGTERM)."""

    def __init__(self, config: ServerConfig, backend: Backend | None = None) -> None:
        check_bind(config.host, config.curve_secret_key, config.curve_clients)
        self.config = config
        self.limits = Limits.load(config.limits)
        self._backend = backend
        self._stop = threading.Event()
        self.ready = threading.Event()
        """Set once the sockets are bound and the backend is up."""
        self.service: RobotService | None = None
        self.subscribers = 0
        """Watchers subscribed to the published stream; nothing is rendered for it without one."""

    def shutdown(self) -> None:
        self._stop.set()

    def serve(self) -> None:
        context = zmq.Context()
        curve: CurveServer | None = None
        backend = self._backend
        router = publisher = None
        try:
            if self.config.curve_secret_key is not None and self.config.curve_clients is not None:
                curve = CurveServer(context, self.config.curve_secret_key, self.config.curve_clients)
            router = context.socket(zmq.ROUTER)
            publisher = context.socket(zmq.XPUB)  # XPUB: it hears subscriptions, so it can idle without watchers
            for socket in (router, publisher):
                socket.linger = 0
                if curve is not None:
                    curve.secure(socket)
            router.setsockopt(zmq.ROUTER_MANDATORY, 0)
            publisher.sndhwm = 2
            publisher.setsockopt(zmq.XPUB_VERBOSER, 1)  # every subscribe and unsubscribe, for counting
            router.bind(f"tcp://{self.config.host}:{self.config.port}")
            publisher.bind(f"tcp://{self.config.host}:{self.config.pub_port}")
            if backend is None:
                backend = make_backend(self.config)
            self.service = RobotService(self.config, backend, self.limits)
            log.info(
                "robot server up: %s backend, requests on %s:%d, stream on %s:%d, %s mode",
                backend.arm.name,
                self.config.host,
                self.config.port,
                self.config.host,
                self.config.pub_port,
                self.service.mode,
            )
            self.ready.set()
            self._loop(router, publisher, self.service)
        finally:
            for socket in (router, publisher):
                if socket is not None:
                    socket.close(linger=0)
            if backend is not None:
                try:
                    if self.service is not None:
                        backend.arm.hold()
                finally:
                    backend.close()
            if curve is not None:
                curve.stop()
            context.term()
            log.info("robot server stopped")

    def _loop(self, router: zmq.Socket, publisher: zmq.Socket, service: RobotService) -> None:
        # A blocking receive with a timeout wakes faster on a request than a poller does.
        pub_period = 1.0 / self.config.pub_hz if self.config.pub_hz > 0 else None
        next_publish = time.monotonic()
        published_version: Any = None
        wait_ms = -1
        while not self._stop.is_set():
            realtime = service.mode == "realtime"
            wanted_ms = int(TICK * 1000) if realtime else IDLE_WAIT_MS
            if wanted_ms != wait_ms:
                router.rcvtimeo = wait_ms = wanted_ms
            try:
                frames = recv_frames(router, copy=True)  # requests are small: copying beats zero-copy
            except zmq.Again:
                pass
            else:
                self._serve_one(router, frames, service)
            now = time.monotonic()
            service.tick(now)
            if pub_period is not None and now >= next_publish:
                joined = self._count_subscribers(publisher)
                version = service.version()
                if self.subscribers > 0 and (realtime or joined or version != published_version):
                    self._publish(publisher, service)
                    published_version = version
                next_publish = max(next_publish + pub_period, now)

    @staticmethod
    def _serve_one(router: zmq.Socket, frames: list[bytes], service: RobotService) -> None:
        # The envelope is the routing frames up to an empty delimiter ([identity, b""] from a
        # REQ peer, more through proxies); a DEALER peer without a delimiter sends [identity].
        split = 1
        for index in range(1, min(len(frames), MAX_ENVELOPE)):
            if len(frames[index]) == 0:
                split = index + 1
                break
        reply = service.handle(frames[split:])
        try:
            send_frames(router, frames[:split] + reply)
        except zmq.ZMQError as exc:
            log.warning("could not reply to a peer: %s", exc)

    def _count_subscribers(self, publisher: zmq.Socket) -> bool:
        """Reads pending (un)subscriptions; True if someone subscribed since the last call."""
        joined = False
        while publisher.get(zmq.EVENTS) & zmq.POLLIN:
            message = publisher.recv()
            if message[:1] == b"\x01":
                self.subscribers += 1
                joined = True
            elif message[:1] == b"\x00":
                self.subscribers = max(0, self.subscribers - 1)
        return joined

    def _publish(self, publisher: zmq.Socket, service: RobotService) -> None:
        data = service.state_data()
        arrays = service.images_for(data, service.camera_names(self.config.pub_images))
        with contextlib.suppress(zmq.Again):  # no subscriber keeps up: drop, latest only
            send_frames(publisher, encode({"type": "pub", "topic": "observation", "data": data}, arrays), zmq.NOBLOCK)


def run_server(config: ServerConfig) -> None:
    """Runs a server in this thread until SIGINT or SIGTERM."""
    server = RobotServer(config)

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: shutting down", signum)
        server.shutdown()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    server.serve()
