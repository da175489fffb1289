"""One lifecycle for a process of ours, and the one place where signals are wired.

Seen from outside (a launcher and its children, a test and the server it runs), a running part
is a `Lifecycle`: `start()` returns once it is ready, `stop()` once it has stopped, each wait
bounded by a timeout; as a context manager it starts on entry and stops on exit whatever
happened, a failed start included (as Diffusion Policy's real-world processes do).

Seen from inside, a process of ours runs its loop under `run_until_stopped`: SIGINT (Ctrl-C,
or a launcher's first request) and SIGTERM only ask the loop to end, so that the process leaves
through its own `finally` (checkpoint written, arm held, sockets closed).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
L = TypeVar("L", bound="Lifecycle")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that ask a process of ours to stop cleanly."""


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Polls `predicate` until it holds (True) or `timeout` seconds pass (its last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Lifecycle(ABC):
    """Start (until ready), stop (until stopped), both bounded; a context manager."""

    @abstractmethod
    def start(self: L) -> L:
        """Starts the part and returns once it is ready; raises if it fails or times out."""

    @abstractmethod
    def stop(self) -> Any:
        """Stops the part (idempotent) and returns once it has stopped or was made to."""

    @property
    @abstractmethod
    def ready(self) -> bool:
        """Whether the part is up and serving."""

    def __enter__(self: L) -> L:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[], object], signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """While inside, `signals` call `request_stop()` (again on a second Ctrl-C: it must be
    idempotent); the previous handlers come back on exit. Outside the main thread, where Python
    delivers no signals, nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, lambda *_: request_stop()) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_until_stopped(
    run: Callable[[], T], request_stop: Callable[[], object], close: Callable[[], object] | None = None
) -> T:
    """A process's main loop: `run()` until it returns, SIGINT/SIGTERM calling `request_stop()`
    meanwhile; `close()` (if given) whatever happens."""
    with stop_on_signals(request_stop):
        try:
            return run()
        finally:
            if close is not None:
                close()
