"""The robot server process: a ROUTER socket for requests, a PUB socket for the stream,
and one loop that also keeps real-time physics, cameras and the watchdog going."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from robot_server.backends.base import Backend
from robot_server.backends.registry import make_station
from robot_server.config import ServerConfig
from robot_server.limits import Limits
from robot_server.service import RobotService
from wire import encode
from wire.lifecycle import run_until_stopped
from wire.security import Security, check_bind, server_keys
from wire.sockets import open_socket
from wire.transport import recv_frames, send_frames

log = logging.getLogger(__name__)

IDLE_WAIT_MS = 50
"""Lockstep mode: longest wait for a request before checking for shutdown, milliseconds."""
MAX_ENVELOPE = 8
"""Routing frames looked through for the empty delimiter."""
TICK = 0.002
"""Longest wait for a request in real-time mode, seconds."""
MAX_REQUEST_FRAME = 64 * 1024
"""Largest frame a peer may send to the request port; libzmq disconnects a peer that sends more."""
MAX_SUBSCRIPTION_FRAME = 256
"""Largest frame a peer may send to the stream port (only subscriptions are meaningful there)."""
MAX_WATCHER_EVENTS = 64
"""Connection events of the stream port read per publishing period, so that a peer opening and
closing connections in a loop cannot hold up the control loop."""


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
        self.watchers: set[int] = set()
        """Connections to the published stream (by socket descriptor); nothing is rendered without one."""

    def shutdown(self) -> None:
        self._stop.set()

    @property
    def subscribers(self) -> int:
        """Peers connected to the published stream."""
        return len(self.watchers)

    def serve(self) -> None:
        context = zmq.Context()
        # The stream port gets an I/O thread of its own: what peers send there (junk, connection
        # floods) is handled apart from the requests, STOP among them.
        stream_context = zmq.Context()
        security = Security()
        watch: list[zmq.Socket] = []  # the stream port's monitor, attached before it binds
        backend = self._backend
        router: zmq.Socket | None = None
        publisher: zmq.Socket | None = None
        monitor: zmq.Socket | None = None
        try:
            security = Security(server_keys(self.config.curve_secret_key, self.config.curve_clients))
            router = open_socket(
                context,
                zmq.ROUTER,
                f"tcp://{self.config.host}:{self.config.port}",
                bind=True,
                security=security.setup,
                limits=MAX_REQUEST_FRAME,
                options={zmq.ROUTER_MANDATORY: 0},
            )
            # PUB, not XPUB: libzmq itself drops whatever peers send it other than subscriptions,
            # and no peer can fake another's (un)subscription; watchers are counted by connection.
            publisher = open_socket(
                stream_context,
                zmq.PUB,
                f"tcp://{self.config.host}:{self.config.pub_port}",
                bind=True,
                security=security.setup,
                limits=MAX_SUBSCRIPTION_FRAME,
                sndhwm=2,
                rcvhwm=16,
                prepare=lambda socket: watch.append(
                    socket.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
                ),
            )
            monitor = watch[0]
            if backend is None:
                backend = make_station(self.config.arm, self.config.cameras)
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
            self._loop(router, publisher, monitor, self.service)
        finally:
            if publisher is not None and monitor is not None:
                publisher.disable_monitor()
            for opened in (router, publisher, *watch):
                if opened is not None:
                    opened.close(linger=0)
            if backend is not None:
                try:
                    if self.service is not None:
                        backend.arm.hold()
                finally:
                    backend.close()
            security.close()
            context.term()
            stream_context.term()
            log.info("robot server stopped")

    def _loop(self, router: zmq.Socket, publisher: zmq.Socket, monitor: zmq.Socket, service: RobotService) -> None:
        # A blocking receive with a timeout wakes faster on a request than a poller does.
        pub_period = 1.0 / self.config.pub_hz if self.config.pub_hz > 0 else None
        next_publish = time.monotonic()
        published_version: Any = None
        published: list[Any] | None = None
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
                self._count_watchers(monitor)
                if self.watchers:
                    # Lockstep: render only when time moved; otherwise send the last frames again,
                    # for watchers that joined since.
                    version = service.version()
                    if published is None or realtime or version != published_version:
                        published = self._observation_frames(service)
                        published_version = version
                    with contextlib.suppress(zmq.Again):  # no watcher keeps up: drop, latest only
                        send_frames(publisher, published, zmq.NOBLOCK)
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

    def _count_watchers(self, monitor: zmq.Socket) -> None:
        """Reads the stream port's connection events (libzmq's own, never a peer's bytes)."""
        for _ in range(MAX_WATCHER_EVENTS):
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] == zmq.EVENT_ACCEPTED:
                self.watchers.add(event["value"])
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self.watchers.discard(event["value"])

    def _observation_frames(self, service: RobotService) -> list[Any]:
        data = service.state_data()
        arrays = service.images_for(data, service.camera_names(self.config.pub_images))
        return encode({"type": "pub", "topic": "observation", "data": data}, arrays)


def run_server(config: ServerConfig) -> None:
    """Runs a server in this thread until SIGINT or SIGTERM."""
    server = RobotServer(config)
    run_until_stopped(server.serve, server.shutdown)
