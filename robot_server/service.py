"""Request handling of the robot server, independent of sockets.

`RobotService.handle(frames)` takes the frames of one request and returns the frames of its
one reply. It never raises: malformed, stale, duplicate and non-finite input gets an `error`
reply and leaves the arm's target untouched. The state machine is `robot_server.control`; the
commands themselves are in `robot_server.commands`.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from robot_server.backends.base import Backend
from robot_server.commands import COMMANDS
from robot_server.config import ServerConfig
from robot_server.control import ArmControl
from robot_server.limits import Limits
from wire import ErrorCode, WireError, decode, error_reply, ok_reply
from wire.requests import read_acting, read_data, read_header

log = logging.getLogger(__name__)

MAX_REQUEST_FRAMES = 17
"""Frames of one request: the header and at most 16 arrays (requests carry a few small vectors)."""
MAX_REQUEST_BYTES = 64 * 1024
"""Bytes of one request, all frames together."""


class RobotService(ArmControl):
    """The state machine with its commands and watchdog, behind one `handle` per request."""

    def __init__(self, config: ServerConfig, backend: Backend, limits: Limits) -> None:
        super().__init__(config, backend, limits)
        self.commands = dict(COMMANDS)

    # ------------------------------------------------------------------ entry

    def handle(self, frames: list[Any]) -> list[Any]:
        """One request in, one reply out; never raises."""
        now = time.monotonic()
        try:
            if len(frames) > MAX_REQUEST_FRAMES:
                raise WireError(
                    ErrorCode.MALFORMED, f"a request has at most {MAX_REQUEST_FRAMES} frames, got {len(frames)}"
                )
            message = decode(
                frames,
                max_arrays=MAX_REQUEST_FRAMES - 1,
                max_array_bytes=MAX_REQUEST_BYTES,
                max_total_bytes=MAX_REQUEST_BYTES,
            )
            if message.header.get("type") == "req" and message.header.get("cmd") == "stop":
                self.halt("stop requested")  # from anyone, whatever else is wrong with it
                return ok_reply({"stopped": True})
            header = read_header(message)
            command = self.commands.get(header.cmd) if isinstance(header.cmd, str) else None
            if command is None:
                raise WireError(
                    ErrorCode.UNKNOWN_COMMAND, f"unknown command {header.cmd!r}; known: {sorted(self.commands)}"
                )
            acting = read_acting(header) if command.acts else None
            if acting is not None:
                self.ledger.check(acting.client, acting.seq, acting.deadline, now)
            reply_data, reply_arrays = command.handler(self, message, read_data(header, command.schema))
            done = time.monotonic()  # a reset on hardware takes seconds: the clocks start when it ends
            if acting is not None:
                self.ledger.accept(acting.client, acting.seq, now)
                self.last_command_time = done
                self.link_established = True
            if header.client is not None and header.client == self.ledger.controller:
                self.last_request_time = done
            return ok_reply(reply_data, reply_arrays)
        except WireError as exc:
            self.rejected[str(exc.code)] += 1
            return error_reply(exc.code, exc.message)
        except Exception as exc:  # a bug must not take the server down
            log.error("internal error handling a request:\n%s", traceback.format_exc())
            self.rejected[str(ErrorCode.INTERNAL)] += 1
            return error_reply(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ periodic work

    def tick(self, now: float) -> None:
        """Real-time mode: advance the arm with the clock and run the watchdog."""
        if self.mode != "realtime":
            return
        self.backend.arm.sync(now)
        self.backend.cameras.sync(now)
        if self.link_established and not self.stopped and now - self.last_request_time > self.limits.link_timeout:
            self.halt(f"link lost: no request for {now - self.last_request_time:.1f} s")
        elif not self.holding and now - self.last_command_time > self.limits.cmd_timeout:
            self.hold_pose()
            self.watchdog_holds += 1
