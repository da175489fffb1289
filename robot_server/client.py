"""Client library of the robot server: requests with timeouts, reconnects and clock sync."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from wire import ErrorCode, Message, WireError, decode, request
from wire.security import CurveKeys, Security
from wire.sockets import open_socket
from wire.transport import recv_frames, send_frames


class RobotError(Exception):
    """The server answered with an error; `code` is an `ErrorCode` value."""

    def __init__(self, code: str, message: str, command: str) -> None:
        super().__init__(f"{command}: {code}: {message}")
        self.code = code
        self.message = message
        self.command = command


class RobotUnavailable(ConnectionError):
    """No reply from the server after every retry."""


@dataclass
class Reply:
    data: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def images(self) -> dict[str, np.ndarray]:
        return self.arrays


class RobotClient:
    """Talks to one robot server over REQ with the lazy-pirate pattern.

    Every request waits at most `timeout` seconds; without a reply the socket is closed
    and reopened and the request sent again, `retries` times, then `RobotUnavailable`
    is raised. Every request carries this client's id (the server's link watchdog counts
    only the requests of the client that commands the arm); acting commands also carry a
    sequence number and a deadline on the server's clock, and a resent command keeps its
    sequence number, so the server applies it at most once.
    """

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:5555",
        *,
        timeout: float = 2.0,
        retries: int = 3,
        command_ttl: float = 1.0,
        curve: CurveKeys | None = None,
        client_id: str | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self.command_ttl = command_ttl
        self.curve = curve
        self._security = Security(curve)
        self.client_id = client_id or uuid.uuid4().hex[:16]
        self._context = context or zmq.Context.instance()
        self._seq = itertools.count(int(time.time() * 1000))
        self._socket: zmq.Socket | None = None
        self._timeout_ms = -1
        self.clock_offset: float | None = None
        """Server monotonic clock minus ours, seconds; set by `sync_clock`."""
        self.reconnects = 0

    # ------------------------------------------------------------------ plumbing

    def _open(self) -> zmq.Socket:
        if self._socket is None:
            self._timeout_ms = -1
            self._socket = open_socket(self._context, zmq.REQ, self.address, bind=False, security=self._security.setup)
        return self._socket

    def _reopen(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        self.reconnects += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def __enter__(self) -> RobotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exchange(self, frames: list[Any], timeout: float) -> Message | None:
        socket = self._open()
        timeout_ms = int(timeout * 1000)
        if timeout_ms != self._timeout_ms:
            socket.rcvtimeo = self._timeout_ms = timeout_ms
        send_frames(socket, frames)
        try:
            reply = recv_frames(socket)
        except zmq.Again:
            self._reopen()
            return None
        try:
            return decode(reply)
        except WireError as exc:
            raise RobotError(str(exc.code), exc.message, "reply") from None

    def request(
        self,
        command: str,
        data: Mapping[str, Any] | None = None,
        arrays: Mapping[str, np.ndarray] | None = None,
        *,
        acts: bool = False,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request and return the `ok` reply; raise `RobotError` or `RobotUnavailable`."""
        timeout = self.timeout if timeout is None else timeout
        seq = next(self._seq) if acts else None
        for attempt in range(self.retries + 1):
            deadline = None
            if acts:
                # A ping is answered at once: wait the client's own timeout, not a slow command's.
                if self.clock_offset is None and not self._try_sync_clock(min(timeout, self.timeout)):
                    continue
                assert self.clock_offset is not None
                deadline = time.monotonic() + self.clock_offset + max(self.command_ttl, timeout)
            frames = request(command, data=data, arrays=arrays, seq=seq, deadline=deadline, client=self.client_id)
            message = self._exchange(frames, timeout)
            if message is None:
                self.clock_offset = None  # the server may have restarted, with another clock
                continue
            if message.header.get("type") == "ok":
                return Reply(message.header.get("data") or {}, message.arrays)
            code = str(message.header.get("code", ErrorCode.MALFORMED))
            text = str(message.header.get("msg", "error reply without a message"))
            if attempt > 0 and code == ErrorCode.DUPLICATE:
                # The first send was applied and only its reply was lost.
                wanted = {"images": (data or {}).get("images", True)}
                if command in ("step", "reset"):
                    return self.request("observation", wanted, timeout=timeout)
                return self.request("state", timeout=timeout)
            raise RobotError(code, text, command)
        raise RobotUnavailable(
            f"no reply from the robot server at {self.address} to {command!r} after "
            f"{self.retries + 1} tries of {timeout:.1f} s; is `rlif server` running and reachable?"
        )

    def _ping(self, timeout: float) -> tuple[float, float] | None:
        """(round trip, server clock minus ours) of one ping, or None without a reply."""
        sent = time.monotonic()
        reply = self._exchange(request("ping", client=self.client_id), timeout)
        if reply is None:
            return None
        received = time.monotonic()
        server_now = (reply.header.get("data") or {}).get("now")
        if type(server_now) is not float:
            raise RobotError(ErrorCode.MALFORMED, "ping reply without 'now'", "ping")
        return received - sent, server_now - (sent + received) / 2

    def _try_sync_clock(self, timeout: float, samples: int = 5) -> bool:
        pings = []
        for _ in range(samples):
            ping = self._ping(timeout)
            if ping is None:
                return False
            pings.append(ping)
        self.clock_offset = min(pings)[1]
        return True

    def sync_clock(self, samples: int = 5) -> float:
        """Estimate the server's clock offset from the ping with the shortest round trip."""
        for _attempt in range(self.retries + 1):
            if self._try_sync_clock(self.timeout, samples):
                assert self.clock_offset is not None
                return self.clock_offset
        raise RobotUnavailable(f"no reply from the robot server at {self.address} to 'ping'")

    # ------------------------------------------------------------------ queries

    def info(self) -> dict[str, Any]:
        return self.request("info").data

    def state(self) -> dict[str, Any]:
        return self.request("state").data

    def observation(self, images: bool | Sequence[str] = True) -> Reply:
        return self.request("observation", {"images": _images_arg(images)})

    # ------------------------------------------------------------------ commands

    def move(
        self,
        pos: Sequence[float] | np.ndarray,
        *,
        quat: Sequence[float] | np.ndarray | None = None,
        rotvec: Sequence[float] | np.ndarray | None = None,
        relative: bool = False,
        frame: str = "base",
    ) -> Reply:
        """Absolute TCP target (pos, optional quat) in the base frame, or a relative move
        (pos delta, optional rotvec or quat) in the base or end-effector frame."""
        arrays = {"pos": np.asarray(pos, dtype=np.float64)}
        if quat is not None:
            arrays["quat"] = np.asarray(quat, dtype=np.float64)
        if rotvec is not None:
            arrays["rotvec"] = np.asarray(rotvec, dtype=np.float64)
        return self.request("move", {"relative": relative, "frame": frame}, arrays, acts=True)

    def gripper(self, width: float, force: float | None = None) -> Reply:
        data: dict[str, Any] = {"width": float(width)}
        if force is not None:
            data["force"] = float(force)
        return self.request("gripper", data, acts=True)

    def act(self, action: Sequence[float] | np.ndarray) -> Reply:
        """Apply a normalised 7-D action (translation, rotation, gripper) without waiting."""
        return self.request("act", None, {"action": np.asarray(action, dtype=np.float64)}, acts=True)

    def step(self, action: Sequence[float] | np.ndarray, images: bool | Sequence[str] = True) -> Reply:
        """Lockstep: apply a normalised action, advance one control period, observe."""
        return self.request(
            "step", {"images": _images_arg(images)}, {"action": np.asarray(action, dtype=np.float64)}, acts=True
        )

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.request("advance", {"seconds": float(seconds)}, acts=True).data

    def reset(
        self,
        *,
        seed: int | None = None,
        randomize_arm: bool = False,
        randomize_scene: bool = True,
        joints: Sequence[float] | np.ndarray | None = None,
        images: bool | Sequence[str] = True,
        timeout: float | None = None,
    ) -> Reply:
        data = {
            "seed": seed,
            "randomize_arm": randomize_arm,
            "randomize_scene": randomize_scene,
            "images": _images_arg(images),
        }
        arrays = {"joints": np.asarray(joints, dtype=np.float64)} if joints is not None else None
        return self.request("reset", data, arrays, acts=True, timeout=timeout)

    def stop(self) -> Reply:
        return self.request("stop", acts=True)

    def recover(self) -> Reply:
        return self.request("recover", acts=True)

    def set_mode(self, mode: str) -> Reply:
        return self.request("set_mode", {"mode": mode}, acts=True)


def _images_arg(images: bool | Sequence[str]) -> bool | list[str]:
    return images if isinstance(images, bool) else list(images)


class StreamSubscriber:
    """Watches the server's published stream; keeps only the newest message."""

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:5556",
        *,
        curve: CurveKeys | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self._socket = open_socket(
            context, zmq.SUB, address, bind=False, security=Security(curve).setup, rcvhwm=4, subscribe=b""
        )

    def latest(self, timeout: float = 1.0) -> Reply | None:
        """The newest message published, waiting up to `timeout` for one; None if none came."""
        if not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            return None
        newest = None
        while True:
            try:
                newest = self._socket.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
        assert newest is not None
        message = decode(newest)
        return Reply(message.header.get("data") or {}, message.arrays)

    def close(self) -> None:
        self._socket.close(linger=0)
