"""The one launcher of child processes (`rlif sim`, `rlif demo`, the tests' pairs, the benchmarks).

Each child runs in a process group of its own (a Ctrl-C in the launcher's terminal reaches the
launcher alone, which then stops the children in order), its output appended to a log file,
and stops with escalating signals: SIGINT (a clean shutdown: checkpoints, sockets), then
SIGTERM, then SIGKILL, each with a timeout, so that nothing outlives its launcher.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO

from wire.lifecycle import Lifecycle, wait_until

__all__ = ["ChildFailed", "ChildProcess", "ProcessGroup", "free_port", "wait_until"]

log = logging.getLogger(__name__)

TERM_WAIT = 2.0
"""Seconds a child gets to exit after SIGTERM before it is killed."""
KILL_WAIT = 3.0
"""Seconds to wait for a killed child to be reaped."""


class ChildFailed(RuntimeError):
    """A child exited, or did not become ready in time, while being started."""


def free_port() -> int:
    """A TCP port free on loopback now (for a child to bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ChildProcess(Lifecycle):
    """One child: `command` run in a new session, output appended to `log_path` (or ours if None).

    `ready` (if given) says when the child serves, e.g. a server that answers; `start()` waits
    for it at most `start_timeout` seconds."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        grace: float = 10.0,
        ready: Callable[[], bool] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.env = env
        self.grace = grace
        """Seconds the child gets to exit after SIGINT before it is terminated."""
        self.start_timeout = start_timeout
        self._probe = ready
        self._ready = False
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, wait: bool = True) -> ChildProcess:
        """Starts the child; with `wait` and a readiness probe, returns once it is ready (raises
        ChildFailed if it exits or stays unready past `start_timeout`; the caller stops it)."""
        output: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
            output = self._log
        self.process = subprocess.Popen(
            self.command,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            env={**os.environ, **(self.env or {})},
        )
        log.info("started %s (pid %d)", self.name, self.process.pid)
        if wait and self._probe is not None:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        if not wait_until(lambda: self.ready or not self.alive(), timeout, interval=0.1):
            raise ChildFailed(f"{self.name} was not ready within {timeout:.0f} s{self._see_log()}")
        if not self.alive():
            raise ChildFailed(f"{self.name} exited with code {self.returncode()}{self._see_log()}")

    @property
    def ready(self) -> bool:
        if not self._ready and self.alive():
            self._ready = self._probe is None or bool(self._probe())
        return self._ready and self.alive()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float) -> int | None:
        """The child's exit code once it exits by itself, or None after `timeout` seconds."""
        if self.process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout)
        return None

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL, each with its timeout; the exit code (None if the
        child never started)."""
        if self.process is None:
            return None
        for signum, timeout in ((signal.SIGINT, self.grace), (signal.SIGTERM, TERM_WAIT), (signal.SIGKILL, KILL_WAIT)):
            if not self.alive():
                break
            self.signal(signum)
            self.wait(timeout)
        # The child's own children, if any outlived it, share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.poll()

    def _see_log(self) -> str:
        return f"; see {self.log_path}" if self.log_path is not None else ""


class ProcessGroup:
    """Children started in order and stopped in reverse order, whatever happens."""

    def __init__(self) -> None:
        self.children: list[ChildProcess] = []

    def start(self, child: ChildProcess) -> ChildProcess:
        """Starts `child` (until ready) as a member: stopped with the group even if its start fails."""
        self.children.append(child)
        return child.start()

    def dead(self) -> list[ChildProcess]:
        return [child for child in self.children if not child.alive()]

    def stop(self) -> dict[str, int | None]:
        """Stops every child, the newest first; the exit code of the newest child of each name."""
        codes: dict[str, int | None] = {}
        for child in reversed(self.children):
            code = child.stop()
            codes.setdefault(child.name, code)
        return codes

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
