"""Child processes of a launcher (`rlif sim`): started in their own process groups, logged
to files, stopped in reverse order with escalating signals so that nothing is orphaned."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


class ChildProcess:
    """One child: `command` run in a new session, output appended to `log_path`."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        grace: float = 10.0,
    ) -> None:
        self.name = name
        self.grace = grace
        """Seconds the child gets to exit after SIGINT before it is terminated."""
        self.command = command
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ChildProcess:
        output: IO[bytes] | int | None = None
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
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self) -> int | None:
        """SIGINT (a clean shutdown: checkpoints, sockets), then SIGTERM, then SIGKILL."""
        if self.process is None:
            return None
        for signum, wait in ((signal.SIGINT, self.grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, 3.0)):
            if not self.alive():
                break
            self.signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)
        # The child's own children, if any outlived it, share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.poll()


class ProcessGroup:
    """Children started in order and stopped in reverse order, whatever happens."""

    def __init__(self) -> None:
        self.children: list[ChildProcess] = []

    def start(self, child: ChildProcess) -> ChildProcess:
        self.children.append(child.start())
        return child

    def dead(self) -> list[ChildProcess]:
        return [child for child in self.children if not child.alive()]

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for child in reversed(self.children):
            codes[child.name] = child.stop()
        return codes

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
